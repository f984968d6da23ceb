#include "collectors/processes.h"

#include <algorithm>
#include <cctype>
#include <mutex>
#include <set>
#include <stdexcept>
#include <unordered_map>

#include "kernel/parse.h"
#include "kernel/proc_pid.h"
#include "kernel/sys_fs_cgroup.h"
#include "kernel/sysfs.h"
#include "proctable/bpf_tasks.h"
#include "proctable/bpf_tasks_table.h"
#include "proctable/numa_locality.h"
#include "proctable/placement.h"
#include "proctable/proc_key.h"
#include "proctable/proc_states.h"
#include "proctable/smaps_guard.h"
#include "proctable/walk.h"
#include "proctable/walk_cost.h"

namespace pagescope {

std::string StripNamedGroups(std::string_view p, std::map<std::string, std::size_t>* names) {
  std::string out;
  std::size_t group = 0;
  bool in_class = false;
  for (std::size_t i = 0; i < p.size(); ++i) {
    char c = p[i];
    if (c == '\\' && i + 1 < p.size()) {
      out += c;
      out += p[++i];
      continue;
    }
    if (in_class) {
      if (c == ']') in_class = false;
      out += c;
      continue;
    }
    if (c == '[') {
      in_class = true;
      out += c;
      continue;
    }
    if (c == '(') {
      std::string_view rest = p.substr(i + 1);
      std::size_t skip = 0;
      if (rest.starts_with("?P<")) {
        skip = 3;
      } else if (rest.starts_with("?<") && !rest.starts_with("?<=") && !rest.starts_with("?<!")) {
        skip = 2;
      }
      if (skip > 0) {
        auto close = rest.find('>');
        if (close == std::string_view::npos || close == skip) {
          throw std::invalid_argument("unterminated or empty group name");
        }
        std::string name(rest.substr(skip, close - skip));
        for (char n : name) {
          if (!std::isalnum(static_cast<unsigned char>(n)) && n != '_') {
            throw std::invalid_argument("bad group name \"" + name + "\"");
          }
        }
        (*names)[name] = ++group;
        out += '(';
        i += close + 1;
        continue;
      }
      if (!rest.starts_with("?")) ++group;
    }
    out += c;
  }
  return out;
}

namespace {

std::string_view BaseName(std::string_view path) {
  auto slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

// {{.Cgroup}} (0), {{.Pod}} (1: the pod UID) and {{.Unit}} (2: the systemd unit, or the libvirt
// guest's name) of a cgroup path.
std::string CgroupTemplateValue(int what, const std::string& cgroup) {
  if (what == 0) return cgroup;
  auto id = ParseCgroupIdentity(cgroup);
  if (what == 1) return id.pod;
  return id.unit.empty() ? id.vm : id.unit;
}
}  // namespace

ProcessMatchers ProcessMatchers::Default() {
  ProcessMatchers m;
  Matcher all;
  all.name.push_back({Segment::kComm, ""});
  m.matchers_.push_back(std::move(all));
  return m;
}

ProcessMatchers ProcessMatchers::FromYaml(const CollectorOptions& options,
                                          const std::string& option, const YAML::Node& groups) {
  if (!groups.IsDefined() || groups.IsNull()) return Default();
  if (!groups.IsSequence()) options.FailAt(option, groups, "expected a list of matchers");
  ProcessMatchers out;
  for (const auto& g : groups) {
    if (!g.IsMap()) options.FailAt(option, g, "expected a matcher (name, comm, exe, cmdline)");
    Matcher m;
    bool has_name = false;
    std::set<std::string> capture_names;
    auto strings = [&](const YAML::Node& n) {
      std::vector<std::string> v;
      if (n.IsScalar()) {
        v.push_back(n.Scalar());
      } else if (n.IsSequence()) {
        for (const auto& item : n) {
          if (!item.IsScalar()) options.FailAt(option, item, "expected a string");
          v.push_back(item.Scalar());
        }
      } else {
        options.FailAt(option, n, "expected a string or a list of strings");
      }
      return v;
    };
    for (const auto& kv : g) {
      std::string key = kv.first.Scalar();
      if (key == "name") {
        has_name = true;
        if (!kv.second.IsScalar()) options.FailAt(option, kv.second, "expected a template");
        const std::string t = kv.second.Scalar();
        std::size_t pos = 0;
        while (pos < t.size()) {
          auto open = t.find("{{", pos);
          if (open == std::string::npos) {
            m.name.push_back({Segment::kLiteral, t.substr(pos)});
            break;
          }
          if (open > pos) m.name.push_back({Segment::kLiteral, t.substr(pos, open - pos)});
          auto close = t.find("}}", open);
          if (close == std::string::npos) {
            options.FailAt(option, kv.second, "unterminated {{ in \"" + t + "\"");
          }
          std::string var(parse::Trim(std::string_view(t).substr(open + 2, close - open - 2)));
          if (var == ".Comm") {
            m.name.push_back({Segment::kComm, ""});
          } else if (var == ".ExeBase") {
            m.name.push_back({Segment::kExeBase, ""});
          } else if (var == ".ExeFull") {
            m.name.push_back({Segment::kExeFull, ""});
          } else if (var.starts_with(".Matches.") && var.size() > 9) {
            m.name.push_back({Segment::kMatch, var.substr(9)});
          } else if (var == ".Cgroup" || var == ".Pod" || var == ".Unit") {
            m.name.push_back({var == ".Cgroup" ? Segment::kCgroup
                              : var == ".Pod"  ? Segment::kPod
                                               : Segment::kUnit,
                              ""});
          } else {
            options.FailAt(option, kv.second,
                           "unknown template variable {{" + var +
                               "}} (use .Comm, .ExeBase, .ExeFull, .Matches.<name>, .Cgroup, "
                               ".Pod or .Unit)");
          }
          pos = close + 2;
        }
      } else if (key == "comm") {
        m.comm = strings(kv.second);
      } else if (key == "exe") {
        m.exe = strings(kv.second);
      } else if (key == "cmdline") {
        const auto list = strings(kv.second);
        for (const auto& re : list) {
          Matcher::Pattern p;
          try {
            std::string plain = StripNamedGroups(re, &p.names);
            p.re = std::regex(plain, std::regex::ECMAScript | std::regex::optimize);
            for (std::size_t i = 1; i <= p.re.mark_count(); ++i) {
              capture_names.insert(std::to_string(i));
            }
            for (const auto& [n, idx] : p.names) capture_names.insert(n);
          } catch (const std::exception& e) {
            options.FailAt(option, kv.second,
                           "invalid regular expression \"" + re + "\": " + e.what());
          }
          m.cmdline.push_back(std::move(p));
        }
      } else {
        options.FailAt(option, kv.first,
                       "unknown key \"" + key + "\" (expected name, comm, exe, cmdline)");
      }
    }
    if (!has_name) options.FailAt(option, g, "a matcher needs a name template");
    if (m.name.size() == 1 && m.name[0].kind == Segment::kLiteral &&
        m.name[0].text == kOverflowGroup) {
      options.FailAt(
          option, g,
          "\"" + std::string(kOverflowGroup) + "\" is the overflow group's name; choose another");
    }
    for (const auto& s : m.name) {
      if (s.kind == Segment::kMatch && !capture_names.count(s.text)) {
        options.FailAt(option, g,
                       "{{.Matches." + s.text + "}} names no capture of this matcher's cmdline");
      }
    }
    out.matchers_.push_back(std::move(m));
  }
  return out;
}

std::string ProcessMatchers::MatchProcess(const PidReader& reader, int pid, std::string_view comm,
                                          std::string& buf) const {
  std::string exe, cmdline, cgroup;
  bool exe_loaded = false, cmdline_loaded = false, cgroup_loaded = false;
  Facts facts{comm,
              [&]() -> const std::string& {
                if (!exe_loaded) {
                  exe = reader.ReadLink(pid, "exe");
                  // A deleted executable reads "path (deleted)".
                  if (exe.ends_with(" (deleted)")) exe.resize(exe.size() - 10);
                  exe_loaded = true;
                }
                return exe;
              },
              [&]() -> const std::string& {
                if (!cmdline_loaded) {
                  if (reader.Read(pid, "cmdline", buf, true) == ReadStatus::kOk) {
                    for (const auto& a : SplitCmdline(buf)) {
                      if (!cmdline.empty()) cmdline += ' ';
                      cmdline += a;
                    }
                  }
                  cmdline_loaded = true;
                }
                return cmdline;
              },
              [&]() -> const std::string& {
                if (!cgroup_loaded) {
                  if (reader.Read(pid, "cgroup", buf, true) == ReadStatus::kOk) {
                    try {
                      cgroup = ProcPidCgroupPath(buf);
                    } catch (const ParseError&) {
                      cgroup.clear();  // an unknown layout names no cgroup
                    }
                  }
                  cgroup_loaded = true;
                }
                return cgroup;
              }};
  return Match(facts);
}

std::string ProcessMatchers::Match(const Facts& f) const {
  for (const auto& m : matchers_) {
    if (!m.comm.empty() && std::find(m.comm.begin(), m.comm.end(), f.comm) == m.comm.end()) {
      continue;
    }
    if (!m.exe.empty()) {
      const std::string& exe = f.exe();
      bool any = false;
      for (const auto& e : m.exe) {
        if (e.find('/') != std::string::npos ? exe == e : BaseName(exe) == e) any = true;
      }
      if (!any) continue;
    }
    std::map<std::string, std::string> captures;
    bool all = true;
    for (const auto& p : m.cmdline) {
      std::smatch sm;
      const std::string& cl = f.cmdline();
      if (!std::regex_search(cl, sm, p.re)) {
        all = false;
        break;
      }
      for (std::size_t i = 1; i < sm.size(); ++i) captures[std::to_string(i)] = sm[i].str();
      for (const auto& [n, idx] : p.names) captures[n] = sm[idx].str();
    }
    if (!all) continue;
    std::string name;
    for (const auto& s : m.name) {
      switch (s.kind) {
        case Segment::kLiteral:
          name += s.text;
          break;
        case Segment::kComm:
          name += f.comm;
          break;
        case Segment::kExeBase:
          name += BaseName(f.exe());
          break;
        case Segment::kExeFull:
          name += f.exe();
          break;
        case Segment::kMatch: {
          auto it = captures.find(s.text);
          if (it != captures.end()) name += it->second;
          break;
        }
        case Segment::kCgroup:
        case Segment::kPod:
        case Segment::kUnit:
          name += CgroupTemplateValue(s.kind == Segment::kCgroup ? 0
                                      : s.kind == Segment::kPod  ? 1
                                                                 : 2,
                                      f.cgroup ? f.cgroup() : std::string());
          break;
      }
    }
    return name;
  }
  return {};
}

void GroupPlaces::Update(const std::map<std::string, std::uint64_t>& present,
                         Clock::time_point now) {
  ++updates_;
  dropped_.clear();
  for (auto it = places_.begin(); it != places_.end();) {
    if (present.count(it->first)) {
      it->second = now;
    } else if (idle_ > Clock::duration::zero() && now - it->second >= idle_) {
      dropped_.push_back(it->first);
      it = places_.erase(it);
      continue;
    }
    ++it;
  }
  // Waiting names keep their arrival while they have processes; one that has none waits no
  // more (it has no series of its own, nothing to keep).
  std::erase_if(waiting_, [&](const auto& kv) { return !present.count(kv.first); });
  for (const auto& [name, resident] : present) {
    if (!places_.count(name)) waiting_.try_emplace(name, Waiting{updates_, now});
  }
  std::size_t free = max_ == 0               ? waiting_.size()
                     : places_.size() < max_ ? max_ - places_.size()
                                             : 0;
  if (free > 0 && !waiting_.empty()) {
    std::vector<std::pair<std::string, Waiting>> order(waiting_.begin(), waiting_.end());
    std::sort(order.begin(), order.end(), [&](const auto& a, const auto& b) {
      if (a.second.arrival != b.second.arrival) return a.second.arrival < b.second.arrival;
      std::uint64_t ra = present.at(a.first), rb = present.at(b.first);
      if (ra != rb) return ra > rb;
      return a.first < b.first;
    });
    for (std::size_t i = 0; i < order.size() && i < free; ++i) {
      places_[order[i].first] = now;
      waiting_.erase(order[i].first);
    }
  }
  folded_ = waiting_.size();
}

std::optional<std::chrono::seconds> ParseDurationText(std::string_view text) {
  text = parse::Trim(text);
  if (text.empty()) return std::nullopt;
  std::uint64_t n = 0;
  std::size_t i = 0;
  for (; i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])); ++i) {
    if (n > 1000000000) return std::nullopt;
    n = n * 10 + static_cast<std::uint64_t>(text[i] - '0');
  }
  if (i == 0) return std::nullopt;
  std::string_view unit = text.substr(i);
  std::uint64_t mult = 0;
  if (unit == "s" || (unit.empty() && n == 0)) {
    mult = 1;
  } else if (unit == "m") {
    mult = 60;
  } else if (unit == "h") {
    mult = 3600;
  } else if (unit == "d") {
    mult = 86400;
  } else {
    return std::nullopt;
  }
  return std::chrono::seconds(static_cast<std::int64_t>(n * mult));
}

