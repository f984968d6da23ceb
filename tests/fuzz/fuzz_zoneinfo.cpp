// seeds: proc/zoneinfo
#include "collectors/zoneinfo.h"
#include "tests/fuzz/fuzz.h"

PAGESCOPE_FUZZ_TEXT(pagescope::ParseZoneinfo(text))
