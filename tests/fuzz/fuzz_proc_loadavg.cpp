// seeds: proc/loadavg
#include "kernel/proc_loadavg.h"
#include "tests/fuzz/fuzz.h"

PAGESCOPE_FUZZ_TEXT(pagescope::ParseProcLoadavg(text))
