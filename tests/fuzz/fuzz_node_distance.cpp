// seeds: sys/devices/system/node/node*/distance
#include "collectors/numa.h"
#include "tests/fuzz/fuzz.h"

PAGESCOPE_FUZZ_TEXT(pagescope::ParseNodeDistance(text))
