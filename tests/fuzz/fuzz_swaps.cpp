// seeds: proc/swaps
#include "collectors/swap.h"
#include "tests/fuzz/fuzz.h"

PAGESCOPE_FUZZ_TEXT(pagescope::ParseSwaps(text))
