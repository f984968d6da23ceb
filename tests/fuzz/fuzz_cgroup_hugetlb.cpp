// seeds: sys/fs/cgroup/*/hugetlb.* sys/fs/cgroup/hugetlb/hugetlb.*
#include "collectors/cgroup_hugetlb.h"
#include "tests/fuzz/fuzz.h"

// cgroup hugetlb files: v2 hugetlb.<size>.events and .max, v1 and v2 .numa_stat, and the
// size part of the file names.
static int CgroupHugetlb(std::string_view text) {
  (void)pagescope::ParseCgroupHugetlbSizeName(text);
  try {
    (void)pagescope::ParseHugetlbEventsMax(text);
  } catch (const pagescope::ParseError&) {
  }
  (void)pagescope::ParseHugetlbNumaStat(text);
  return 0;
}
PAGESCOPE_FUZZ_TEXT(CgroupHugetlb(text))
