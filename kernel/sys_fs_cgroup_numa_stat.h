#pragma once
// Per-node memory of a cgroup, from its numa_stat files (Documentation/admin-guide/cgroup-v2.rst,
// "Memory Interface Files" and "HugeTLB Interface Files"; Documentation/admin-guide/cgroup-v1/
// memory.rst "numa_stat" and cgroup-v1/hugetlb.rst; mm/memcontrol.c, mm/hugetlb_cgroup.c). Only
// nodes with memory (N_MEMORY) are listed. Reading them costs the same whatever the cgroup
// holds: counters, no page-table walk.
//   hugetlb.<size>.numa_stat  v2 (5.17+): "total=<bytes> N0=<bytes> N1=<bytes>", hierarchical.
//                             v1 (5.17+): that line for the cgroup alone, then
//                             "hierarchical_total=<bytes> N0=<bytes> ...".
//   memory.numa_stat          v2 (5.10+ for all keys): "<key> N0=<bytes> N1=<bytes>" per key
//                             (anon, file, shmem, file_mapped, anon_thp, ...), hierarchical.
//                             v1: "<key>=<pages> N0=<pages> ..." for total, file, anon,
//                             unevictable, then the same keys as hierarchical_<key>; counted by
//                             LRU list, in pages: anon includes shmem, mlocked pages are only in
//                             unevictable.
// Parsers are pure and throw ParseError(line, …) on garbage.

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace pagescope {

// hugetlb.<size>.numa_stat, in bytes: the hierarchical figures (v1's hierarchical_total line,
// which matches usage_in_bytes; v2's only line).
struct HugetlbNumaStat {
  std::uint64_t total = 0;
  std::map<int, std::uint64_t> nodes;
};
HugetlbNumaStat ParseHugetlbNumaStat(std::string_view text);

// memory.numa_stat: every key with its per-node values as the file gives them (v2: bytes; v1:
// pages, keys as written, "hierarchical_anon" and all).
struct MemoryNumaStat {
  bool v1 = false;  // "key=total N0=…" lines, values in pages
  std::map<std::string, std::map<int, std::uint64_t>, std::less<>> keys;
};
MemoryNumaStat ParseMemoryNumaStat(std::string_view text);
// The cgroup's anonymous and shared memory per node in bytes, hierarchical: what a guest's RAM
// (memory-backend-ram, memfd, shared memory; not hugetlb, which is in hugetlb.<size>.numa_stat)
// is counted as. v2: anon + shmem; v1: hierarchical_anon + hierarchical_unevictable (anon
// includes shmem there; mlocked guest RAM is unevictable), in pages of `page_size`, else the
// cgroup's own lines on kernels without hierarchical ones. Empty when the keys are missing.
std::map<int, std::uint64_t> MemoryNumaStatAnonShmemBytes(const MemoryNumaStat& stat,
                                                          std::uint64_t page_size);

}  // namespace pagescope
