// seeds: proc/*/maps
#include "kernel/proc_pid_maps.h"
#include "tests/fuzz/fuzz.h"

PAGESCOPE_FUZZ_TEXT(pagescope::ParseProcPidMaps(text))
