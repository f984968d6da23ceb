#include "exporter/scraper.h"

#include <algorithm>
#include <chrono>
#include <set>
#include <stdexcept>

#include "collectors/registry.h"
#include "pagescope/version.h"

namespace pagescope {

Scraper::Scraper(const Config& config, const Scraper* previous)
    : Scraper(config, AllCollectors(), previous) {}

Scraper::Scraper(const Config& config, const std::vector<CollectorSpec>& specs,
                 const Scraper* previous)
    : fs_(config.procfs, config.sysfs, config.rootfs),
      denied_limiter_(previous != nullptr
                          ? previous->denied_limiter_
                          : std::make_shared<log::RateLimiter>(std::chrono::minutes(1))),
      open_files_(previous != nullptr ? previous->open_files_ : std::make_shared<OpenFiles>()),
      walk_totals_(previous != nullptr ? previous->walk_totals_ : std::make_shared<WalkTotals>()) {
  for (const auto& spec : specs) {
    const auto& cc = config.collectors.at(spec.name);
    if (!cc.enabled) {
      disabled_names_.push_back(spec.name);
      continue;
    }
    CollectorOptions options("collectors." + spec.name, cc.options);
    Entry e{spec.name, options.Fingerprint(), nullptr, nullptr};
    if (previous != nullptr) {
      for (const auto& old : previous->entries_) {
        if (old.name != e.name) continue;
        e.deadline_exceeded = old.deadline_exceeded;  // a counter: kept whatever the options
        if (old.fingerprint == e.fingerprint) e.collector = old.collector;
      }
    }
    if (!e.collector) e.collector = spec.make(options);
    if (!e.deadline_exceeded) {
      e.deadline_exceeded = std::make_shared<std::atomic<std::uint64_t>>(0);
    }
    entries_.push_back(std::move(e));
    enabled_names_.push_back(spec.name);
  }
}

void Scraper::EmitAccounting(const std::string& collector, const ReadAccounting& accounting,
                             MetricSink& self) const {
  for (const auto& [file, n] : accounting.denied()) {
    self.Gauge("pagescope_scrape_denied_reads",
               "Files of this kind the collector could not read in this scrape because "
               "permission was denied (their series are missing: unknown, not zero; a warning "
               "names the file). Only present when some were.",
               {{"collector", collector}, {"file", file}}, static_cast<double>(n));
  }
  const auto walks = accounting.walks();
  for (const auto& [file, w] : walks) {
    std::uint64_t n = 0;
    for (const auto& [result, count] : w.results) {
      if (result == "done" || result == "sampled") n += count;
    }
    if (n == 0) continue;
    self.Gauge("pagescope_scrape_walk_max_seconds",
               "The longest single page-table walk of this file in this scrape (or, for a "
               "sample taken instead, its longest move_pages call): how long pagescope held one "
               "process's mmap_lock at most. Only present when a walk or sample was done.",
               {{"collector", collector}, {"file", file}}, w.max_hold);
  }
  std::lock_guard lock(walk_totals_->mu);
  for (const auto& [file, w] : walks) {
    for (const auto& [result, n] : w.results) {
      walk_totals_->walks[{collector, file, result}] += n;
    }
    walk_totals_->seconds[{collector, file}] += w.seconds;
  }
}

void Scraper::EmitWalkTotals(const std::set<std::string>& ran, MetricSink& self) const {
  std::lock_guard lock(walk_totals_->mu);
  for (const auto& [key, n] : walk_totals_->walks) {
    const auto& [collector, file, result] = key;
    if (!ran.count(collector)) continue;
    self.Counter(
        "pagescope_scrape_walks_total",
        "Page-table walks (numa_maps, smaps_rollup: reads that hold the process's "
        "mmap_lock while they run) by result: done, or what was done instead: cgroup "
        "(figures from the process's own cgroup), sampled (a bounded move_pages sample), "
        "skipped (estimated longer than walk_max_ms, nothing instead: the figure is "
        "unknown), deferred (the scrape's own limit or deadline was reached), cached "
        "(the last value or sample, younger than its interval: smaps_min_interval_seconds, "
        "60 s for samples).",
        {{"collector", collector}, {"file", file}, {"result", result}}, static_cast<double>(n));
  }
  for (const auto& [key, seconds] : walk_totals_->seconds) {
    if (!ran.count(key.first)) continue;
    self.Counter("pagescope_scrape_walk_seconds_total",
                 "Time spent in the page-table walks done and in the samples taken instead "
                 "(pagescope_scrape_walks_total result done and sampled).",
                 {{"collector", key.first}, {"file", key.second}}, seconds);
  }
}

std::vector<prometheus::MetricFamily> Scraper::Scrape(const std::vector<std::string>& collect,
                                                      const std::vector<std::string>& exclude,
                                                      Deadline deadline) const {
  auto is_enabled = [&](const std::string& n) {
    return std::find(enabled_names_.begin(), enabled_names_.end(), n) != enabled_names_.end();
  };
  for (const auto* list : {&collect, &exclude}) {
    for (const auto& n : *list) {
      if (!is_enabled(n)) {
        throw std::invalid_argument("collector \"" + n + "\" is unknown or not enabled");
      }
    }
  }

  Context ctx(fs_, *denied_limiter_, open_files_.get(), deadline);
  std::vector<prometheus::MetricFamily> all;
  MetricSink self;
  std::set<std::string> ran;
  for (const auto& e : entries_) {
    if (!collect.empty() && std::find(collect.begin(), collect.end(), e.name) == collect.end()) {
      continue;
    }
    if (std::find(exclude.begin(), exclude.end(), e.name) != exclude.end()) continue;
    ran.insert(e.name);
    MetricSink sink;
    ReadAccounting accounting;
    ctx.set_accounting(&accounting);
    auto start = std::chrono::steady_clock::now();
    bool ok = true;
    if (ctx.Expired()) {
      ok = false;
      sink.Fail("deadline exceeded before it started");
    } else {
      try {
        e.collector->Collect(ctx, sink);
      } catch (const std::exception& ex) {
        ok = false;
        log::Error("collector failed", {{"collector", e.name}, {"err", ex.what()}});
      } catch (...) {
        ok = false;
        log::Error("collector failed", {{"collector", e.name}, {"err", "unknown exception"}});
      }
      if (ctx.Expired()) sink.Fail("deadline exceeded: stopped at the scrape's deadline");
    }
    for (const auto& err : sink.errors()) {
      ok = false;
      log::Error("collector failed", {{"collector", e.name}, {"err", err}});
    }
    if (ctx.Expired()) ++*e.deadline_exceeded;
    std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
    Labels l{{"collector", e.name}};
    self.Gauge("pagescope_scrape_collector_success",
               "Whether the collector succeeded (1) or failed (0) in this scrape.", l, ok ? 1 : 0);
    self.Gauge("pagescope_scrape_collector_duration_seconds",
               "How long the collector took in this scrape.", l, took.count());
    self.Counter("pagescope_scrape_collector_deadline_exceeded_total",
                 "Scrapes in which the collector was cut by the scrape's deadline (or had not "
                 "started by then): its success was 0 and its output partial or missing.",
                 l, static_cast<double>(e.deadline_exceeded->load()));
    ctx.set_accounting(nullptr);
    EmitAccounting(e.name, accounting, self);
    for (auto& f : sink.Take()) all.push_back(std::move(f));
  }
  EmitWalkTotals(ran, self);
  self.Info("pagescope_build_info", "Version and git revision pagescope was built from.",
            {{"version", kVersion}, {"revision", kRevision}});
  for (auto& f : self.Take()) all.push_back(std::move(f));
  SortFamilies(all);
  return all;
}

}  // namespace pagescope
