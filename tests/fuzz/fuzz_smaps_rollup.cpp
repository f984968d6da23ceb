// seeds: proc/*/smaps_rollup
#include "kernel/proc_pid.h"
#include "tests/fuzz/fuzz.h"

PAGESCOPE_FUZZ_TEXT(pagescope::ParseProcPidSmapsRollup(text))
