// seeds:
#include "collectors/hugetlbfs.h"
#include "tests/fuzz/fuzz.h"

// The super options of a hugetlbfs mount: "rw,pagesize=2M,size=8388608".
PAGESCOPE_FUZZ_TEXT(pagescope::ParseHugetlbfsOptions(text))