namespace {

struct GroupSums {
  std::uint64_t procs = 0;
  std::uint64_t minflt = 0;  // carried + live
  std::uint64_t majflt = 0;
  std::uint64_t resident = 0;
  std::uint64_t swap = 0;
  std::uint64_t hugetlb = 0;
  std::uint64_t anon_huge = 0;
  std::uint64_t ksm_merging = 0;
  std::int64_t ksm_profit = 0;
  std::uint64_t locked = 0;
  std::uint64_t pinned = 0;
  std::map<std::pair<int, std::uint64_t>, std::uint64_t> hugetlb_nodes;  // (node, size) -> bytes
  std::uint64_t sampled_processes = 0;  // whose per-node figures are sampled estimates
  std::uint64_t sample_pages = 0;       // addresses asked for them
};

// One walk of /proc/<pid>/numa_maps for both hugetlb_numa and numa_locality; nullopt when the
// process exited, the file is denied or malformed (reported).
std::optional<ProcPidNumaMaps> ReadNumaMaps(const Context& ctx, const PidReader& reader,
                                            const ProcessEntry& p, std::string& buf,
                                            MetricSink& out) {
  if (ReadWalk(ctx, reader, p.pid, WalkFile::kNumaMaps, buf) != ReadStatus::kOk) {
    return std::nullopt;
  }
  try {
    return ParseProcPidNumaMaps(buf);
  } catch (const ParseError& e) {
    out.Fail(FileLineError(reader.Path(p.pid, "numa_maps"), e));
    return std::nullopt;
  }
}

void AddHugetlbNodes(const ProcPidNumaMaps& m, GroupSums& g) {
  for (const auto& [key, pages] : m.huge_pages) g.hugetlb_nodes[key] += pages * key.second;
}

// With hugetlb_numa or numa_locality: how much of the group's per-node figures this scrape are
// sampled estimates (only for groups that have some).
void EmitSampled(const std::string& group, const GroupSums& g, MetricSink& out) {
  if (g.sampled_processes == 0) return;
  out.Gauge("pagescope_process_placement_sampled_processes",
            "Processes of the group whose per-node figures (hugetlb_numa, numa_locality) are "
            "estimated from a move_pages sample in this scrape: too long to walk.",
            {{"group", group}}, static_cast<double>(g.sampled_processes));
  out.Gauge("pagescope_process_placement_sample_pages",
            "Pages of those processes asked of the kernel (move_pages) for the estimate: a "
            "node's share is within 0.98/sqrt(present pages) at 95 %.",
            {{"group", group}}, static_cast<double>(g.sample_pages));
}

void EmitHugetlbNodes(const std::string& group, const GroupSums& g, MetricSink& out) {
  for (const auto& [key, bytes] : g.hugetlb_nodes) {
    out.Gauge("pagescope_process_hugetlb_node_bytes",
              "HugeTLB memory of the group's processes faulted in on this NUMA node, by page size "
              "(numa_maps huge mappings; with hugetlb_numa: true).",
              {{"group", group},
               {"node", std::to_string(key.first)},
               {"page_size", parse::PageSizeLabel(key.second)}},
              static_cast<double>(bytes));
  }
}

// VmLck and VmPin of one process into its group's sums; true when the kernel prints them.
bool AddLockedAndPinned(GroupSums& g, const ProcPidStatus& status) {
  g.locked += status.vm_lck.value_or(0);
  g.pinned += status.vm_pin.value_or(0);
  return status.vm_lck.has_value() || status.vm_pin.has_value();
}

void EmitLockedPinnedAndKsmProfit(const Labels& l, const GroupSums& g, bool locked_known,
                                  bool ksm_known, MetricSink& out) {
  if (locked_known) {
    out.Gauge("pagescope_process_locked_bytes",
              "Memory the group's processes locked with mlock() (status VmLck): never reclaimed "
              "or swapped.",
              l, static_cast<double>(g.locked));
    out.Gauge("pagescope_process_pinned_bytes",
              "Memory of the group's processes pinned by the kernel for devices (status VmPin: "
              "VFIO passthrough, RDMA, io_uring fixed buffers): cannot move, be reclaimed or "
              "compacted.",
              l, static_cast<double>(g.pinned));
  }
  if (ksm_known) {
    out.Gauge("pagescope_process_ksm_profit_bytes",
              "Memory KSM saves for the group's processes minus its rmap overhead (ksm_stat "
              "ksm_process_profit; can be negative). 0 while KSM has merged no page at all: "
              "ksm_stat is then not read per process.",
              l, static_cast<double>(g.ksm_profit));
  }
}

// Minor and major faults (stat minflt, majflt) of a process, or what it counted of them.
struct Faults {
  std::uint64_t minor = 0;
  std::uint64_t major = 0;
  static Faults Of(const ProcessEntry& p) { return {p.stat.minflt, p.stat.majflt}; }
  Faults operator-(const Faults& o) const { return {minor - o.minor, major - o.major}; }
  Faults& operator+=(const Faults& o) {
    minor += o.minor;
    major += o.major;
    return *this;
  }
};

class ProcessesCollector : public Collector {
 public:
  ProcessesCollector(ProcessMatchers matchers, WalkRule rule, bool smaps, SmapsGuard::Limits limits,
                     std::size_t max_groups, GroupPlaces::Clock::duration idle,
                     std::function<GroupPlaces::Clock::time_point()> now, GroupLocality locality)
      : locality_(std::move(locality)),
        matchers_(std::move(matchers)),
        rule_(rule),
        smaps_(smaps),
        guard_(limits),
        places_(max_groups, idle),
        idle_(idle),
        now_(std::move(now)) {
    overflow_ = GroupIndex(std::string(kOverflowGroup));
  }

