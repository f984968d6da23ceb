// seeds: proc/vmstat
#include "collectors/vmstat.h"
#include "tests/fuzz/fuzz.h"

PAGESCOPE_FUZZ_TEXT(pagescope::ParseVmstat(text))
