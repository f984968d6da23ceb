#include "exporter/scraper.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <set>
#include <stdexcept>
#include <utility>

#include "collectors/registry.h"
#include "exporter/process_metrics.h"
#include "pagescope/version.h"

namespace pagescope {

using Clock = std::chrono::steady_clock;

struct Scraper::Slot {
  explicit Slot(std::unique_ptr<Collector> c) : collector(std::move(c)) {}
  const std::shared_ptr<Collector> collector;

  // Waits until no run of this collector left behind by an earlier scrape is running, at most
  // until `until` and kLateGrace after the last one was left behind. False: one still runs.
  bool Enter(Deadline until) {
    std::unique_lock<std::mutex> lock(mu_);
    if (late_ == 0) return true;
    left_.wait_until(lock, std::min(until, late_since_ + kLateGrace), [&] { return late_ == 0; });
    return late_ == 0;
  }
  // A scrape answered while a run of this collector was still running.
  void LeftBehind() {
    std::lock_guard<std::mutex> lock(mu_);
    ++late_;
    late_since_ = Clock::now();
  }
  // That run returned.
  void Returned() {
    std::lock_guard<std::mutex> lock(mu_);
    --late_;
    left_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable left_;
  int late_ = 0;
  Clock::time_point late_since_{};
};

namespace {

enum class JobState {
  kQueued,    // waiting for a thread, or for a collector it runs after
  kEntering,  // waiting for a late run of an earlier scrape (Slot::Enter)
  kRunning,
  kDone,
  kSkipped,  // its late run of an earlier scrape did not return in time
};

struct Job {
  std::string name;
  std::shared_ptr<Scraper::Slot> slot;
  std::shared_ptr<std::atomic<std::uint64_t>> deadline_exceeded;
  std::vector<std::size_t> after;  // jobs of the run that must be resolved first
  JobState state = JobState::kQueued;
  bool left_behind = false;  // the scrape answered while it ran
  MetricSink sink;           // written by its thread until kDone
  // Its reads' accounting, and the Context its collector sees (the run's, with this
  // accounting); made when it starts, written by its thread until kDone.
  std::unique_ptr<ReadAccounting> accounting;
  std::unique_ptr<Context> ctx;
  std::string error;  // what Collect threw
  Clock::time_point start{}, end{};

  bool Resolved() const { return state == JobState::kDone || state == JobState::kSkipped; }
};

// One scrape's collectors. Shared by the scrape and the threads running its collectors; a thread
// whose collector is late keeps it (its Context, memo, roots) alive until it returns.
struct Run {
  Run(const FsRoot& root, std::shared_ptr<log::RateLimiter> limiter,
      std::shared_ptr<OpenFiles> files, std::shared_ptr<Scraper::WalkTotals> walks,
      Deadline collectors_deadline)
      : fs(root),
        denied_limiter(std::move(limiter)),
        open_files(std::move(files)),
        walk_totals(std::move(walks)),
        ctx(fs, *denied_limiter, open_files.get(), collectors_deadline) {}
  const FsRoot fs;
  const std::shared_ptr<log::RateLimiter> denied_limiter;
  const std::shared_ptr<OpenFiles> open_files;
  const std::shared_ptr<Scraper::WalkTotals> walk_totals;  // a late job adds its walks here
  const Context ctx;

  std::mutex mu;  // guards everything below
  // Signalled when the last job is resolved and when a thread stops taking jobs: the scrape
  // looks at the rest (progress) when it wakes on its own, so a job's start or end costs no
  // wake-up of the scrape's thread.
  std::condition_variable changed;
  std::vector<Job> jobs;     // fixed before the first thread starts
  std::size_t unresolved{};  // jobs not kDone or kSkipped
  bool answered = false;
  int serving = 0;             // threads taking jobs of this run
  Clock::time_point progress;  // a job last started or ended