  void Collect(const Context& ctx, MetricSink& out) override {
    // One scrape at a time updates the carried counters (scrapes may run concurrently).
    std::lock_guard lock(mu_);
    const ProcessTable& table = ScanProcesses(ctx, source_.get());
    // Cut by the scrape's deadline (the scraper fails the collector): a partial table would
    // retire the processes it lacks, and partial sums would make counters go backwards.
    if (table.expired || ctx.Expired()) return;
    for (const auto& e : table.errors) out.Fail(e);
    vanished_ += table.vanished;
    denied_ += table.denied;
    Scrape s(ctx, table);
    if (smaps_) s.smaps.emplace(ctx);
    if (hugetlb_numa_max_ > 0 || locality_.enabled()) {
      ctx.DeclareWalks("numa_maps", {"done", "sampled", "cached", "skipped", "deferred"});
    }
    ReadKsmState(ctx, s, out);
    const std::vector<Live*> lives = MatchGroups(s);
    RetireExited();
    const auto now = now_();
    UpdatePlaces(s.present, now);
    for (std::size_t i = 0; i < table.processes.size(); ++i) {
      // A process not counted now keeps its last figures; nothing is emitted (partial sums).
      if (ctx.Expired()) return;
      CountProcess(ctx, s, table.processes[i], *lives[i], out);
    }
    ExpireOverflow(s.any_overflow, now);
    AddCarried(s.groups);
    if (smaps_) guard_.Retain(s.alive);
    EmitGroups(s, out);
    EmitTotals(ctx, s, out);
    CompactNames();
  }

