// seeds: sys/fs/cgroup/*/memory.max sys/fs/cgroup/memory/*/memory.limit_in_bytes
#include "collectors/cgroup_memory.h"
#include "tests/fuzz/fuzz.h"

PAGESCOPE_FUZZ_TEXT(pagescope::ParseCgroupMemoryLimit(text))
