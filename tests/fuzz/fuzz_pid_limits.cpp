// seeds:
#include "kernel/proc_pid_limits.h"
#include "tests/fuzz/fuzz.h"

PAGESCOPE_FUZZ_TEXT(pagescope::ParseProcPidLimits(text))
