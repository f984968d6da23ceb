#include "collectors/tlb.h"

#include <linux/perf_event.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>
#include <set>

#include "framework/log.h"
#include "kernel/parse.h"
#include "kernel/proc_pid.h"
#include "proctable/identity.h"
#include "proctable/proc_key.h"
#include "proctable/proc_states.h"
#include "proctable/walk.h"

namespace pagescope {

std::string_view TlbTarget::label() const { return kind == Kind::kVm ? "vm" : "group"; }

namespace {

constexpr const char* kStatus = "pagescope_tlb_event_status";
constexpr int kMaxTopGroups = 50;
constexpr int kMaxInitialRounds = 3;
constexpr std::size_t kMaxCountersLimit = 1 << 20;

// A counter set on one thread.
struct Thread {
  int handle = -1;
  std::vector<PerfCount> last;
};

// A process as the collector knows it across scrapes (ProcStates: by ProcKey).
struct Proc {
  std::string group;    // empty: no matcher takes it
  std::string vm_base;  // QEMU guests: the vm label before de-duplication
  bool qemu = false;
  bool opened = false;             // counters opened (inherit mode: the first time)
  std::map<int, Thread> threads;   // tid -> counters
  std::set<std::string> reported;  // skip reasons already counted for this process
  bool denied = false;             // perf_event_open refused: not retried
  std::vector<TlbTarget> targets;  // counted into this scrape; empty: not counted
};
using Procs = ProcStates<Proc>;

// --- whom to count --------------------------------------------------------------------------
class TargetSelection {
 public:
  explicit TargetSelection(const TlbSettings& s) : s_(s) {}

  // Who every process is (its group, whether a QEMU guest): found when it is first seen and
  // again after an exec. Every process of `table` is seen in `procs` (ProcStates::See).
  void Classify(const Context& ctx, const ProcessTable& table, Procs& procs, MetricSink& out) {
    PidReader reader(ctx);
    for (const auto& p : table.processes) {
      auto seen = procs.See(p);
      if (!seen.fresh()) continue;
      Proc& proc = seen.state;
      proc.group = s_.matchers.MatchProcess(reader, p.pid, p.stat.comm, buf_);
      proc.qemu = false;
      proc.vm_base.clear();
      if (!s_.vms) continue;
      try {
        if (auto guest = ReadQemuGuest(reader, p.pid, p.stat.comm, buf_)) {
          proc.vm_base = std::move(guest->vm);
          proc.qemu = true;
        }
      } catch (const CollectError& e) {
        out.Fail(e.what());
      }
    }
  }

  // The targets of every process of `table` (in its order) for this scrape: its VM, and its
  // group when the group is selected (the `top_groups` with the most resident memory, a group
  // within twice that which was selected before, and `include_groups`).
  std::vector<std::vector<TlbTarget>> Select(const ProcessTable& table, const Procs& procs) {
    const std::uint64_t page_size = SystemPageSize();
    std::map<std::string, std::uint64_t> resident;
    for (const auto& p : table.processes) {
      const Proc& proc = procs.at(KeyOf(p));
      if (!proc.group.empty()) resident[proc.group] += p.stat.rss_pages * page_size;
    }
    std::vector<std::pair<std::uint64_t, std::string>> ranked;
    for (const auto& [g, r] : resident) ranked.emplace_back(r, g);
    std::sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) {
      return a.first != b.first ? a.first > b.first : a.second < b.second;
    });
    std::set<std::string> selected;
    std::vector<std::string> order;  // for the counter budget: named groups, then by rank
    for (const auto& g : s_.include_groups) {
      if (resident.count(g) && selected.insert(g).second) order.push_back(g);
    }
    const std::size_t top = static_cast<std::size_t>(s_.top_groups);
    for (std::size_t i = 0; i < ranked.size(); ++i) {
      const std::string& g = ranked[i].second;
      bool keep = i < top || (i < 2 * top && selected_.count(g));
      if (keep && selected.insert(g).second) order.push_back(g);
    }
    selected_ = selected;
    group_rank_.clear();
    for (std::size_t i = 0; i < order.size(); ++i) group_rank_[order[i]] = i;

