// seeds:
#include "kernel/proc_stat.h"
#include "tests/fuzz/fuzz.h"

PAGESCOPE_FUZZ_TEXT(pagescope::ParseProcStatBootTime(text))
