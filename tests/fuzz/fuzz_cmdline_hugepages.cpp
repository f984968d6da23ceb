// seeds: proc/cmdline
#include "collectors/hugepages_config.h"
#include "tests/fuzz/fuzz.h"

// hugepages=, hugepagesz=, default_hugepagesz= on the kernel command line (never throws).
PAGESCOPE_FUZZ_TEXT(pagescope::ParseCmdlineHugepages(text))