    std::vector<std::vector<TlbTarget>> out;
    out.reserve(table.processes.size());
    VmNames vm_names;
    for (const auto& p : table.processes) {
      const Proc& proc = procs.at(KeyOf(p));
      std::vector<TlbTarget>& targets = out.emplace_back();
      if (proc.qemu) {
        targets.push_back({TlbTarget::Kind::kVm, vm_names.Unique(proc.vm_base, p.pid)});
      }
      if (!proc.group.empty() && selected.count(proc.group)) {
        targets.push_back({TlbTarget::Kind::kGroup, proc.group});
      }
    }
    return out;
  }

  // The order in which selected processes get counters when they do not all fit: VMs first,
  // then groups in selection order.
  std::size_t BudgetRank(const Proc& proc) const {
    return proc.qemu ? 0 : 1 + group_rank_.at(proc.group);
  }

 private:
  const TlbSettings& s_;
  std::set<std::string> selected_;  // the groups selected last scrape
  std::map<std::string, std::size_t> group_rank_;
  std::string buf_;
};

// --- the counters ---------------------------------------------------------------------------
// Counter descriptors per thread, their reads, and what they counted per target.
class CounterSet {
 public:
  CounterSet(std::shared_ptr<PerfBackend> backend, std::size_t max_counters)
      : backend_(std::move(backend)), max_counters_(max_counters) {}

  const std::vector<PerfEventSpec>& events() const { return events_; }
  void SetOptions(const PerfOpenOptions& options) { options_ = options; }
  // Counts `events` from now on; the caller closes every process's counters first.
  void SetEvents(std::vector<PerfEventSpec> events) { events_ = std::move(events); }

  // Opens counters on the threads of `pid` not counted yet: with inherit once (threads created
  // later are counted through their creator), without it at every scrape (and the counters of
  // threads that exited are read a last time and closed).
  void Open(const Context& ctx, int pid, Proc& proc) {
    if (proc.denied) return;
    if (proc.opened && options_.inherit) return;
    int rounds = proc.opened ? 1 : kMaxInitialRounds;
    for (int round = 0; round < rounds; ++round) {
      auto tids = Tids(ctx, pid);
      if (!options_.inherit) {
        std::set<int> alive(tids.begin(), tids.end());
        for (auto it = proc.threads.begin(); it != proc.threads.end();) {
          if (alive.count(it->first)) {
            ++it;
            continue;
          }
          ReadThread(proc, it->second);
          CloseThread(it->second);
          it = proc.threads.erase(it);
        }
      }
      std::vector<int> fresh;
      for (int tid : tids) {
        if (!proc.threads.count(tid)) fresh.push_back(tid);
      }
      if (fresh.empty()) break;
      const std::size_t need = fresh.size() * events_.size();
      if (open_fds_ + need > max_counters_) {
        Skip(proc, "counter_limit");
        if (!proc.opened) Close(proc, true);  // all threads or none, retried next scrape
        break;
      }
      if (!OpenThreads(ctx, fresh, proc)) {
        Close(proc, true);
        break;
      }
      proc.opened = true;
    }
  }

  // Reads every thread of a process counted this scrape into its targets.
  void Read(Proc& proc) {
    for (auto& [tid, t] : proc.threads) ReadThread(proc, t);
    if (proc.threads.empty()) return;
    for (const auto& target : proc.targets) totals_[target];  // its series exist from now on
  }

  // Reads (when `read_first`) and closes every counter of the process.
  void Close(Proc& proc, bool read_first) {
    for (auto& [tid, t] : proc.threads) {
      if (read_first) ReadThread(proc, t);
      CloseThread(t);
    }
    proc.threads.clear();
    proc.opened = false;
  }

