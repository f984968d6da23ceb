// seeds: sys/bus/pci/devices/*/numa_node
#include "collectors/numa_locality.h"
#include "tests/fuzz/fuzz.h"

PAGESCOPE_FUZZ_TEXT(pagescope::ParsePciNumaNode(text))
