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
#include "proctable/walk_cost.h"

namespace pagescope {

// Guards smaps_rollup reads: a process is read only when the walk rule allows it
// (proctable/walk_cost.h), at most once per interval (the cached value is reused meanwhile), and
// a scrape stops reading once its time budget is spent or its deadline has passed. Every decision
// is accounted as a walk of smaps_rollup in the Context: done, cached, skipped (the rule),
// deferred (the scrape's budget or deadline: the last value is reused).
// Thread-safe.
class SmapsGuard {
 public:
  struct Limits {
    WalkRule rule;
    std::uint64_t max_resident_bytes = 0;  // the deprecated smaps_max_resident; 0: not set
    std::chrono::milliseconds min_interval{0};
    std::chrono::milliseconds budget{0};  // per scrape; 0: no budget
  };
  explicit SmapsGuard(Limits limits) : limits_(limits) {}

  // Per-scrape bookkeeping; create one per Collect call (it declares the walk results).
  struct Scrape {
    explicit Scrape(const Context& ctx);
    std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
  };
  // The rollup for the process, from cache or read now; nullopt when skipped with nothing
  // cached, or when the file is missing/denied.
  std::optional<ProcPidSmapsRollup> Get(const Context& ctx, const PidReader& reader, Scrape& scrape,
                                        const ProcessEntry& p, std::string& buf);
  // Forget processes not in `alive` (sorted).
  void Retain(const std::vector<ProcKey>& alive);

 private:
  struct Cached {
    ProcPidSmapsRollup value;
    std::chrono::steady_clock::time_point at;
  };
  Limits limits_;
  mutable std::mutex mu_;
  std::map<ProcKey, Cached> cache_;
};

// The smaps_rollup options the processes and qemu collectors both declare ("smaps",
// "smaps_max_resident" (deprecated), "smaps_min_interval_seconds", "smaps_budget_ms") and their
// validation; `rule` is the collector's walk rule (walk_max_ms).
std::vector<OptionSpec> SmapsOptionSpecs(const std::string& whose,
                                         const std::string& default_budget_ms);
SmapsGuard::Limits SmapsLimitsFromOptions(const CollectorOptions& options, const WalkRule& rule);

// A size limit of the options that walk_max_ms replaced (smaps_max_resident,
// numa_max_resident): "" when not set (the default); a size is still applied on top of the walk
// rule, with a warning at start-up that the option is deprecated. Throws ConfigError naming the
// option on anything else.
std::uint64_t DeprecatedResidentLimit(const CollectorOptions& options, const std::string& name);
OptionSpec DeprecatedResidentLimitSpec(const std::string& name, const std::string& whose);

}  // namespace pagescope
