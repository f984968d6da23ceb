#pragma once
// One scrape: runs the enabled collectors (or the collect[]/exclude[] subset), times each, and
// adds pagescope_scrape_collector_{success,duration_seconds,deadline_exceeded_total},
// pagescope_build_info and the standard process_* metrics of pagescope itself
// (exporter/process_metrics.h), and from each collector's ReadAccounting (framework/collector.h)
// pagescope_scrape_denied_reads{collector,file} (this scrape, only when > 0),
// pagescope_scrape_walk_max_seconds{collector,file} (this scrape, only when a walk or sample was
// done), pagescope_scrape_walks_total{collector,file,result} and
// pagescope_scrape_walk_seconds_total{collector,file} (since start, kept over reloads; a run
// left behind by its scrape is not counted).
//
// Collectors run on pool threads (exporter/workers.h), so a scrape answers by its deadline even
// when a collector is stuck in a read. Normally one thread runs them one after another in
// registry order; when no collector has started or finished for a while (kMoveOn, or an eighth
// of the time left) while others wait, another thread takes the next ones, so a slow or stuck
// collector delays no other. A collector listed in another's CollectorSpec::after runs before
// it.
//
// The deadline (the time by which the answer must be ready) has two parts: collectors see, in
// their Context, a deadline a little earlier (a tenth of the time, at most kWrapUp), so that one
// that stops when Context::Expired() says so returns with what it collected before the answer
// is built. At the answer, each collector that
//   - finished in time: its output and success as usual;
//   - finished after its Context's deadline (it stopped there): its output so far, success 0;
//   - is still running: success 0, its output is discarded when it returns (the "late" run);
//   - had not started (waiting for a thread or for a collector it runs after): success 0;
//   - could not start because its late run from an earlier scrape has not returned: success 0.
// Each of these failures is logged with its reason and counted in
// pagescope_scrape_collector_deadline_exceeded_total{collector}. A scrape waits at most
// kLateGrace (and never past its own deadline) for a late run of an earlier scrape, so that
// collectors winding down after a short deadline do not fail the next scrape; a collector stuck
// for longer is skipped at once ("still running since an earlier scrape") until it returns.
//
// What a late run uses stays alive until it returns: the scrape's Context and its memo (the
// walk of /proc), the roots, rate limiter and open files, the collector object (also across a
// reload that replaced the Scraper).

#include <prometheus/metric_family.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "exporter/config.h"
#include "exporter/workers.h"
#include "framework/collector.h"
#include "framework/fs.h"
#include "framework/log.h"

namespace pagescope {

class Scraper {
 public:
  static constexpr std::chrono::milliseconds kMoveOn{25};
  static constexpr std::chrono::milliseconds kWrapUp{100};
  static constexpr std::chrono::milliseconds kLateGrace{250};

  // Builds every enabled collector from its options (a collector rejects bad options with a
  // ConfigError). Collectors whose options did not change are taken over from `previous`, so
  // state such as carried-over fault counters survives a reload, and so do its threads.
  explicit Scraper(const Config& config, const Scraper* previous = nullptr);
  // The same with another list of collectors than collectors/registry.h's AllCollectors() (the
  // same names in the same order: tests that give a collector a fake source through its factory).
  Scraper(const Config& config, const std::vector<CollectorSpec>& specs,
          const Scraper* previous = nullptr);
  ~Scraper();

  // Throws std::invalid_argument when `collect` or `exclude` names a collector that is not
  // enabled (the server answers 400). Returns by `deadline` (plus the time to gather the
  // results), see above; kNoDeadline waits for every collector.
  std::vector<prometheus::MetricFamily> Scrape(const std::vector<std::string>& collect = {},
                                               const std::vector<std::string>& exclude = {},
                                               Deadline deadline = kNoDeadline) const;

  const std::vector<std::string>& enabled() const { return enabled_names_; }
  const std::vector<std::string>& disabled() const { return disabled_names_; }

  // The collectors' threads (tests).
  const Workers& workers() const { return *workers_; }

  // A collector instance and its runs left behind by scrapes that answered without them.
  struct Slot;

  // The walk counters since start (scrapes may run at once), also added to by runs that return
  // after their scrape answered: a walk a cut collector did still held a process's mmap_lock.
  struct WalkTotals {
    std::mutex mu;
    std::map<std::tuple<std::string, std::string, std::string>, std::uint64_t> walks;
    std::map<std::pair<std::string, std::string>, double> seconds;
    void Add(const std::string& collector, const std::map<std::string, ReadAccounting::Walks>&);
  };

 private:
  void EmitAccounting(const std::string& collector, const ReadAccounting& accounting,
                      MetricSink& self) const;
  void EmitWalkTotals(const std::set<std::string>& ran, MetricSink& self) const;
  struct Entry {
    std::string name;
    std::string fingerprint;
    std::shared_ptr<Slot> slot;  // the collector; taken over by a reload with the same options
    // Scrapes whose deadline cut this collector; kept across reloads whatever the options.
    std::shared_ptr<std::atomic<std::uint64_t>> deadline_exceeded;
    std::vector<std::string> after;  // CollectorSpec::after
  };
  FsRoot fs_;
  std::vector<Entry> entries_;
  std::vector<std::string> enabled_names_;
  std::vector<std::string> disabled_names_;
  std::shared_ptr<log::RateLimiter> denied_limiter_;
  std::shared_ptr<OpenFiles> open_files_;
  std::shared_ptr<Workers> workers_;
  std::shared_ptr<WalkTotals> walk_totals_;
};

}  // namespace pagescope
