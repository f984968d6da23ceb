#pragma once
// The hugetlb cgroup controller (Documentation/admin-guide/cgroup-v2.rst, "HugeTLB";
// Documentation/admin-guide/cgroup-v1/hugetlb.rst; mm/hugetlb_cgroup.c): hugepage usage,
// reservations, limits and limit hits per page size for the cgroups below configured parents,
// for cgroup v2 (/sys/fs/cgroup or, on hybrid hosts, /sys/fs/cgroup/unified:
// hugetlb.<size>.current, .max, .events, .rsvd.current, .rsvd.max, .numa_stat) and v1
// (/sys/fs/cgroup/hugetlb: hugetlb.<size>.usage_in_bytes, .limit_in_bytes, .failcnt,
// .rsvd.usage_in_bytes, .rsvd.limit_in_bytes, .rsvd.failcnt, .numa_stat). <size> is the
// kernel's short form: 2MB, 1GB, 64KB.
//
// Reservations (Linux 5.7+): a hugetlb mapping reserves its pages at mmap (shmget) time and
// the reservation is charged then; usage is charged when a page is faulted in. Reserved pages
// not yet faulted in are counted free by the pool yet belong to their mapping: where a
// cgroup's reservations exceed its usage, that is the part `free_hugepages` overstates.
//
// Cost: per cgroup and size, five small files (usage, limit hits, reservations, limit,
// reservation limit; v1 also rsvd.failcnt where a reservation limit is set), whether or not it
// holds anything; a cgroup that holds, reserves and may use nothing of a size gives no series
// for it, or only its limit-hit counter where it has a limit of 0 (kubelet's for the sizes a
// pod did not request), so that the first hit shows as an increase. On v2 the walk does not go
// below a cgroup that holds, reserves and hit the limit of nothing (the figures are
// hierarchical; not in Kubernetes trees, whose pods have limits): where no service holds
// hugepages only system.slice itself is read; nor below a pod (it holds its containers'
// figures). The walk lists a cgroup's children only when it goes below it.

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