  // What a target's processes counted of an event, exited ones included; nullptr before its
  // first counted scrape.
  const std::map<std::string, double>* Totals(const TlbTarget& target) const {
    auto it = totals_.find(target);
    return it == totals_.end() ? nullptr : &it->second;
  }
  std::size_t open_fds() const { return open_fds_; }
  std::uint64_t read_errors() const { return read_errors_; }
  std::uint64_t skipped(const std::string& reason) const {
    auto it = skipped_.find(reason);
    return it == skipped_.end() ? 0 : it->second;
  }

 private:
  // false when a thread's counters were refused (the process is then skipped for good).
  bool OpenThreads(const Context& ctx, const std::vector<int>& tids, Proc& proc) {
    for (int tid : tids) {
      int h = backend_->Open(tid, events_, options_);
      if (h >= 0) {
        proc.threads[tid].handle = h;
        open_fds_ += events_.size();
        continue;
      }
      if (-h == ESRCH || -h == ENOENT) continue;  // the thread exited meanwhile
      if (-h == EACCES || -h == EPERM) {
        ctx.WarnDenied(ctx.fs().Proc("<pid>/task/<tid>/perf_event_open"),
                       "perf_event_open: permission denied (another user's process needs "
                       "CAP_PERFMON)");
        Skip(proc, "denied");
      } else {
        Skip(proc, "error");
      }
      proc.denied = true;
      return false;
    }
    return true;
  }

  static std::vector<int> Tids(const Context& ctx, int pid) {
    std::vector<int> out;
    auto dir = FsRoot::ReadDir(ctx.fs().Proc(std::to_string(pid) + "/task"));
    for (const auto& n : dir.names) {
      try {
        std::uint64_t v = parse::U64(n, 0);
        if (v > 0 && v <= 0x7fffffff) out.push_back(static_cast<int>(v));
      } catch (const ParseError&) {
      }
    }
    return out;
  }

  void Skip(Proc& proc, const std::string& reason) {
    if (proc.reported.insert(reason).second) ++skipped_[reason];
  }

  void CloseThread(const Thread& t) {
    backend_->Close(t.handle);
    open_fds_ -= std::min(open_fds_, events_.size());
  }

  // Adds what the thread counted since the last read to the process's targets, scaled for
  // multiplexing: delta(value) * delta(enabled) / delta(running).
  void ReadThread(const Proc& proc, Thread& t) {
    if (!backend_->Read(t.handle, &counts_) || counts_.size() != events_.size()) {
      ++read_errors_;
      return;
    }
    if (t.last.size() != counts_.size()) t.last.assign(counts_.size(), PerfCount{});
    for (std::size_t i = 0; i < counts_.size(); ++i) {
      const PerfCount& now = counts_[i];
      PerfCount& before = t.last[i];
      if (now.value < before.value || now.enabled < before.enabled ||
          now.running < before.running) {
        // An inherited counter can read a little low while one of the threads it sums exits
        // (seen: 1 in ~25000 reads of a process starting threads all the time, by 1). Keep the
        // higher reading as the base, so the dip is neither subtracted nor counted twice.
        continue;
      }
      const double dv = static_cast<double>(now.value - before.value);
      const double de = static_cast<double>(now.enabled - before.enabled);
      const double dr = static_cast<double>(now.running - before.running);
      double scaled = dv;
      if (dr > 0 && de > dr) scaled = dv * de / dr;
      for (const auto& target : proc.targets) totals_[target][events_[i].name] += scaled;
      before = now;
    }
  }

  std::shared_ptr<PerfBackend> backend_;
  const std::size_t max_counters_;
  PerfOpenOptions options_;
  std::vector<PerfEventSpec> events_;                          // what the open counters count
  std::map<TlbTarget, std::map<std::string, double>> totals_;  // target -> event -> count
  std::map<std::string, std::uint64_t> skipped_;
  std::uint64_t read_errors_ = 0;
  std::size_t open_fds_ = 0;
  std::vector<PerfCount> counts_;
};

