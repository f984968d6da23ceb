// seeds: proc/*/smaps_rollup
#include "collectors/proc_pid.h"
#include "tests/fuzz/fuzz.h"

PAGESCOPE_FUZZ_TEXT(pagescope::ParseProcPidSmapsRollup(text))
