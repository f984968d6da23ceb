// seeds: sys/devices/system/node/node*/numastat
#include "collectors/numa.h"
#include "tests/fuzz/fuzz.h"

PAGESCOPE_FUZZ_TEXT(pagescope::ParseNumastat(text))