 private:
  // Small on purpose: one per process, kept between scrapes (ProcStates adds its key, comm hash
  // and generation).
  struct Live {
    std::uint32_t group = kNoGroup;       // index into group_names_: the group it matches
    std::uint32_t counted_in = kNoGroup;  // that group, or the overflow group
    Faults last;                          // at the last scrape that saw it
    Faults base;                          // counted before joining the group
  };
  static constexpr std::uint32_t kNoGroup = 0xffffffffu;

  // What one scrape gathers on its way through the steps of Collect.
  struct Scrape {
    Scrape(const Context& ctx, const ProcessTable& t) : table(t), reader(ctx) {}
    const ProcessTable& table;
    PidReader reader;
    const std::uint64_t page_size = SystemPageSize();
    bool ksm_known = false;      // the KSM counters exist
    bool ksm_read_each = false;  // KSM merged something: ksm_stat of every process
    bool ksm_probed = false;     // else one ksm_stat read tells whether the file has the fields
    std::map<std::string, std::uint64_t> present;  // group -> resident bytes, for the places
    std::map<std::string, GroupSums> groups;
    bool any_hugetlb = false;
    bool any_locked = false;
    bool any_ksm_file = false;
    bool any_ksm_profit = false;
    bool any_overflow = false;
    long long hugetlb_numa_reads = 0;  // numa_maps walks for hugetlb_numa alone
    std::optional<SmapsGuard::Scrape> smaps;
    std::vector<ProcKey> alive;  // for the smaps cache
  };

