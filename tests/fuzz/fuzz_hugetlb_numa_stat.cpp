// seeds: sys/fs/cgroup/*/hugetlb.*.numa_stat sys/fs/cgroup/*/*/hugetlb.*.numa_stat
// sys/fs/cgroup/hugetlb/*/*/hugetlb.*.numa_stat
#include "kernel/sys_fs_cgroup_numa_stat.h"
#include "tests/fuzz/fuzz.h"

PAGESCOPE_FUZZ_TEXT(pagescope::ParseHugetlbNumaStat(text))
