#pragma once
// HugeTLB pools of every page size: /sys/kernel/mm/hugepages/hugepages-<N>kB/
// (Documentation/admin-guide/mm/hugetlbpage.rst). Per-node pools live below
// /sys/devices/system/node/node<N>/hugepages/ with the same layout and fewer files.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <vector>

#include "framework/collector.h"

namespace pagescope {

struct HugepagePool {
  std::uint64_t page_size_bytes = 0;
  std::optional<std::uint64_t> nr;          // nr_hugepages
  std::optional<std::uint64_t> free;        // free_hugepages
  std::optional<std::uint64_t> reserved;    // resv_hugepages (global pools only)
  std::optional<std::uint64_t> surplus;     // surplus_hugepages
  std::optional<std::uint64_t> overcommit;  // nr_overcommit_hugepages (global pools only)
};

// Reads every hugepages-<N>kB directory below `dir`, sorted by page size. A missing `dir`
// gives an empty list; a missing file leaves its field empty; a file with garbage leaves its
// field empty and records the error on `out`.
std::vector<HugepagePool> ReadHugepagePools(const Context& ctx, const std::filesystem::path& dir,
                                            MetricSink& out);

CollectorSpec HugepagesCollectorSpec();

}  // namespace pagescope
