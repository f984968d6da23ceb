// seeds: sys/devices/system/node/node*/numastat
#include "collectors/sys_devices_system_node.h"
#include "tests/fuzz/fuzz.h"

PAGESCOPE_FUZZ_TEXT(pagescope::ParseNumastat(text))
