// seeds: sys/devices/system/node/[ohp]* sys/devices/system/node/node*/cpulist
#include "kernel/parse.h"
#include "tests/fuzz/fuzz.h"

// The kernel list format of CPU and node masks.
PAGESCOPE_FUZZ_TEXT(pagescope::parse::IdList(text))
