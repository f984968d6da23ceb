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

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <utility>

#include "framework/collector.h"
#include "kernel/proc_pid.h"
#include "proctable/page_sample.h"
#include "proctable/proc_key.h"

namespace pagescope {

struct PlacementEstimate {
  std::map<std::pair<int, std::uint64_t>, std::uint64_t> hugetlb;  // (node, page size) -> bytes
  std::map<int, std::uint64_t> memory;                             // node -> bytes, all
  std::uint64_t asked = 0;  // addresses asked of the kernel: the sample size
};

// Pure: the estimate of one sample for a process with these stat/status figures.
PlacementEstimate EstimatePlacement(const PageSample& sample, const ProcessEntry& p,
                                    std::uint64_t base_page_size);

// The estimates of the processes a collector samples, kept between scrapes: a process is
// sampled again (SamplePages with the default options) only when its last sample is older than
// `interval`; meanwhile that sample is scaled to its current status figures (the node shares
// change slowly; the totals follow status at every scrape), so its lock holds are taken at most
// once per interval. Accounted in the Context as walks of numa_maps replaced: "sampled" (with
// the sample's time and longest move_pages call) or "cached". Thread-safe.
class SampleCache {
 public:
  static constexpr std::chrono::seconds kInterval{60};
  explicit SampleCache(std::chrono::steady_clock::duration interval = kInterval)
      : interval_(interval) {}
  // nullopt when the process is gone or cannot be sampled (denied: warned about and counted by
  // the sampler through the Context).
  std::optional<PlacementEstimate> Estimate(const Context& ctx, const ProcessEntry& p);

 private:
  struct Kept {
    PageSample sample;
    std::chrono::steady_clock::time_point taken, used;
  };
  std::chrono::steady_clock::duration interval_;
  std::mutex mu_;
  std::map<ProcKey, Kept> kept_;
};

}  // namespace pagescope
