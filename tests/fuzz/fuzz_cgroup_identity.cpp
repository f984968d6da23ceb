// seeds:
#include "collectors/cgroup_tree.h"
#include "tests/fuzz/fuzz.h"

PAGESCOPE_FUZZ_TEXT(pagescope::CgroupLabels(std::string(text)))