// --- the series -----------------------------------------------------------------------------
void EmitStatus(const PerfProbe& probe, MetricSink& out) {
  for (const auto& [name, mode] : probe.status) {
    out.StateSet(kStatus,
                 "Whether the event can be counted here: available, no_pmu (no hardware PMU, "
                 "e.g. a VM without PMU passthrough), not_supported (the CPU or kernel lacks "
                 "it), paranoid (kernel.perf_event_paranoid without CAP_PERFMON), denied, "
                 "error.",
                 {{"event", name}}, "mode", PerfModes(), mode);
  }
}

void EmitCounters(Procs& procs, const CounterSet& counters, MetricSink& out) {
  std::set<TlbTarget> live;
  std::size_t counted = 0;
  procs.ForEach([&](const ProcKey&, const Proc& p) {
    if (p.threads.empty()) return;
    ++counted;
    live.insert(p.targets.begin(), p.targets.end());
  });
  for (const auto& target : live) {
    const auto* totals = counters.Totals(target);
    if (totals == nullptr) continue;
    Labels l{{std::string(target.label()), target.name}};
    for (const auto& e : counters.events()) {
      auto v = totals->find(e.name);
      out.Counter("pagescope_tlb_" + e.name + "_total",
                  PerfEventDescription(e) +
                      " in the threads of the process group or QEMU guest (label group or vm), "
                      "scaled for multiplexing; includes processes that exited.",
                  l, v == totals->end() ? 0.0 : v->second);
    }
  }
  out.Gauge("pagescope_tlb_open_counters",
            "perf_event_open file descriptors the tlb collector holds (one per event and "
            "counted thread; bounded by max_counters).",
            {}, static_cast<double>(counters.open_fds()));
  out.Gauge("pagescope_tlb_counted_processes", "Processes whose threads the tlb collector counts.",
            {}, static_cast<double>(counted));
  out.Counter("pagescope_tlb_read_errors_total",
              "Reads of a thread's counters that failed (the interval is not counted).", {},
              static_cast<double>(counters.read_errors()));
  for (const char* reason : {"counter_limit", "denied", "error"}) {
    out.Counter("pagescope_tlb_skipped_processes_total",
                "Selected processes the tlb collector could not count: counter_limit "
                "(max_counters reached; retried every scrape), denied (perf_event_open refused "
                "by permissions), error. Each process is counted once per reason.",
                {{"reason", reason}}, static_cast<double>(counters.skipped(reason)));
  }
}

// --- the collector --------------------------------------------------------------------------
class TlbCollector : public Collector {
 public:
  TlbCollector(TlbSettings s, std::shared_ptr<PerfBackend> backend)
      : s_(std::move(s)),
        backend_(backend),
        selection_(s_),
        counters_(std::move(backend), static_cast<std::size_t>(s_.max_counters)) {}

  ~TlbCollector() override {
    procs_.ForEach([this](const ProcKey&, Proc& p) { counters_.Close(p, false); });
  }

  void Collect(const Context& ctx, MetricSink& out) override {
    std::lock_guard lock(mu_);
    const PerfProbe probe = ProbePerfEvents(ctx, *backend_, s_.events, s_.exclude_kernel);
    EmitStatus(probe, out);
    LogAvailability(probe);
    counters_.SetOptions(probe.options);
    if (counters_.events() != probe.usable) {
      // The set of countable events changed (or this is the first scrape): reopen everything.
      procs_.ForEach([this](const ProcKey&, Proc& p) { counters_.Close(p, true); });
      counters_.SetEvents(probe.usable);
    }
    if (counters_.events().empty()) return;

    const ProcessTable& table = ScanProcesses(ctx);
    // Cut by the scrape's deadline: a partial table would close the counters of the processes
    // it lacks.
    if (table.expired) return;
    for (const auto& e : table.errors) out.Fail(e);
    procs_.Begin();
    selection_.Classify(ctx, table, procs_, out);
    // Processes gone since the last scrape: their last counts are read and their counters
    // closed, first, so that they make room.
    procs_.End([this](const ProcKey&, Proc& p) { counters_.Close(p, true); });
    auto targets = selection_.Select(table, procs_);
    for (std::size_t i = 0; i < table.processes.size(); ++i) {
      Proc& proc = procs_.at(KeyOf(table.processes[i]));
      // Deselected: what it counted until now stays with its old targets.
      if (targets[i].empty()) counters_.Close(proc, true);
      proc.targets = std::move(targets[i]);
    }
    Open(ctx, table);
    procs_.ForEach([this](const ProcKey&, Proc& p) { counters_.Read(p); });
    EmitCounters(procs_, counters_, out);
  }

