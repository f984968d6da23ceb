// seeds: sys/fs/cgroup/*/*/memory.numa_stat sys/fs/cgroup/memory/*/*/memory.numa_stat
// sys/fs/cgroup/memory/*/*/*/memory.numa_stat
#include "kernel/sys_fs_cgroup_numa_stat.h"
#include "tests/fuzz/fuzz.h"

PAGESCOPE_FUZZ_TEXT(pagescope::MemoryNumaStatAnonShmemBytes(pagescope::ParseMemoryNumaStat(text),
                                                            4096))
