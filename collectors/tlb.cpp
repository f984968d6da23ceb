#include "collectors/tlb.h"

#include <linux/perf_event.h>
#include <sys/resource.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <unordered_map>

#include "framework/log.h"
#include "kernel/parse.h"
#include "kernel/proc_pid.h"
#include "proctable/qemu_cmdline.h"

namespace pagescope {
namespace {

constexpr const char* kStatus = "pagescope_tlb_event_status";
const std::vector<std::string> kModes = {"available", "no_pmu", "not_supported",
                                         "paranoid",  "denied", "error"};
constexpr int kMaxTopGroups = 50;
constexpr int kMaxInitialRounds = 3;

std::string EventHelp(const PerfEventSpec& e) {
  std::string what;
  if (e.name == "instructions") {
    what = "Instructions retired (PERF_COUNT_HW_INSTRUCTIONS)";
  } else if (e.name == "cycles") {
    what = "CPU cycles (PERF_COUNT_HW_CPU_CYCLES)";
  } else if (e.name == "dtlb_loads") {
    what = "Data TLB lookups by loads (PERF_TYPE_HW_CACHE DTLB read access)";
  } else if (e.name == "dtlb_load_misses") {
    what = "Data TLB misses by loads (PERF_TYPE_HW_CACHE DTLB read miss)";
  } else if (e.name == "dtlb_store_misses") {
    what = "Data TLB misses by stores (PERF_TYPE_HW_CACHE DTLB write miss)";
  } else if (e.name == "itlb_load_misses") {
    what = "Instruction TLB misses (PERF_TYPE_HW_CACHE ITLB read miss)";
  } else if (e.name == "page_faults") {
    what = "Page faults (software event PERF_COUNT_SW_PAGE_FAULTS)";
  } else if (e.name == "context_switches") {
    what = "Context switches (software event PERF_COUNT_SW_CONTEXT_SWITCHES)";
  } else {
    char buf[64];
    std::snprintf(buf, sizeof buf, "Raw PMU event 0x%llx",
                  static_cast<unsigned long long>(e.config));
    what = buf;
  }
  return what +
         " in the threads of the process group or QEMU guest (label group or vm), scaled for "
         "multiplexing; includes processes that exited.";
}

struct ProcKey {
  int pid;
  std::uint64_t starttime;
  bool operator==(const ProcKey&) const = default;
};
struct ProcKeyHash {
  std::size_t operator()(const ProcKey& k) const {
    return std::hash<std::uint64_t>()((static_cast<std::uint64_t>(k.pid) << 40) ^ k.starttime);
  }
};

// A counter set on one thread.
struct Thread {
  int handle = -1;
  std::vector<PerfCount> last;
};

struct Proc {
  std::uint64_t comm_hash = 0;
  std::string group;    // empty: no matcher takes it
  std::string vm_base;  // QEMU guests: the vm label before de-duplication
  bool qemu = false;
  std::uint32_t generation = 0;
  bool opened = false;               // counters opened (inherit mode: the first time)
  std::map<int, Thread> threads;     // tid -> counters
  std::set<std::string> reported;    // skip reasons already counted for this process
  bool denied = false;               // perf_event_open refused: not retried
  std::vector<std::string> targets;  // "group\x1fname" / "vm\x1fname" counted this scrape
};

class TlbCollector : public Collector {
 public:
  TlbCollector(TlbSettings s, std::shared_ptr<PerfBackend> backend)
      : s_(std::move(s)), backend_(std::move(backend)) {}

  ~TlbCollector() override {
    for (auto& [key, p] : procs_) CloseAll(p, false);
  }

  void Collect(const Context& ctx, MetricSink& out) override {
    std::lock_guard lock(mu_);
    Probe(ctx);
    for (const auto& [name, mode] : status_) {
      out.StateSet(kStatus,
                   "Whether the event can be counted here: available, no_pmu (no hardware PMU, "
                   "e.g. a VM without PMU passthrough), not_supported (the CPU or kernel lacks "
                   "it), paranoid (kernel.perf_event_paranoid without CAP_PERFMON), denied, "
                   "error.",
                   {{"event", name}}, "mode", kModes, mode);
    }
    if (active_ != usable_) {
      // The set of countable events changed (or this is the first scrape): reopen everything.
      for (auto& [key, p] : procs_) CloseAll(p, true);
      active_ = usable_;
    }
    if (active_.empty()) return;

    const ProcessTable& table = ScanProcesses(ctx);
    for (const auto& e : table.errors) out.Fail(e);
    ++generation_;
    Classify(ctx, table, out);
    Retire();  // first, so the counters of exited processes make room
    Select(table);
    Open(ctx, table);
    ReadAll();
    Emit(out);
  }

