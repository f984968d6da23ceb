// seeds: sys/devices/system/node/node*/meminfo
#include "collectors/numa.h"
#include "tests/fuzz/fuzz.h"

PAGESCOPE_FUZZ_TEXT(pagescope::ParseNodeMeminfo(text, 0))
