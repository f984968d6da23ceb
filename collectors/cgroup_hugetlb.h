#pragma once
// The hugetlb cgroup controller (Documentation/admin-guide/cgroup-v2.rst, "HugeTLB";
// Documentation/admin-guide/cgroup-v1/hugetlb.rst; mm/hugetlb_cgroup.c): hugepage usage, limit
// and limit hits per page size for the cgroups below configured parents, for cgroup v2
// (/sys/fs/cgroup or, on hybrid hosts, /sys/fs/cgroup/unified: hugetlb.<size>.current, .max,
// .events, .numa_stat) and v1 (/sys/fs/cgroup/hugetlb: hugetlb.<size>.usage_in_bytes,
// .limit_in_bytes, .failcnt, .numa_stat). <size> is the kernel's short form: 2MB, 1GB, 64KB.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "framework/collector.h"
#include "kernel/sys_fs_cgroup_numa_stat.h"  // ParseHugetlbNumaStat

namespace pagescope {

// The size part of the controller's file names (mem_fmt in mm/hugetlb_cgroup.c):
// 2097152 -> "2MB", 1073741824 -> "1GB", 65536 -> "64KB".
std::string CgroupHugetlbSizeName(std::uint64_t bytes);
// And back: "2MB" -> 2097152; nullopt when not of that form.
std::optional<std::uint64_t> ParseCgroupHugetlbSizeName(std::string_view name);

// hugetlb.<size>.events (v2): "max N". Throws ParseError when the max line is missing or bad.
std::uint64_t ParseHugetlbEventsMax(std::string_view text);

// A limit at or above this is the "no limit" value: PAGE_COUNTER_MAX pages (possibly rounded down
// to the hugepage size) in bytes, just below 2^63. v1 always shows it as a number; v2 shows
// "max" or, for limits the kernel did not round (seen on 6.18), the number as well.
inline constexpr std::uint64_t kCgroupHugetlbUnlimited = 1ull << 62;

CollectorSpec CgroupHugetlbCollectorSpec();

}  // namespace pagescope