 private:
  // --- availability -------------------------------------------------------------------------
  void Probe(const Context& ctx) {
    status_.clear();
    usable_.clear();
    options_ = PerfOpenOptions{};
    options_.exclude_kernel = s_.exclude_kernel;
    // inherit_thread needs Linux 5.13; without it, count without inherit (see the header).
    if (const PerfEventSpec* sw = FindPerfEvent("context_switches")) {
      int h = backend_->Open(0, {*sw}, options_);
      if (h == -EINVAL) {
        PerfOpenOptions plain = options_;
        plain.inherit = false;
        plain.inherit_thread = false;
        int h2 = backend_->Open(0, {*sw}, plain);
        if (h2 >= 0) {
          backend_->Close(h2);
          options_ = plain;
        }
      } else if (h >= 0) {
        backend_->Close(h);
      }
    }
    auto paranoid = ctx.ReadQuiet(ctx.fs().Proc("sys/kernel/perf_event_paranoid"));
    paranoid_text_ = paranoid ? std::string(parse::Trim(*paranoid)) : "";
    int first_errno = 0;
    std::string first_mode;
    std::vector<std::string> unavailable;
    PerfOpenOptions single = options_;
    single.group = false;
    for (const auto& e : s_.events) {
      int h = backend_->Open(0, {e}, single);
      std::string mode = "available";
      if (h >= 0) {
        backend_->Close(h);
        usable_.push_back(e);
      } else {
        mode = Reason(ctx, e, -h);
        unavailable.push_back(e.name);
        if (first_errno == 0) {
          first_errno = -h;
          first_mode = mode;
        }
      }
      status_.emplace_back(e.name, mode);
    }
    options_.group = true;
    if (usable_.size() > 1) {
      int h = backend_->Open(0, usable_, options_);
      if (h >= 0) {
        backend_->Close(h);
      } else {
        options_.group = false;  // the group does not fit the PMU: one counter per event
      }
    }
    std::string summary;
    for (const auto& [name, mode] : status_) {
      if (mode != "available") summary += name + "=" + mode + " ";
    }
    if (summary != logged_) {
      logged_ = summary;
      if (!summary.empty()) {
        log::Warn("tlb: some events cannot be counted; they get no series",
                  {{"events", std::string(parse::Trim(summary))},
                   {"err", std::strerror(first_errno)},
                   {"perf_event_paranoid", paranoid_text_},
                   {"hint", Hint(first_mode)}});
      } else {
        log::Info("tlb: all events can be counted", {{"events", std::to_string(usable_.size())}});
      }
    }
  }

  static std::string Hint(const std::string& mode) {
    if (mode == "no_pmu") {
      return "no hardware PMU (a VM needs PMU passthrough, e.g. QEMU -cpu host,pmu=on)";
    }
    if (mode == "paranoid") {
      return "give pagescope CAP_PERFMON, lower kernel.perf_event_paranoid, or at 2 set "
             "exclude_kernel: true";
    }
    if (mode == "denied") return "a seccomp filter or LSM refuses perf_event_open";
    if (mode == "not_supported") return "the CPU or kernel has no such event";
    return "";
  }

  std::string Reason(const Context& ctx, const PerfEventSpec& e, int err) {
    switch (err) {
      case ENOENT:
      case EOPNOTSUPP:
      case ENODEV:
      case EINVAL:
      case ENOSYS:
        if (e.type != PERF_TYPE_SOFTWARE && !HasCorePmu(ctx)) return "no_pmu";
        return "not_supported";
      case EACCES:
      case EPERM: {
        // perf-security.rst: 2 allows only user-space measurement without CAP_PERFMON; Debian's
        // 3 allows nothing. CAP_PERFMON (38) or CAP_SYS_ADMIN (21) bypass the setting.
        std::int64_t level = 0;
        try {
          level = paranoid_text_.empty() ? 0 : parse::SingleI64(paranoid_text_);
        } catch (const ParseError&) {
        }
        bool capable = false;
        if (auto status = ctx.ReadQuiet(ctx.fs().Proc("self/status"))) {
          auto pos = status->find("CapEff:");
          if (pos != std::string::npos) {
            std::uint64_t caps = std::strtoull(status->c_str() + pos + 7, nullptr, 16);
            capable = (caps & ((1ULL << 38) | (1ULL << 21))) != 0;
          }
        }
        if (!capable && (level >= 3 || (level >= 2 && !s_.exclude_kernel))) return "paranoid";
        return "denied";
      }
      default:
        return "error";
    }
  }

