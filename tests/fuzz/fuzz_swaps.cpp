// seeds: proc/swaps
#include "collectors/proc_swaps.h"
#include "tests/fuzz/fuzz.h"

PAGESCOPE_FUZZ_TEXT(pagescope::ParseSwaps(text))
