// seeds: sys/bus/pci/devices/*/numa_node
#include "proctable/numa_locality.h"
#include "tests/fuzz/fuzz.h"

PAGESCOPE_FUZZ_TEXT(pagescope::ParsePciNumaNode(text))
