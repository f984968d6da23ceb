// seeds: sys/devices/system/node/node*/meminfo
#include "collectors/sys_devices_system_node.h"
#include "tests/fuzz/fuzz.h"

PAGESCOPE_FUZZ_TEXT(pagescope::ParseNodeMeminfo(text, 0))
