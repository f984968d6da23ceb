#pragma once
// One scrape: runs the enabled collectors (or the collect[]/exclude[] subset), times each, and
// adds pagescope_scrape_collector_{success,duration_seconds} and pagescope_build_info, and from
// each collector's ReadAccounting (framework/collector.h) pagescope_scrape_denied_reads
// {collector,file} (this scrape, only when > 0), pagescope_scrape_walks_total
// {collector,file,result} and pagescope_scrape_walk_seconds_total{collector,file} (since start,
// kept over reloads).

#include <prometheus/metric_family.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "exporter/config.h"
#include "framework/collector.h"
#include "framework/fs.h"
#include "framework/log.h"

namespace pagescope {

class Scraper {
 public:
  // Builds every enabled collector from its options (a collector rejects bad options with a
  // ConfigError). Collectors whose options did not change are taken over from `previous`, so
  // state such as carried-over fault counters survives a reload.
  explicit Scraper(const Config& config, const Scraper* previous = nullptr);
  // The same with another list of collectors than collectors/registry.h's AllCollectors() (the
  // same names in the same order: tests that give a collector a fake source through its factory).
  Scraper(const Config& config, const std::vector<CollectorSpec>& specs,
          const Scraper* previous = nullptr);

  // Throws std::invalid_argument when `collect` or `exclude` names a collector that is not
  // enabled (the server answers 400). Collectors see `deadline` through their Context; one that
  // returns after it (cut) or has not started by then is marked failed for this scrape and
  // counted in pagescope_scrape_collector_deadline_exceeded_total.
  std::vector<prometheus::MetricFamily> Scrape(const std::vector<std::string>& collect = {},
                                               const std::vector<std::string>& exclude = {},
                                               Deadline deadline = kNoDeadline) const;

  const std::vector<std::string>& enabled() const { return enabled_names_; }
  const std::vector<std::string>& disabled() const { return disabled_names_; }

 private:
  // The walk counters since start (scrapes may run at once).
  struct WalkTotals {
    std::mutex mu;
    std::map<std::tuple<std::string, std::string, std::string>, std::uint64_t> walks;
    std::map<std::pair<std::string, std::string>, double> seconds;
  };
  struct Entry {
    std::string name;
    std::string fingerprint;
    std::shared_ptr<Collector> collector;
    // Scrapes whose deadline cut this collector; kept across reloads with the collector.
    std::shared_ptr<std::atomic<std::uint64_t>> deadline_exceeded;
  };
  void EmitAccounting(const std::string& collector, const ReadAccounting& accounting,
                      MetricSink& self) const;
  void EmitWalkTotals(const std::set<std::string>& ran, MetricSink& self) const;
  FsRoot fs_;
  std::vector<Entry> entries_;
  std::vector<std::string> enabled_names_;
  std::vector<std::string> disabled_names_;
  std::shared_ptr<log::RateLimiter> denied_limiter_;
  std::shared_ptr<OpenFiles> open_files_;
  std::shared_ptr<WalkTotals> walk_totals_;
};

}  // namespace pagescope
