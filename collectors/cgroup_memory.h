#pragma once
// The memory cgroup controller (Documentation/admin-guide/cgroup-v2.rst, "Memory";
// Documentation/admin-guide/cgroup-v1/memory.rst; mm/memcontrol.c) for the cgroups below
// configured parents: usage, limits, limit and OOM events, pressure stall time (PSI, v2
// memory.pressure; on hybrid hosts the same cgroup's file in the unified hierarchy) and, on
// request, the paging lines of memory.stat.
//
// v2: memory.current, memory.{max,high,low,min}, memory.swap.current, memory.events,
// memory.pressure, memory.stat. v1 (/sys/fs/cgroup/memory): memory.usage_in_bytes,
// memory.limit_in_bytes, memory.failcnt (as the "max" event), memory.oom_control (oom_kill),
// memory.memsw.usage_in_bytes (minus usage: swap), memory.stat (total_* lines).
//
// OOM kills: the kernel counts a kill in the cgroup of the task killed, whichever OOM killer
// (a cgroup's limit, an ancestor's, the host's) chose it; v2 also counts it in every ancestor,
// v1 does not, so on v1 a pod's, guest's or unit's figure is summed over the cgroups below it.
// Every cgroup that is a pod, guest or unit (CgroupIdentity::names_workload) has its oom_kill
// series by default, with or without a limit; the slices above them have none.
//
// Series are labelled with the cgroup path and the identity the path tells (pod, qos, container,
// vm, unit: kernel/sys_fs_cgroup.h), the same labels as cgroup_hugetlb's.

#include <cstdint>
#include <optional>
#include <string_view>

#include "framework/collector.h"

namespace pagescope {

// A v2 limit file (memory.max, memory.high, ...): a number of bytes, or "max" (no limit) as
// nullopt. v1's "no limit" is a number near 2^63 and also gives nullopt. Throws ParseError.
std::optional<std::uint64_t> ParseCgroupMemoryLimit(std::string_view text);

CollectorSpec CgroupMemoryCollectorSpec();

}  // namespace pagescope