 private:
  // Opens the selected processes' counters in budget order, each rank by pid.
  void Open(const Context& ctx, const ProcessTable& table) {
    std::vector<std::pair<std::size_t, const ProcessEntry*>> todo;
    for (const auto& p : table.processes) {
      const Proc& proc = procs_.at(KeyOf(p));
      if (!proc.targets.empty()) todo.emplace_back(selection_.BudgetRank(proc), &p);
    }
    std::stable_sort(todo.begin(), todo.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    for (const auto& [rank, p] : todo) {
      if (ctx.Expired()) break;  // the rest are opened at the next scrape
      counters_.Open(ctx, p->pid, procs_.at(KeyOf(*p)));
    }
  }

  // One log line when the set of events that cannot be counted changes.
  void LogAvailability(const PerfProbe& probe) {
    std::string summary;
    for (const auto& [name, mode] : probe.status) {
      if (mode != "available") summary += name + "=" + mode + " ";
    }
    if (summary == logged_) return;
    logged_ = summary;
    if (!summary.empty()) {
      log::Warn("tlb: some events cannot be counted; they get no series",
                {{"events", std::string(parse::Trim(summary))},
                 {"err", std::strerror(probe.first_errno)},
                 {"perf_event_paranoid", probe.paranoid},
                 {"hint", PerfModeHint(probe.first_mode)}});
    } else {
      log::Info("tlb: all events can be counted",
                {{"events", std::to_string(probe.usable.size())}});
    }
  }

  const TlbSettings s_;
  std::shared_ptr<PerfBackend> backend_;
  std::mutex mu_;
  TargetSelection selection_;
  CounterSet counters_;
  Procs procs_;
  std::string logged_ = "\x01";  // nothing logged yet
};

}  // namespace

TlbSettings TlbSettingsFromOptions(const CollectorOptions& o) {
  TlbSettings s;
  std::set<std::string> names;
  for (const auto& name : o.StringList("events")) {
    const PerfEventSpec* e = FindPerfEvent(name);
    if (e == nullptr) {
      std::string known;
      for (const auto& k : KnownPerfEvents()) known += (known.empty() ? "" : ", ") + k.name;
      o.Fail("events", "unknown event \"" + name + "\" (known: " + known + ")");
    }
    if (!names.insert(name).second) o.Fail("events", "event \"" + name + "\" is listed twice");
    s.events.push_back(*e);
  }
  YAML::Node raw = o.Yaml("raw_events");
  if (raw.IsDefined() && !raw.IsNull()) {
    if (!raw.IsSequence()) o.FailAt("raw_events", raw, "expected a list of {name, config}");
    for (const auto& item : raw) {
      if (!item.IsMap()) o.FailAt("raw_events", item, "expected {name, config}");
      PerfEventSpec e;
      e.type = PERF_TYPE_RAW;
      bool has_config = false;
      for (const auto& kv : item) {
        const std::string key = kv.first.Scalar();
        if (!kv.second.IsScalar()) o.FailAt("raw_events", kv.second, "expected a scalar");
        const std::string v = kv.second.Scalar();
        if (key == "name") {
          if (!parse::MetricNamePartOk(v)) {
            o.FailAt("raw_events", kv.second,
                     "bad name \"" + v + "\" (use [a-z0-9_], no unit abbreviations)");
          }
          e.name = v;
        } else if (key == "config") {
          errno = 0;
          char* end = nullptr;
          unsigned long long c = std::strtoull(v.c_str(), &end, 0);
          if (v.empty() || v[0] == '-' || *end != '\0' || errno != 0) {
            o.FailAt("raw_events", kv.second,
                     "bad config \"" + v + "\" (the raw event encoding, e.g. 0x1008)");
          }
          e.config = c;
          has_config = true;
        } else {
          o.FailAt("raw_events", kv.first, "unknown key \"" + key + "\" (name, config)");
        }
      }
      if (e.name.empty() || !has_config) o.FailAt("raw_events", item, "needs name and config");
      if (FindPerfEvent(e.name) != nullptr || !names.insert(e.name).second) {
        o.FailAt("raw_events", item, "event name \"" + e.name + "\" is already used");
      }
      s.events.push_back(e);
    }
  }
  if (s.events.empty()) o.Fail("events", "no events to count");
  s.matchers = ProcessMatchers::FromYaml(o, "groups", o.Yaml("groups"));
  long long top = o.Int("top_groups");
  if (top < 0 || top > kMaxTopGroups) {
    o.Fail("top_groups", "must be between 0 and " + std::to_string(kMaxTopGroups));
  }
  s.top_groups = static_cast<int>(top);
  s.include_groups = o.StringList("include_groups");
  s.vms = o.Bool("vms");
  long long max = o.Int("max_counters");
  if (max < 1 || max > static_cast<long long>(kMaxCountersLimit)) {
    o.Fail("max_counters", "must be between 1 and " + std::to_string(kMaxCountersLimit));
  }
  s.max_counters = static_cast<int>(max);
  s.exclude_kernel = o.Bool("exclude_kernel");
  return s;
}

