#pragma once
// Where a process's memory is per NUMA node when its page tables are not walked: the estimate
// from a bounded move_pages(2) sample (proctable/page_sample.h), scaled to the figures the
// kernel gives without a walk (docs/processes-and-vms.md, "Estimated placement"):
//   hugetlb    per class (page size) and node, the sampled mappings' virtual size times the
//              share of the class's addresses present on the node; all hugetlb classes together
//              scaled to status HugetlbPages (so the node figures add up to it), whole pages.
//   memory     per node, base pages the same way scaled to stat rss (= RssAnon + RssFile +
//              RssShmem), plus the hugetlb estimate: what numa_maps' N<node>= counts.
// The error bound of a node's share: 0.98/sqrt(present answers) at 95 %; the sample size is
// reported with every estimate.

#include <cstdint>
#include <map>
#include <optional>
#include <utility>

#include "framework/collector.h"
#include "kernel/proc_pid.h"
#include "proctable/page_sample.h"

namespace pagescope {

struct PlacementEstimate {
  std::map<std::pair<int, std::uint64_t>, std::uint64_t> hugetlb;  // (node, page size) -> bytes
  std::map<int, std::uint64_t> memory;                             // node -> bytes, all
  std::uint64_t asked = 0;  // addresses asked of the kernel: the sample size
};

// Pure: the estimate of one sample for a process with these stat/status figures.
PlacementEstimate EstimatePlacement(const PageSample& sample, const ProcessEntry& p,
                                    std::uint64_t base_page_size);

// Samples the process (SamplePages with the default options) and accounts it in the Context as a
// walk of numa_maps replaced: result "sampled" with its time and longest move_pages call.
// nullopt when the process is gone or cannot be sampled (denied: warned about and counted by
// the sampler through the Context).
std::optional<PlacementEstimate> SamplePlacement(const Context& ctx, const ProcessEntry& p);

}  // namespace pagescope