  // A core PMU (the one generic hardware events go to) registers with type PERF_TYPE_RAW.
  static bool HasCorePmu(const Context& ctx) {
    auto dir = ctx.fs().Sys("bus/event_source/devices");
    auto names = FsRoot::ReadDir(dir);
    for (const auto& n : names.names) {
      auto t = ctx.ReadQuiet(dir / n / "type");
      if (t && parse::Trim(*t) == std::to_string(PERF_TYPE_RAW)) return true;
    }
    return false;
  }

  // --- which processes ----------------------------------------------------------------------
  void Classify(const Context& ctx, const ProcessTable& table, MetricSink& out) {
    PidReader reader(ctx.fs().procfs());
    for (const auto& p : table.processes) {
      ProcKey key{p.pid, p.stat.starttime};
      auto [it, is_new] = procs_.try_emplace(key);
      Proc& proc = it->second;
      proc.generation = generation_;
      const std::uint64_t comm_hash = std::hash<std::string>()(p.stat.comm);
      if (!is_new && proc.comm_hash == comm_hash) continue;
      proc.comm_hash = comm_hash;
      proc.group = s_.matchers.MatchProcess(reader, p.pid, p.stat.comm, buf_);
      proc.qemu = false;
      proc.vm_base.clear();
      if (s_.vms && IsQemuComm(p.stat.comm) &&
          reader.Read(p.pid, "cmdline", buf_, true) == ReadStatus::kOk && !buf_.empty()) {
        try {
          proc.vm_base = VmLabel(ParseQemuCmdline(SplitCmdline(buf_)), p.pid);
          proc.qemu = true;
        } catch (const ParseError& e) {
          out.Fail(reader.Path(p.pid, "cmdline").string() + ":" + std::to_string(e.line()) + ": " +
                   e.what());
        }
      }
    }
  }

  void Select(const ProcessTable& table) {
    const std::uint64_t page_size = SystemPageSize();
    std::map<std::string, std::uint64_t> resident;
    for (const auto& p : table.processes) {
      const Proc& proc = procs_.at(ProcKey{p.pid, p.stat.starttime});
      if (!proc.group.empty()) resident[proc.group] += p.stat.rss_pages * page_size;
    }
    std::vector<std::pair<std::uint64_t, std::string>> ranked;
    for (const auto& [g, r] : resident) ranked.emplace_back(r, g);
    std::sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) {
      return a.first != b.first ? a.first > b.first : a.second < b.second;
    });
    std::set<std::string> selected;
    std::vector<std::string> order;  // for the counter budget: VMs, named groups, then by rank
    for (const auto& g : s_.include_groups) {
      if (resident.count(g) && selected.insert(g).second) order.push_back(g);
    }
    const std::size_t top = static_cast<std::size_t>(s_.top_groups);
    for (std::size_t i = 0; i < ranked.size(); ++i) {
      const std::string& g = ranked[i].second;
      bool keep = i < top || (i < 2 * top && selected_groups_.count(g));
      if (keep && selected.insert(g).second) order.push_back(g);
    }
    selected_groups_ = selected;
    group_rank_.clear();
    for (std::size_t i = 0; i < order.size(); ++i) group_rank_[order[i]] = i;

    std::set<std::string> vm_names;
    for (const auto& p : table.processes) {
      Proc& proc = procs_.at(ProcKey{p.pid, p.stat.starttime});
      std::vector<std::string> targets;
      if (proc.qemu) {
        std::string vm = proc.vm_base;
        if (!vm_names.insert(vm).second) vm += "@" + std::to_string(p.pid);
        targets.push_back("vm\x1f" + vm);
      }
      if (!proc.group.empty() && selected.count(proc.group)) {
        targets.push_back("group\x1f" + proc.group);
      }
      // Deselected: what it counted until now stays with its old targets.
      if (targets.empty()) CloseAll(proc, true);
      proc.targets = std::move(targets);
    }
  }