  // KSM: per-process merging pages can only be non-zero when KSM merged something.
  void ReadKsmState(const Context& ctx, Scrape& s, MetricSink& out) const {
    auto ksm_dir = ctx.fs().Sys("kernel/mm/ksm");
    std::optional<std::uint64_t> shared = ReadU64File(ctx, ksm_dir / "pages_shared", out);
    std::optional<std::uint64_t> sharing = ReadU64File(ctx, ksm_dir / "pages_sharing", out);
    s.ksm_known = shared.has_value() && sharing.has_value();
    s.ksm_read_each = s.ksm_known && (*shared + *sharing) > 0;
  }

  // Pass 1: the group each process matches (found when the process is new or ran exec), and
  // the resident bytes of the groups that have processes now.
  std::vector<Live*> MatchGroups(Scrape& s) {
    std::vector<Live*> lives;
    lives.reserve(s.table.processes.size());
    if (smaps_) s.alive.reserve(s.table.processes.size());
    live_.Begin();
    for (const auto& p : s.table.processes) {
      auto seen = live_.See(p);
      Live& live = seen.state;
      lives.push_back(&live);
      if (seen.fresh()) {
        std::string group = matchers_.MatchProcess(s.reader, p.pid, p.stat.comm, buf_);
        if (seen.exec) {
          // Same process, new comm (exec): faults so far stay with the old group.
          Carry(live);
          live.counted_in = kNoGroup;
          live.base = Faults::Of(p);
        }
        live.group = GroupIndex(group);
      }
      if (live.group != kNoGroup && live.group != overflow_) {
        s.present[group_names_[live.group]] += p.stat.rss_pages * s.page_size;
      }
    }
    return lives;
  }

  // What a process counted in its group until its last scrape stays with the group.
  void Carry(const Live& l) {
    if (l.counted_in != kNoGroup) carried_[l.counted_in] += l.last - l.base;
  }

  // Processes gone since the last scrape: their counts stay with their group (before groups are
  // dropped: a group is dropped only after its last process has gone).
  void RetireExited() {
    live_.End([this](const ProcKey&, const Live& l) { Carry(l); });
  }

  void UpdatePlaces(const std::map<std::string, std::uint64_t>& present,
                    GroupPlaces::Clock::time_point now) {
    places_.Update(present, now);
    for (const auto& name : places_.dropped()) {
      if (auto it = group_index_.find(name); it != group_index_.end()) carried_.erase(it->second);
      ++dropped_total_;
    }
  }

  // The group a process counts in now: its own when that holds a place, else the overflow.
  // A process whose group got a place leaves the overflow: what it counted there stays there;
  // its new group counts from now.
  void MoveToTarget(const ProcessEntry& p, Live& live) {
    std::uint32_t target = kNoGroup;
    if (live.group != kNoGroup) {
      target = live.group != overflow_ && places_.Placed(group_names_[live.group]) ? live.group
                                                                                   : overflow_;
    }
    if (target == live.counted_in) return;
    if (live.counted_in != kNoGroup) {
      carried_[live.counted_in] += Faults::Of(p) - live.base;
      live.base = Faults::Of(p);
    }
    if (target == overflow_) ++folded_total_;
    live.counted_in = target;
  }

  // Pass 2: count the process in its group, or in the overflow group.
  void CountProcess(const Context& ctx, Scrape& s, const ProcessEntry& p, Live& live,
                    MetricSink& out) {
    if (smaps_) s.alive.push_back(KeyOf(p));
    MoveToTarget(p, live);
    live.last = Faults::Of(p);
    if (live.counted_in == kNoGroup) return;
    if (live.counted_in == overflow_) s.any_overflow = true;
    const std::string& name = group_names_[live.counted_in];
    GroupSums& g = s.groups[name];
    AddNumaMaps(ctx, s, p, name, g, out);
    ++g.procs;
    const Faults counted = live.last - live.base;
    g.minflt += counted.minor;
    g.majflt += counted.major;
    g.resident += p.stat.rss_pages * s.page_size;
    g.swap += p.status.vm_swap.value_or(0);
    s.any_locked |= AddLockedAndPinned(g, p.status);
    if (p.status.hugetlb_pages) {
      s.any_hugetlb = true;
      g.hugetlb += *p.status.hugetlb_pages;
    }
    if (smaps_) {
      auto r = guard_.Get(ctx, s.reader, *s.smaps, p, buf_);
      if (r) g.anon_huge += r->anon_huge_pages.value_or(0);
    }
    AddKsmStat(s, p, g, out);
  }

