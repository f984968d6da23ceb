// seeds: proc/vmstat
#include "collectors/proc_vmstat.h"
#include "tests/fuzz/fuzz.h"

PAGESCOPE_FUZZ_TEXT(pagescope::ParseVmstat(text))