  // --- counters -----------------------------------------------------------------------------
  void Open(const Context& ctx, const ProcessTable& table) {
    // VMs first, then groups in selection order, each by pid.
    std::vector<std::pair<std::size_t, const ProcessEntry*>> todo;
    for (const auto& p : table.processes) {
      Proc& proc = procs_.at(ProcKey{p.pid, p.stat.starttime});
      if (proc.targets.empty()) continue;
      std::size_t rank = proc.qemu ? 0 : 1 + group_rank_.at(proc.group);
      todo.emplace_back(rank, &p);
    }
    std::stable_sort(todo.begin(), todo.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    for (const auto& [rank, p] : todo) {
      Proc& proc = procs_.at(ProcKey{p->pid, p->stat.starttime});
      if (proc.denied) continue;
      // With inherit, threads created after the first opening are counted through their
      // creator; without it, every thread is opened when it is first seen.
      if (proc.opened && options_.inherit) continue;
      int rounds = proc.opened ? 1 : kMaxInitialRounds;
      for (int round = 0; round < rounds; ++round) {
        auto tids = Tids(ctx, p->pid);
        if (!options_.inherit) {
          // Without inherit, the counters of threads that exited are read a last time and
          // closed (their final counts stay readable after the exit).
          std::set<int> alive(tids.begin(), tids.end());
          for (auto it = proc.threads.begin(); it != proc.threads.end();) {
            if (alive.count(it->first)) {
              ++it;
              continue;
            }
            ReadThread(proc, it->second);
            backend_->Close(it->second.handle);
            open_fds_ -= std::min(open_fds_, active_.size());
            it = proc.threads.erase(it);
          }
        }
        std::vector<int> fresh;
        for (int tid : tids) {
          if (!proc.threads.count(tid)) fresh.push_back(tid);
        }
        if (fresh.empty()) break;
        const std::size_t need = fresh.size() * active_.size();
        if (open_fds_ + need > static_cast<std::size_t>(s_.max_counters)) {
          Skip(proc, "counter_limit");
          if (!proc.opened) CloseAll(proc, true);  // all threads or none, retried next scrape
          break;
        }
        bool failed = false;
        for (int tid : fresh) {
          int h = backend_->Open(tid, active_, options_);
          if (h >= 0) {
            proc.threads[tid].handle = h;
            open_fds_ += active_.size();
            continue;
          }
          if (-h == ESRCH || -h == ENOENT) continue;  // the thread exited meanwhile
          if (-h == EACCES || -h == EPERM) {
            ctx.WarnDenied(ctx.fs().Proc("<pid>/task/<tid>"),
                           "perf_event_open: permission denied (another user's process needs "
                           "CAP_PERFMON)");
            Skip(proc, "denied");
            proc.denied = true;
          } else {
            Skip(proc, "error");
            proc.denied = true;
          }
          failed = true;
          break;
        }
        if (failed) {
          CloseAll(proc, true);
          break;
        }
        proc.opened = true;
      }
    }
  }

  std::vector<int> Tids(const Context& ctx, int pid) const {
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

  // Adds what the thread counted since the last read to the process's targets.
  void ReadThread(const Proc& proc, Thread& t) {
    if (!backend_->Read(t.handle, &counts_) || counts_.size() != active_.size()) {
      ++read_errors_;
      return;
    }
    if (t.last.size() != counts_.size()) t.last.assign(counts_.size(), PerfCount{});
    for (std::size_t i = 0; i < counts_.size(); ++i) {
      const PerfCount& now = counts_[i];
      const PerfCount& before = t.last[i];
      if (now.value < before.value || now.enabled < before.enabled ||
          now.running < before.running) {
        continue;  // never happens with a live counter; never go backwards if it does
      }
      const double dv = static_cast<double>(now.value - before.value);
      const double de = static_cast<double>(now.enabled - before.enabled);
      const double dr = static_cast<double>(now.running - before.running);
      double scaled = dv;
      if (dr > 0 && de > dr) scaled = dv * de / dr;
      for (const auto& target : proc.targets) totals_[target][active_[i].name] += scaled;
    }
    t.last = counts_;
  }

  void ReadAll() {
    for (auto& [key, p] : procs_) {
      if (p.generation != generation_) continue;
      for (auto& [tid, t] : p.threads) ReadThread(p, t);
      for (const auto& target : p.targets) {
        if (!p.threads.empty()) totals_[target];  // counted: its series exist from now on
      }
    }
  }

  // Processes gone since the last scrape: read their last counts, close.
  void Retire() {
    for (auto it = procs_.begin(); it != procs_.end();) {
      if (it->second.generation == generation_) {
        ++it;
        continue;
      }
      CloseAll(it->second, true);
      it = procs_.erase(it);
    }
  }

  void CloseAll(Proc& p, bool read_first) {
    for (auto& [tid, t] : p.threads) {
      if (read_first) ReadThread(p, t);
      backend_->Close(t.handle);
      open_fds_ -= std::min(open_fds_, active_.size());
    }
    p.threads.clear();
    p.opened = false;
  }

  void Emit(MetricSink& out) {
    std::set<std::string> live;
    std::size_t counted = 0;
    for (const auto& [key, p] : procs_) {
      if (p.threads.empty()) continue;
      ++counted;
      live.insert(p.targets.begin(), p.targets.end());
    }
    for (const auto& target : live) {
      auto it = totals_.find(target);
      if (it == totals_.end()) continue;
      auto sep = target.find('\x1f');
      Labels l{{target.substr(0, sep), target.substr(sep + 1)}};
      for (const auto& e : active_) {
        auto v = it->second.find(e.name);
        out.Counter("pagescope_tlb_" + e.name + "_total", EventHelp(e), l,
                    v == it->second.end() ? 0.0 : v->second);
      }
    }
    out.Gauge("pagescope_tlb_open_counters",
              "perf_event_open file descriptors the tlb collector holds (one per event and "
              "counted thread; bounded by max_counters).",
              {}, static_cast<double>(open_fds_));
    out.Gauge("pagescope_tlb_counted_processes",
              "Processes whose threads the tlb collector counts.", {},
              static_cast<double>(counted));
    out.Counter("pagescope_tlb_read_errors_total",
                "Reads of a thread's counters that failed (the interval is not counted).", {},
                static_cast<double>(read_errors_));
    for (const char* reason : {"counter_limit", "denied", "error"}) {
      out.Counter("pagescope_tlb_skipped_processes_total",
                  "Selected processes the tlb collector could not count: counter_limit "
                  "(max_counters reached; retried every scrape), denied (perf_event_open refused "
                  "by permissions), error. Each process is counted once per reason.",
                  {{"reason", reason}}, static_cast<double>(skipped_[reason]));
    }
  }

  TlbSettings s_;
  std::shared_ptr<PerfBackend> backend_;
  std::mutex mu_;
  PerfOpenOptions options_;
  std::vector<std::pair<std::string, std::string>> status_;  // event -> mode
  std::vector<PerfEventSpec> usable_;                        // countable now
  std::vector<PerfEventSpec> active_;                        // what the open counters count
  std::string logged_ = "\x01";                              // nothing logged yet
  std::string paranoid_text_;
  std::unordered_map<ProcKey, Proc, ProcKeyHash> procs_;
  std::set<std::string> selected_groups_;
  std::map<std::string, std::size_t> group_rank_;
  std::map<std::string, std::map<std::string, double>> totals_;  // target -> event -> count
  std::map<std::string, std::uint64_t> skipped_;
  std::uint64_t read_errors_ = 0;
  std::size_t open_fds_ = 0;
  std::uint32_t generation_ = 0;
  std::vector<PerfCount> counts_;
  std::string buf_;
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
  if (max < 1 || max > 1 << 20) o.Fail("max_counters", "must be between 1 and 1048576");
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
  spec.make = [](const CollectorOptions& o) -> std::unique_ptr<Collector> {
    TlbSettings s = TlbSettingsFromOptions(o);
    // Room for the counters next to what the exporter itself needs (sockets, files).
    rlimit lim{};
    if (getrlimit(RLIMIT_NOFILE, &lim) == 0) {
      rlim_t want = static_cast<rlim_t>(s.max_counters) + 1024;
      if (lim.rlim_cur != RLIM_INFINITY && lim.rlim_cur < want) {
        lim.rlim_cur = lim.rlim_max == RLIM_INFINITY ? want : std::min(want, lim.rlim_max);
        setrlimit(RLIMIT_NOFILE, &lim);
      }
    }
    return MakeTlbCollector(std::move(s), SystemPerfBackend());
  };
  return spec;
}

}  // namespace pagescope