  // numa_maps at most once per process, for hugetlb_numa and numa_locality, when the walk rule
  // allows it (and, for hugetlb_numa alone, within hugetlb_numa_max_processes per scrape); a
  // sampled estimate instead when it does not (proctable/placement.h).
  void AddNumaMaps(const Context& ctx, Scrape& s, const ProcessEntry& p, const std::string& name,
                   GroupSums& g, MetricSink& out) {
    const bool locality = locality_.enabled() && locality_.Wants(name);
    const bool hugetlb_nodes =
        hugetlb_numa_max_ > 0 && p.status.hugetlb_pages && *p.status.hugetlb_pages > 0;
    if (!locality && !hugetlb_nodes) return;
    std::optional<ProcPidNumaMaps> numa;
    std::optional<PlacementEstimate> estimate;
    const WalkSize size = WalkSizeOf(p, s.page_size, HugetlbEntrySize(ctx));
    if (!ctx.Expired() && (!rule_.Allows(WalkFile::kNumaMaps, size) ||
                           (locality && numa_max_resident_ != 0 &&
                            p.stat.rss_pages * s.page_size > numa_max_resident_))) {
      estimate = samples_.Estimate(ctx, p);
      if (estimate) {
        ++g.sampled_processes;
        g.sample_pages += estimate->asked;
      } else {
        ctx.CountWalk("numa_maps", "skipped");
      }
    } else if (ctx.Expired() || (!locality && s.hugetlb_numa_reads >= hugetlb_numa_max_)) {
      ctx.CountWalk("numa_maps", "deferred");
    } else {
      if (!locality) ++s.hugetlb_numa_reads;
      numa = ReadNumaMaps(ctx, s.reader, p, buf_, out);
    }
    if (hugetlb_nodes && numa) AddHugetlbNodes(*numa, g);
    if (hugetlb_nodes && estimate) {
      for (const auto& [key, bytes] : estimate->hugetlb) g.hugetlb_nodes[key] += bytes;
    }
    if (locality) {
      locality_.Add(ctx, s.reader, p, name, numa ? &*numa : nullptr,
                    estimate ? &estimate->memory : nullptr, buf_);
    }
  }

  void AddKsmStat(Scrape& s, const ProcessEntry& p, GroupSums& g, MetricSink& out) {
    if (!s.ksm_known || (!s.ksm_read_each && s.ksm_probed)) return;
    s.ksm_probed = true;
    if (s.reader.Read(p.pid, "ksm_stat", buf_, true) != ReadStatus::kOk) return;
    try {
      // Kernels before 6.4 write only ksm_rmap_items here: then no series, not a 0;
      // ksm_process_profit came later still.
      auto ksm = ParseProcPidKsmStat(buf_);
      if (ksm.merging_pages) {
        s.any_ksm_file = true;
        g.ksm_merging += *ksm.merging_pages;
      }
      if (ksm.process_profit) {
        s.any_ksm_profit = true;
        g.ksm_profit += *ksm.process_profit;
      }
    } catch (const ParseError& e) {
      out.Fail(FileLineError(s.reader.Path(p.pid, "ksm_stat"), e));
    }
  }

  // The overflow group goes like any other when nothing was folded for the idle time.
  void ExpireOverflow(bool any_overflow, GroupPlaces::Clock::time_point now) {
    if (any_overflow) {
      overflow_seen_ = now;
    } else if (idle_ > GroupPlaces::Clock::duration::zero() && carried_.count(overflow_) &&
               now - overflow_seen_ >= idle_) {
      carried_.erase(overflow_);
    }
  }

  void AddCarried(std::map<std::string, GroupSums>& groups) const {
    for (const auto& [index, c] : carried_) {
      GroupSums& g = groups[group_names_[index]];
      g.minflt += c.minor;
      g.majflt += c.major;
    }
  }

  void EmitGroups(const Scrape& s, MetricSink& out) const {
    for (const auto& [name, g] : s.groups) {
      Labels l{{"group", name}};
      out.Gauge("pagescope_process_num_procs", "Processes in the group.", l,
                static_cast<double>(g.procs));
      out.Counter("pagescope_process_minor_faults_total",
                  "Minor page faults of the group's processes (stat minflt); includes what "
                  "exited processes had counted, so it never goes backwards.",
                  l, static_cast<double>(g.minflt));
      out.Counter("pagescope_process_major_faults_total",
                  "Major page faults of the group's processes (stat majflt); includes what "
                  "exited processes had counted, so it never goes backwards.",
                  l, static_cast<double>(g.majflt));
      out.Gauge("pagescope_process_resident_bytes",
                "Resident memory of the group (stat rss times the page size; hugetlb pages "
                "are not included).",
                l, static_cast<double>(g.resident));
      out.Gauge("pagescope_process_swap_bytes", "Swapped-out memory of the group (status VmSwap).",
                l, static_cast<double>(g.swap));
      if (s.any_hugetlb) {
        out.Gauge("pagescope_process_hugetlb_bytes",
                  "HugeTLB memory mapped by the group (status HugetlbPages).", l,
                  static_cast<double>(g.hugetlb));
      }
      if (smaps_) {
        out.Gauge("pagescope_process_anon_huge_pages_bytes",
                  "Anonymous transparent hugepages of the group (smaps_rollup AnonHugePages; "
                  "processes skipped by the smaps guards count with their last value or 0).",
                  l, static_cast<double>(g.anon_huge));
      }
      if (s.ksm_known && s.any_ksm_file) {
        out.Gauge("pagescope_process_ksm_merging_pages",
                  "Pages of the group merged by KSM (ksm_stat ksm_merging_pages).", l,
                  static_cast<double>(g.ksm_merging));
      }
      EmitLockedPinnedAndKsmProfit(l, g, s.any_locked, s.ksm_known && s.any_ksm_profit, out);
      EmitHugetlbNodes(name, g, out);
      EmitSampled(name, g, out);
    }
  }

