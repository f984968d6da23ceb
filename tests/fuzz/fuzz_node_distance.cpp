// seeds: sys/devices/system/node/node*/distance
#include "collectors/sys_devices_system_node.h"
#include "tests/fuzz/fuzz.h"

PAGESCOPE_FUZZ_TEXT(pagescope::ParseNodeDistance(text))
