// seeds: proc/*/task/*/stat
#include "proctable/numa_locality.h"
#include "tests/fuzz/fuzz.h"

PAGESCOPE_FUZZ_TEXT(pagescope::ParseTaskStat(text))
