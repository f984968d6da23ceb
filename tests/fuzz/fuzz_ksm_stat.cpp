// seeds: proc/*/ksm_stat
#include "kernel/proc_pid.h"
#include "tests/fuzz/fuzz.h"

PAGESCOPE_FUZZ_TEXT(pagescope::ParseProcPidKsmStat(text))
