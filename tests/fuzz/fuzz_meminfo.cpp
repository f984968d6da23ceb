// seeds: proc/meminfo sys/devices/system/node/node*/meminfo
#include "collectors/meminfo.h"
#include "tests/fuzz/fuzz.h"

PAGESCOPE_FUZZ_TEXT(pagescope::ParseMeminfo(text))