  // The first queued job whose `after` jobs are resolved.
  Job* Next() {
    for (auto& job : jobs) {
      if (job.state != JobState::kQueued) continue;
      if (std::all_of(job.after.begin(), job.after.end(),
                      [&](std::size_t i) { return jobs[i].Resolved(); })) {
        return &job;
      }
    }
    return nullptr;
  }
  bool AllResolved() const { return unresolved == 0; }
  // `job` is now kDone or kSkipped.
  void Resolved(Job& job, JobState state, Clock::time_point end) {
    job.state = state;
    job.end = progress = end;
    if (--unresolved == 0) changed.notify_all();
  }
};

// On a pool thread: runs jobs of `run` until none is ready or the scrape has answered.
void Serve(const std::shared_ptr<Run>& run) {
  std::unique_lock<std::mutex> lock(run->mu);
  while (!run->answered) {
    Job* job = run->Next();
    if (job == nullptr) break;
    job->state = JobState::kEntering;
    job->start = run->progress = Clock::now();
    lock.unlock();
    const bool entered = job->slot->Enter(run->ctx.deadline());
    lock.lock();
    if (!entered) {
      run->Resolved(*job, JobState::kSkipped, Clock::now());
      continue;
    }
    if (run->answered) break;  // answered meanwhile: this job reports "still running"
    job->state = JobState::kRunning;
    job->accounting = std::make_unique<ReadAccounting>();
    job->ctx = std::make_unique<Context>(run->ctx, job->accounting.get());
    lock.unlock();
    try {
      job->slot->collector->Collect(*job->ctx, job->sink);
    } catch (const std::exception& ex) {
      job->error = ex.what();
    } catch (...) {
      job->error = "unknown exception";
    }
    const auto end = Clock::now();
    lock.lock();
    run->Resolved(*job, JobState::kDone, end);
    if (job->left_behind) {
      std::chrono::duration<double> late = end - job->start;
      lock.unlock();
      // Its output is gone, but the walks it did are counted (from the next scrape on).
      run->walk_totals->Add(job->name, job->accounting->walks());
      job->slot->Returned();
      log::Warn("collector returned after its scrape had answered without it",
                {{"collector", job->name}, {"took_seconds", std::to_string(late.count())}});
      lock.lock();
    }
  }
  --run->serving;
  run->changed.notify_all();
}

// Adds a thread that takes jobs of `run` (run->mu held).
void AddThread(Workers& workers, const std::shared_ptr<Run>& run) {
  ++run->serving;
  run->progress = Clock::now();
  try {
    workers.Run([run] { Serve(run); });
  } catch (...) {
    --run->serving;
    throw;
  }
}

}  // namespace

Scraper::Scraper(const Config& config, const Scraper* previous)
    : Scraper(config, AllCollectors(), previous) {}

Scraper::Scraper(const Config& config, const std::vector<CollectorSpec>& specs,
                 const Scraper* previous)
    : fs_(config.procfs, config.sysfs, config.rootfs),
      denied_limiter_(previous != nullptr
                          ? previous->denied_limiter_
                          : std::make_shared<log::RateLimiter>(std::chrono::minutes(1))),
      open_files_(previous != nullptr ? previous->open_files_ : std::make_shared<OpenFiles>()),
      workers_(previous != nullptr ? previous->workers_ : std::make_shared<Workers>()),
      walk_totals_(previous != nullptr ? previous->walk_totals_ : std::make_shared<WalkTotals>()) {
  for (const auto& spec : specs) {
    const auto& cc = config.collectors.at(spec.name);
    if (!cc.enabled) {
      disabled_names_.push_back(spec.name);
      continue;
    }
    CollectorOptions options("collectors." + spec.name, cc.options);
    Entry e{spec.name, options.Fingerprint(), nullptr, nullptr, spec.after};
    if (previous != nullptr) {
      for (const auto& old : previous->entries_) {
        if (old.name != e.name) continue;
        e.deadline_exceeded = old.deadline_exceeded;  // a counter: kept whatever the options
        if (old.fingerprint == e.fingerprint) e.slot = old.slot;
      }
    }
    if (!e.slot) {
      e.slot = std::make_shared<Slot>(spec.make(options));
      if (spec.check) spec.check(options, fs_);
    }
    if (!e.deadline_exceeded) {
      e.deadline_exceeded = std::make_shared<std::atomic<std::uint64_t>>(0);
    }
    entries_.push_back(std::move(e));
    enabled_names_.push_back(spec.name);
  }
}

Scraper::~Scraper() = default;

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
  walk_totals_->Add(collector, walks);
}

void Scraper::WalkTotals::Add(const std::string& collector,
                              const std::map<std::string, ReadAccounting::Walks>& by_file) {
  std::lock_guard lock(mu);
  for (const auto& [file, w] : by_file) {
    for (const auto& [result, n] : w.results) walks[{collector, file, result}] += n;
    seconds[{collector, file}] += w.seconds;
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

  // The collectors' deadline comes a tenth of the time (at most kWrapUp) before the answer's;
  // a thread is added when nothing started or ended for kMoveOn (at most an eighth of the time).
  const auto begin = Clock::now();
  Deadline collectors_deadline = kNoDeadline;
  Clock::duration move_on = kMoveOn;
  if (deadline != kNoDeadline) {
    const auto budget = std::max(Clock::duration::zero(), deadline - begin);
    collectors_deadline = deadline - std::min<Clock::duration>(kWrapUp, budget / 10);
    move_on = std::min<Clock::duration>(kMoveOn, budget / 8);
  }
  auto run =
      std::make_shared<Run>(fs_, denied_limiter_, open_files_, walk_totals_, collectors_deadline);
  for (const auto& e : entries_) {
    if (!collect.empty() && std::find(collect.begin(), collect.end(), e.name) == collect.end()) {
      continue;
    }
    if (std::find(exclude.begin(), exclude.end(), e.name) != exclude.end()) continue;
    Job job;
    job.name = e.name;
    job.slot = e.slot;
    job.deadline_exceeded = e.deadline_exceeded;
    run->jobs.push_back(std::move(job));
  }
  run->unresolved = run->jobs.size();
  for (std::size_t i = 0; i < run->jobs.size(); ++i) {
    const auto& e = *std::find_if(entries_.begin(), entries_.end(),
                                  [&](const Entry& x) { return x.name == run->jobs[i].name; });
    for (std::size_t j = 0; j < i; ++j) {
      if (std::find(e.after.begin(), e.after.end(), run->jobs[j].name) != e.after.end()) {
        run->jobs[i].after.push_back(j);
      }
    }
  }

  std::unique_lock<std::mutex> lock(run->mu);
  if (!run->jobs.empty() && Clock::now() < deadline) AddThread(*workers_, run);
  while (!run->AllResolved()) {
    const auto now = Clock::now();
    if (now >= deadline) break;
    Deadline wake = deadline;
    if (run->Next() != nullptr) {
      // Jobs are ready but every thread is busy: when nothing moved for `move_on`, another
      // thread takes the next one.
      if (run->serving == 0 || now - run->progress >= move_on) AddThread(*workers_, run);
      wake = std::min(wake, run->progress + move_on);
    }
    if (wake == kNoDeadline) {
      run->changed.wait(lock);
    } else {
      run->changed.wait_until(lock, wake);
    }
  }
  // Every collector returned: let their threads go back to the pool before the next scrape
  // asks it for one (else the pool would start a thread while one is on its way back).
  run->changed.wait_until(lock, deadline, [&] { return run->serving == 0; });
  run->answered = true;
  const auto answered_at = Clock::now();

  std::vector<prometheus::MetricFamily> all;
  MetricSink self;
  std::set<std::string> ran;  // collectors that returned: their walk counters are shown
  std::vector<std::pair<std::string, std::string>> failures;  // collector, why
  for (auto& job : run->jobs) {
    std::vector<std::string> errors;
    std::string reason;  // why the deadline failed it
    Clock::time_point end = answered_at;
    switch (job.state) {
      case JobState::kDone:
        end = job.end;
        EmitAccounting(job.name, *job.accounting, self);
        ran.insert(job.name);
        if (!job.error.empty()) errors.push_back(job.error);
        for (const auto& err : job.sink.errors()) errors.push_back(err);
        if (job.end >= collectors_deadline) {
          reason = "deadline exceeded: stopped at the scrape's deadline, output incomplete";
        }
        for (auto& f : job.sink.Take()) all.push_back(std::move(f));
        break;
      case JobState::kRunning:
        job.left_behind = true;
        job.slot->LeftBehind();
        reason = "deadline exceeded: still running when the scrape answered, output discarded";
        break;
      case JobState::kQueued:
        job.start = answered_at;
        reason = "deadline exceeded before it could start";
        break;
      case JobState::kSkipped:
        end = job.end;
        reason = "still running since an earlier scrape";
        break;
      case JobState::kEntering:
        reason = "still running since an earlier scrape";
        break;
    }
    if (!reason.empty()) {
      errors.push_back(reason);
      ++*job.deadline_exceeded;
    }
    for (auto& err : errors) failures.emplace_back(job.name, std::move(err));
    std::chrono::duration<double> took = end - job.start;
    Labels l{{"collector", job.name}};
    self.Gauge("pagescope_scrape_collector_success",
               "Whether the collector succeeded (1) or failed (0) in this scrape.", l,
               errors.empty() ? 1 : 0);
    self.Gauge("pagescope_scrape_collector_duration_seconds",
               "How long the collector took in this scrape.", l, took.count());
    self.Counter("pagescope_scrape_collector_deadline_exceeded_total",
                 "Scrapes in which the collector was cut by the scrape's deadline, had not "
                 "started by then, or was skipped because it was still running since an earlier "
                 "scrape: its success was 0 and its output incomplete or missing.",
                 l, static_cast<double>(job.deadline_exceeded->load()));
  }
  lock.unlock();
  for (const auto& [name, err] : failures) {
    log::Error("collector failed", {{"collector", name}, {"err", err}});
  }
  EmitWalkTotals(ran, self);
  self.Info("pagescope_build_info", "Version and git revision pagescope was built from.",
            {{"version", kVersion}, {"revision", kRevision}});
  EmitProcessMetrics(self);
  for (auto& f : self.Take()) all.push_back(std::move(f));
  SortFamilies(all);
  return all;
}

}  // namespace pagescope
