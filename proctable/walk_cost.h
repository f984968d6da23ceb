#pragma once
// The one rule for every page-table walk pagescope does (/proc/<pid>/numa_maps and
// /proc/<pid>/smaps_rollup, whoever asks: the qemu collector, the processes collector's smaps,
// numa_locality and hugetlb_numa options): walk a process only when the walk is known to be
// short.
//
// A walk visits every page-table entry of the process's resident memory while it holds the
// process's mmap_lock (read side); a thread of the process that maps or unmaps memory (a write
// lock) waits as long, and every page fault waits behind that writer. Its cost is known before
// the walk from figures the kernel gives without one (what the /proc walk already read):
//   base-page entries  stat rss (= status RssAnon + RssFile + RssShmem, in base pages) plus
//                      status VmSwap (swap entries are visited too)
//   huge-page entries  status HugetlbPages divided by the smallest hugepage size in use on the
//                      host (a 1 GiB page is one entry; when 2 MiB pages are in use too, a 1 GiB
//                      guest is over-counted, never under-counted)
// times a cost per entry measured on a loaded 2-core VM (docs/performance.md, "Page-table
// walks"): transparent hugepages are counted as base pages (the walk visits them as one entry),
// so a THP-backed process is over-estimated, never under-estimated.
//
// The estimate bounds the whole walk and so every lock hold within it: numa_maps is a seq_file
// that takes and drops the mmap_lock around each read(), but produces at least one mapping's line
// under one hold, and a guest's RAM is one mapping; smaps_rollup walks all mappings in one read
// (since 5.10 it drops the lock between mappings only when a writer waits).

#include <chrono>
#include <cstdint>
#include <string>

#include "framework/collector.h"
#include "kernel/proc_pid.h"

namespace pagescope {

enum class WalkFile { kNumaMaps, kSmapsRollup };
// "numa_maps", "smaps_rollup": the `file` label of the walk accounting.
const char* WalkFileName(WalkFile file);

// The entries a walk of one process visits (see above).
struct WalkSize {
  std::uint64_t base_pages = 0;
  std::uint64_t huge_pages = 0;
};
// `huge_page_size`: HugetlbEntrySize (0: the host has no hugetlb, HugetlbPages counts nothing).
WalkSize WalkSizeOf(const ProcessEntry& p, std::uint64_t base_page_size,
                    std::uint64_t huge_page_size);

// Measured kernel time per entry (docs/performance.md, "Page-table walks").
struct WalkCostPerEntry {
  double base_page_ns = 0;
  double huge_page_ns = 0;
};
WalkCostPerEntry WalkCost(WalkFile file);
double EstimateWalkSeconds(WalkFile file, const WalkSize& size);

// The rule: a walk whose estimate is within `max_walk` is done; a longer one is not (the
// caller takes the figure from the process's own cgroup, a sample, or reports it unknown).
inline constexpr const char* kDefaultWalkMaxMs = "25";
class WalkRule {
 public:
  static constexpr std::chrono::microseconds kDefaultMaxWalk{25000};  // kDefaultWalkMaxMs
  explicit WalkRule(std::chrono::microseconds max_walk = kDefaultMaxWalk) : max_walk_(max_walk) {}
  bool Allows(WalkFile file, const WalkSize& size) const {
    return EstimateWalkSeconds(file, size) * 1e6 <= static_cast<double>(max_walk_.count());
  }
  std::chrono::microseconds max_walk() const { return max_walk_; }

 private:
  std::chrono::microseconds max_walk_;
};

// The smallest hugepage size with pages in the pool on this host
// (/sys/kernel/mm/hugepages/hugepages-*/nr_hugepages > 0; else the smallest size the kernel
// has; 0 without hugetlb), read once per scrape (memoized in the Context).
std::uint64_t HugetlbEntrySize(const Context& ctx);

// The option every walking collector declares: walk_max_ms (see docs/processes-and-vms.md).
OptionSpec WalkMaxOptionSpec();
WalkRule WalkRuleFromOptions(const CollectorOptions& options);

// Reads /proc/<pid>/<file> (the walk), timed and accounted as a walk `done` in the Context.
ReadStatus ReadWalk(const Context& ctx, const PidReader& reader, int pid, WalkFile file,
                    std::string& buf);

}  // namespace pagescope
