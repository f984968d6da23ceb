// seeds: proc/zoneinfo
#include "collectors/proc_zoneinfo.h"
#include "tests/fuzz/fuzz.h"

PAGESCOPE_FUZZ_TEXT(pagescope::ParseZoneinfo(text))