  void EmitTotals(const Context& ctx, const Scrape& s, MetricSink& out) {
    // A procfs without processes (a fixture tree, a wrong --path.procfs) gives no series.
    if (s.table.processes.empty() && vanished_ == 0 && denied_ == 0) return;
    out.Counter("pagescope_process_vanished_total",
                "Processes that exited while being read (not an error).", {},
                static_cast<double>(vanished_));
    out.Counter("pagescope_process_read_denied_total",
                "Per-process files pagescope was not allowed to read (hidepid, other users).", {},
                static_cast<double>(denied_));
    out.Gauge("pagescope_process_groups",
              "Process groups holding one of the max_groups places (the overflow group not "
              "included).",
              {}, static_cast<double>(places_.size()));
    out.Gauge("pagescope_process_folded_groups",
              "Group names whose processes are now counted in the overflow group \"" +
                  std::string(kOverflowGroup) + "\" because max_groups places are taken.",
              {}, static_cast<double>(places_.folded()));
    out.Counter("pagescope_process_folded_processes_total",
                "Processes put into the overflow group (when first seen, or after an exec).", {},
                static_cast<double>(folded_total_));
    out.Counter("pagescope_process_groups_dropped_total",
                "Process groups dropped after idle_timeout without a process (their series go).",
                {}, static_cast<double>(dropped_total_));
    locality_.Emit(ctx, out);
  }

  std::uint32_t GroupIndex(const std::string& name) {
    if (name.empty()) return kNoGroup;
    auto [it, inserted] =
        group_index_.emplace(name, static_cast<std::uint32_t>(group_names_.size()));
    if (inserted) group_names_.push_back(name);
    return it->second;
  }
  // Names no process or carried counter refers to any more are forgotten, so a stream of
  // one-off names (ids in a template capture) does not grow memory.
  void CompactNames() {
    std::size_t used_estimate = carried_.size() + 2 * places_.size() + 64;
    if (group_names_.size() < 2 * used_estimate + live_.size() / 4) return;
    std::vector<std::uint32_t> remap(group_names_.size(), kNoGroup);
    std::vector<std::string> names;
    auto keep = [&](std::uint32_t i) {
      if (i == kNoGroup) return i;
      if (remap[i] == kNoGroup) {
        remap[i] = static_cast<std::uint32_t>(names.size());
        names.push_back(group_names_[i]);
      }
      return remap[i];
    };
    overflow_ = keep(overflow_);
    live_.ForEach([&](const ProcKey&, Live& l) {
      l.group = keep(l.group);
      l.counted_in = keep(l.counted_in);
    });
    std::map<std::uint32_t, Faults> carried;
    for (const auto& [i, c] : carried_) carried[keep(i)] = c;
    carried_ = std::move(carried);
    group_names_ = std::move(names);
    group_index_.clear();
    for (std::uint32_t i = 0; i < group_names_.size(); ++i) group_index_[group_names_[i]] = i;
  }
  GroupLocality locality_;
  std::vector<std::string> group_names_;
  std::unordered_map<std::string, std::uint32_t> group_index_;
  ProcessMatchers matchers_;
  WalkRule rule_;
  SampleCache samples_;
  bool smaps_;
  SmapsGuard guard_;
  std::mutex mu_;
  ProcStates<Live> live_;
  std::map<std::uint32_t, Faults> carried_;  // group -> what processes counted and left
  std::uint64_t vanished_ = 0;
  std::uint64_t denied_ = 0;

 public:
  long long hugetlb_numa_max_ = 0;       // 0: off (the hugetlb_numa option)
  std::uint64_t numa_max_resident_ = 0;  // the deprecated numa_max_resident; 0: not set
  // Where the table comes from (the source and status_interval_seconds options); the qemu and
  // tlb collectors of the scrape share it (ScanProcesses).
  std::shared_ptr<const ProcessSource> source_;

 private:
  std::string buf_;
  GroupPlaces places_;
  GroupPlaces::Clock::duration idle_;
  std::function<GroupPlaces::Clock::time_point()> now_;
  std::uint32_t overflow_ = kNoGroup;
  GroupPlaces::Clock::time_point overflow_seen_{};
  std::uint64_t folded_total_ = 0;
  std::uint64_t dropped_total_ = 0;
};

}  // namespace

static std::shared_ptr<const ProcessSource> MakeProcessSource(
    const CollectorOptions& o, const std::function<GroupPlaces::Clock::time_point()>& now) {
  const std::string source = o.String("source");
  if (source == "procfs") {
    long long interval = o.Int("status_interval_seconds");
    if (interval < 0 || interval > 86400) {
      o.Fail("status_interval_seconds", "must be between 0 and 86400");
    }
    auto cache = std::make_shared<StatusCache>(std::chrono::seconds(interval), now);
    return std::make_shared<ProcessSource>(ProcessSource{
        "procfs",
        [cache](const Context& ctx, ProcessTable& t) { WalkProcfs(ctx, t, cache.get()); }});
  }
  if (source != "bpf") o.Fail("source", "expected procfs or bpf, got \"" + source + "\"");
  // Opened once, here: a failure stops start-up (no silent fall-back to /proc).
  auto bpf = std::make_shared<BpfTaskSource>();
  std::string error;
  if (!bpf->Open(error)) o.Fail("source", "bpf: cannot load the BPF task iterator: " + error);
  // The iterator's table, completed from /proc with what the kernel keeps from the iterator.
  auto table = std::make_shared<BpfProcessTable>(bpf);
  return std::make_shared<ProcessSource>(
      ProcessSource{"bpf", [table](const Context& ctx, ProcessTable& t) { table->Fill(ctx, t); }});
}

