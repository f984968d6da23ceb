// seeds: proc/*/cgroup
#include "collectors/proc_pid.h"
#include "tests/fuzz/fuzz.h"

PAGESCOPE_FUZZ_TEXT(pagescope::ProcPidCgroupPath(text))
