// seeds:
#include "kernel/sys_fs_cgroup.h"
#include "tests/fuzz/fuzz.h"

PAGESCOPE_FUZZ_TEXT(pagescope::CgroupLabels(std::string(text)))
