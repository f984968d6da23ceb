// seeds: proc/*/cmdline
#include "kernel/proc_pid.h"
#include "tests/fuzz/fuzz.h"

// /proc/PID/cmdline: NUL-separated arguments.
PAGESCOPE_FUZZ_TEXT(pagescope::SplitCmdline(text))