std::unique_ptr<Collector> MakeTlbCollector(TlbSettings settings,
                                            std::shared_ptr<PerfBackend> backend) {
  return std::make_unique<TlbCollector>(std::move(settings), std::move(backend));
}

CollectorSpec TlbCollectorSpec() {
  CollectorSpec spec;
  spec.name = "tlb";
  spec.default_enabled = false;
  spec.help =
      "TLB misses and instructions per process group and QEMU guest (perf_event_open counting)";
  spec.sources = "perf_event_open(2), /proc/<pid>/task/, /sys/bus/event_source/devices/";
  spec.options = {
      {"events", OptionType::kStringList,
       "[instructions, dtlb_load_misses, dtlb_store_misses, itlb_load_misses]",
       "Generic events to count: instructions, cycles, dtlb_loads, dtlb_load_misses, "
       "dtlb_store_misses, itlb_load_misses, page_faults, context_switches."},
      {"raw_events", OptionType::kYaml, "",
       "List of {name, config}: model-specific PMU events (PERF_TYPE_RAW), e.g. page-walk "
       "cycles."},
      {"groups", OptionType::kYaml, "",
       "Process group matchers as for the processes collector. Default: one group per comm."},
      {"top_groups", OptionType::kInt, "5",
       "Count the N groups with the most resident memory (0-50)."},
      {"include_groups", OptionType::kStringList, "", "Groups to count always."},
      {"vms", OptionType::kBool, "true", "Count every QEMU guest."},
      {"max_counters", OptionType::kInt, "1024",
       "At most this many perf file descriptors (one per event and thread)."},
      {"exclude_kernel", OptionType::kBool, "false",
       "Count user space only (allowed at perf_event_paranoid 2 without CAP_PERFMON)."},
  };
  // The table of processes of the scrape is the one the processes collector made (its source).
  spec.after = {"processes"};
  spec.make = [](const CollectorOptions& o) -> std::unique_ptr<Collector> {
    return MakeTlbCollector(TlbSettingsFromOptions(o), SystemPerfBackend());
  };
  // perf_event_open on other users' processes and despite perf_event_paranoid.
  spec.capabilities = {Capability::kPerfmon};
  // One descriptor per event and counted thread, at most max_counters (the executable raises
  // RLIMIT_NOFILE at start-up; an out-of-range value fails in make).
  spec.open_files = [](const CollectorOptions& o) -> std::uint64_t {
    return static_cast<std::uint64_t>(
        std::clamp<long long>(o.Int("max_counters"), 0, kMaxCountersLimit));
  };
  return spec;
}

}  // namespace pagescope
