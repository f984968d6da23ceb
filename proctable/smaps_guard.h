#pragma once
// The guard around /proc/<pid>/smaps_rollup (kernel/proc_pid.h says why it needs one), shared by
// the processes and qemu collectors, with the options both declare.

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "framework/collector.h"
#include "kernel/proc_pid.h"
#include "proctable/proc_key.h"

namespace pagescope {

// Guards smaps_rollup reads: processes above a resident-size limit are never read, a process
// is read at most once per interval (the cached value is reused meanwhile), and a scrape stops
// reading once its time budget is spent. Thread-safe.
class SmapsGuard {
 public:
  struct Limits {
    std::uint64_t max_resident_bytes = 0;  // 0: no limit
    std::chrono::milliseconds min_interval{0};
    std::chrono::milliseconds budget{0};  // per scrape; 0: no budget
  };
  explicit SmapsGuard(Limits limits) : limits_(limits) {}

  // Per-scrape bookkeeping; create one per Collect call.
  struct Scrape {
    std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
  };
  // The rollup for the process, from cache or read now; nullopt when skipped with nothing
  // cached, or when the file is missing/denied.
  std::optional<ProcPidSmapsRollup> Get(const Context& ctx, const PidReader& reader, Scrape& scrape,
                                        const ProcessEntry& p, std::uint64_t page_size,
                                        std::string& buf);
  // Forget processes not in `alive` (sorted).
  void Retain(const std::vector<ProcKey>& alive);
  void Emit(MetricSink& out, std::string_view prefix) const;

 private:
  struct Cached {
    ProcPidSmapsRollup value;
    std::chrono::steady_clock::time_point at;
  };
  Limits limits_;
  mutable std::mutex mu_;
  std::map<ProcKey, Cached> cache_;
  std::uint64_t reads_ = 0;
  double read_seconds_ = 0;
  std::uint64_t skipped_resident_ = 0;
  std::uint64_t skipped_budget_ = 0;
  std::uint64_t cached_ = 0;
};

// The smaps_rollup options the processes and qemu collectors both declare ("smaps",
// "smaps_max_resident", "smaps_min_interval_seconds", "smaps_budget_ms") and their validation.
std::vector<OptionSpec> SmapsOptionSpecs(const std::string& whose,
                                         const std::string& default_max_resident,
                                         const std::string& default_budget_ms);
SmapsGuard::Limits SmapsLimitsFromOptions(const CollectorOptions& options);

}  // namespace pagescope
