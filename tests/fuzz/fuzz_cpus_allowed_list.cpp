// seeds: proc/*/task/*/status
#include "proctable/numa_locality.h"
#include "tests/fuzz/fuzz.h"

PAGESCOPE_FUZZ_TEXT(pagescope::ParseCpusAllowedList(text))