std::unique_ptr<Collector> MakeProcessesCollector(
    const CollectorOptions& o, std::function<GroupPlaces::Clock::time_point()> now) {
  auto matchers = ProcessMatchers::FromYaml(o, "groups", o.Yaml("groups"));
  const WalkRule rule = WalkRuleFromOptions(o);
  SmapsGuard::Limits limits = SmapsLimitsFromOptions(o, rule);
  long long max_groups = o.Int("max_groups");
  if (max_groups < 0 || max_groups > 100000) o.Fail("max_groups", "must be between 0 and 100000");
  auto idle = ParseDurationText(o.String("idle_timeout"));
  if (!idle) o.Fail("idle_timeout", "expected a duration such as 10m, 1h or 0 (never)");
  const std::uint64_t numa_max_resident = DeprecatedResidentLimit(o, "numa_max_resident");
  long long numa_max_threads = o.Int("numa_max_threads");
  if (numa_max_threads < 1 || numa_max_threads > 1000000) {
    o.Fail("numa_max_threads", "must be between 1 and 1000000");
  }
  GroupLocality locality(GroupLocality::FromYaml(o, "numa_locality", o.Yaml("numa_locality")),
                         static_cast<std::size_t>(numa_max_threads));
  auto source = MakeProcessSource(o, now);  // before `now` moves into the collector
  auto c = std::make_unique<ProcessesCollector>(std::move(matchers), rule, o.Bool("smaps"), limits,
                                                static_cast<std::size_t>(max_groups), *idle,
                                                std::move(now), std::move(locality));
  c->numa_max_resident_ = numa_max_resident;
  c->source_ = std::move(source);
  long long numa_max = o.Int("hugetlb_numa_max_processes");
  if (numa_max < 1) o.Fail("hugetlb_numa_max_processes", "must be at least 1");
  if (o.Bool("hugetlb_numa")) c->hugetlb_numa_max_ = numa_max;
  return c;
}

CollectorSpec ProcessesCollectorSpec() {
  CollectorSpec spec;
  spec.name = "processes";
  spec.default_enabled = true;
  spec.help =
      "Process groups: count, minor and major faults, resident, swap, hugetlb, THP (opt-in), "
      "KSM";
  spec.sources =
      "/proc/<pid>/{stat,status,ksm_stat,smaps_rollup,numa_maps,maps}, move_pages(2) (sampled "
      "placement), bpf(2) task iterator (source=bpf), /proc/loadavg (source=bpf: the kernel's "
      "task count)";
  spec.options = {
      {"groups", OptionType::kYaml, "",
       "List of matchers {name, comm, exe, cmdline}; first match wins. Default: one group per "
       "comm."},
  };
  spec.options.push_back(
      {"max_groups", OptionType::kInt, "50",
       "At most this many groups get series of their own (0: no limit); processes of other "
       "groups are counted in the group \"" +
           std::string(kOverflowGroup) +
           "\". A group keeps its place while it lives; free places go first come."});
  spec.options.push_back(
      {"source", OptionType::kString, "procfs",
       "Where the per-process figures come from: procfs (/proc/<pid>/{stat,status}) or bpf (a "
       "BPF task iterator, one pass over the kernel's tasks; needs root or CAP_BPF and "
       "CAP_PERFMON, kernel 5.8+ with BTF, and a build with BPF; docs/performance.md). With bpf "
       "a new process's exe, cmdline and cgroup are still read from /proc. The qemu and tlb "
       "collectors share the table."});
  spec.options.push_back(
      {"status_interval_seconds", OptionType::kInt, "60",
       "source=procfs: re-read /proc/<pid>/status of a process whose whole stat text is "
       "unchanged since the last scrape (it did not run) only when its status figures are older "
       "than this (0: every scrape). Swap-out/in and hugetlb faults change stat, so they show at "
       "once; an mlock/munlock or an io_uring/VFIO pin of resident memory by a process that then "
       "sleeps without a clock tick of CPU time, or swap-out of shared memory it maps, can leave "
       "VmLck, VmPin or VmSwap up to this many seconds old."});
  spec.options.push_back({"idle_timeout", OptionType::kString, "1h",
                          "Drop a group (and its series) after this long without a process "
                          "(e.g. 10m, 1h; 0: never)."});
  spec.options.push_back(
      {"numa_locality", OptionType::kYaml, "",
       "List of {group, devices}: for these groups, NUMA locality (threads' nodes, memory per "
       "node from numa_maps, memory outside its policy, the nodes of the listed PCI devices; "
       "docs/numa-locality.md)."});
  spec.options.push_back(DeprecatedResidentLimitSpec("numa_max_resident", "processes"));
  spec.options.push_back({"numa_max_threads", OptionType::kInt, "4096",
                          "numa_locality: read at most this many threads per group."});
  spec.options.push_back(WalkMaxOptionSpec());
  for (auto& o : SmapsOptionSpecs("processes", "200")) spec.options.push_back(std::move(o));
  spec.options.push_back(
      {"hugetlb_numa", OptionType::kBool, "false",
       "Export pagescope_process_hugetlb_node_bytes{group, node, page_size} from numa_maps, "
       "walked only for processes that hold hugetlb memory (status HugetlbPages > 0) and "
       "walk_max_ms allows."});
  spec.options.push_back(
      {"hugetlb_numa_max_processes", OptionType::kInt, "64",
       "With hugetlb_numa: at most this many numa_maps walks per scrape for it (of processes "
       "walk_max_ms allows); the rest count in "
       "pagescope_scrape_walks_total{result=\"deferred\"}."});
  // source=bpf loads the BPF task iterator when the collector is made, after privileges are
  // dropped: keep what it needs.
  spec.capabilities_for = [](const CollectorOptions& o) {
    return o.String("source") == "bpf"
               ? std::vector<Capability>{Capability::kBpf, Capability::kPerfmon}
               : std::vector<Capability>{};
  };
  spec.make = [](const CollectorOptions& o) -> std::unique_ptr<Collector> {
    return MakeProcessesCollector(o, [] { return GroupPlaces::Clock::now(); });
  };
  return spec;
}

}  // namespace pagescope
