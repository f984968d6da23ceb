#include "collectors/proc_processes.h"

#include <algorithm>
#include <cctype>
#include <mutex>
#include <set>
#include <stdexcept>
#include <unordered_map>

#include "collectors/parse.h"
#include "collectors/proc_pid.h"
#include "collectors/sysfs.h"

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
            out.needs_exe_ = true;
          } else if (var == ".ExeFull") {
            m.name.push_back({Segment::kExeFull, ""});
            out.needs_exe_ = true;
          } else if (var.starts_with(".Matches.") && var.size() > 9) {
            m.name.push_back({Segment::kMatch, var.substr(9)});
          } else {
            options.FailAt(option, kv.second,
                           "unknown template variable {{" + var +
                               "}} (use .Comm, .ExeBase, .ExeFull or .Matches.<name>)");
          }
          pos = close + 2;
        }
      } else if (key == "comm") {
        m.comm = strings(kv.second);
      } else if (key == "exe") {
        m.exe = strings(kv.second);
        out.needs_exe_ = true;
      } else if (key == "cmdline") {
        out.needs_cmdline_ = true;
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
  std::string exe, cmdline;
  bool exe_loaded = false, cmdline_loaded = false;
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
      }
    }
    return name;
  }
  return {};
}

namespace {

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

struct GroupSums {
  std::uint64_t procs = 0;
  std::uint64_t minflt = 0;  // carried + live
  std::uint64_t majflt = 0;
  std::uint64_t resident = 0;
  std::uint64_t swap = 0;
  std::uint64_t hugetlb = 0;
  std::uint64_t anon_huge = 0;
  std::uint64_t ksm_merging = 0;
};

class ProcessesCollector : public Collector {
 public:
  ProcessesCollector(ProcessMatchers matchers, bool smaps, SmapsGuard::Limits limits)
      : matchers_(std::move(matchers)), smaps_(smaps), guard_(limits) {}

  void Collect(const Context& ctx, MetricSink& out) override {
    // One scrape at a time updates the carried counters (scrapes may run concurrently).
    std::lock_guard lock(mu_);
    const ProcessTable& table = ScanProcesses(ctx);
    for (const auto& e : table.errors) out.Fail(e);
    vanished_ += table.vanished;
    denied_ += table.denied;

    PidReader reader(ctx.fs().procfs());
    const std::uint64_t page_size = SystemPageSize();

    // KSM: per-process merging pages can only be non-zero when KSM merged something.
    auto ksm_dir = ctx.fs().Sys("kernel/mm/ksm");
    std::optional<std::uint64_t> shared = ReadU64File(ctx, ksm_dir / "pages_shared", out);
    std::optional<std::uint64_t> sharing = ReadU64File(ctx, ksm_dir / "pages_sharing", out);
    bool ksm_known = shared.has_value() && sharing.has_value();
    bool ksm_read_each = ksm_known && (*shared + *sharing) > 0;

    // live_ is updated in place (no second map): entries not seen in this scrape are gone.
    ++generation_;
    std::map<std::string, GroupSums> groups;
    bool any_hugetlb = false;
    bool any_ksm_file = false;
    bool ksm_probed = false;
    SmapsGuard::Scrape smaps_scrape;
    std::vector<std::pair<int, std::uint64_t>> alive;
    if (smaps_) alive.reserve(table.processes.size());

    for (const auto& p : table.processes) {
      ProcKey key{p.pid, p.stat.starttime};
      if (smaps_) alive.emplace_back(p.pid, p.stat.starttime);
      auto [it, is_new] = live_.try_emplace(key);
      Live& live = it->second;
      const std::uint64_t comm_hash = std::hash<std::string>()(p.stat.comm);
      if (is_new || live.comm_hash != comm_hash) {
        std::string group = matchers_.MatchProcess(reader, p.pid, p.stat.comm, buf_);
        if (!is_new) {
          // Same process, new comm (exec): faults so far stay with the old group.
          if (live.group != kNoGroup) {
            auto& c = carried_[live.group];
            c.first += live.minflt - live.base_minflt;
            c.second += live.majflt - live.base_majflt;
          }
          live.base_minflt = p.stat.minflt;
          live.base_majflt = p.stat.majflt;
        }
        live.group = GroupIndex(group);
        live.comm_hash = comm_hash;
      }
      live.minflt = p.stat.minflt;
      live.majflt = p.stat.majflt;
      live.generation = generation_;
      if (live.group != kNoGroup) {
        GroupSums& g = groups[group_names_[live.group]];
        ++g.procs;
        g.minflt += live.minflt - live.base_minflt;
        g.majflt += live.majflt - live.base_majflt;
        g.resident += p.stat.rss_pages * page_size;
        g.swap += p.status.vm_swap.value_or(0);
        if (p.status.hugetlb_pages) {
          any_hugetlb = true;
          g.hugetlb += *p.status.hugetlb_pages;
        }
        if (smaps_) {
          auto r = guard_.Get(ctx, reader, smaps_scrape, p, page_size, buf_);
          if (r) g.anon_huge += r->anon_huge_pages.value_or(0);
        }
        if (ksm_known && (ksm_read_each || !ksm_probed)) {
          ksm_probed = true;
          ReadStatus st = reader.Read(p.pid, "ksm_stat", buf_, true);
          if (st == ReadStatus::kOk) {
            try {
              // Kernels before 6.4 write only ksm_rmap_items here: then no series, not a 0.
              auto merging = ParseProcPidKsmStat(buf_).merging_pages;
              if (merging) {
                any_ksm_file = true;
                g.ksm_merging += *merging;
              }
            } catch (const ParseError& e) {
              out.Fail(reader.Path(p.pid, "ksm_stat").string() + ":" + std::to_string(e.line()) +
                       ": " + e.what());
            }
          }
        }
      }
    }
    // Processes gone since the last scrape: their counts stay with their group.
    std::erase_if(live_, [&](const auto& kv) {
      const Live& l = kv.second;
      if (l.generation == generation_) return false;
      if (l.group != kNoGroup) {
        auto& c = carried_[l.group];
        c.first += l.minflt - l.base_minflt;
        c.second += l.majflt - l.base_majflt;
      }
      return true;
    });
    for (const auto& [index, c] : carried_) {
      GroupSums& g = groups[group_names_[index]];
      g.minflt += c.first;
      g.majflt += c.second;
    }
    if (smaps_) guard_.Retain(alive);

    for (const auto& [name, g] : groups) {
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
      if (any_hugetlb) {
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
      if (ksm_known && any_ksm_file) {
        out.Gauge("pagescope_process_ksm_merging_pages",
                  "Pages of the group merged by KSM (ksm_stat ksm_merging_pages).", l,
                  static_cast<double>(g.ksm_merging));
      }
    }
    // A procfs without processes (a fixture tree, a wrong --path.procfs) gives no series.
    if (table.processes.empty() && vanished_ == 0 && denied_ == 0) return;
    out.Counter("pagescope_process_vanished_total",
                "Processes that exited while being read (not an error).", {},
                static_cast<double>(vanished_));
    out.Counter("pagescope_process_read_denied_total",
                "Per-process files pagescope was not allowed to read (hidepid, other users).", {},
                static_cast<double>(denied_));
    if (smaps_) guard_.Emit(out, "pagescope_process");
  }

 private:
  // Small on purpose: one per process, kept between scrapes.
  struct Live {
    std::uint32_t group = kNoGroup;  // index into group_names_
    std::uint32_t generation = 0;    // the scrape that last saw the process
    std::uint64_t comm_hash = 0;     // a new comm (exec) means matching again
    std::uint64_t minflt = 0, majflt = 0;
    std::uint64_t base_minflt = 0, base_majflt = 0;  // counted before joining the group
  };
  static constexpr std::uint32_t kNoGroup = 0xffffffffu;
  std::uint32_t GroupIndex(const std::string& name) {
    if (name.empty()) return kNoGroup;
    auto [it, inserted] =
        group_index_.emplace(name, static_cast<std::uint32_t>(group_names_.size()));
    if (inserted) group_names_.push_back(name);
    return it->second;
  }
  std::vector<std::string> group_names_;
  std::unordered_map<std::string, std::uint32_t> group_index_;
  ProcessMatchers matchers_;
  bool smaps_;
  SmapsGuard guard_;
  std::mutex mu_;
  std::unordered_map<ProcKey, Live, ProcKeyHash> live_;
  std::map<std::uint32_t, std::pair<std::uint64_t, std::uint64_t>> carried_;  // exited min/maj
  std::uint64_t vanished_ = 0;
  std::uint64_t denied_ = 0;
  std::uint32_t generation_ = 0;
  std::string buf_;
};

}  // namespace

CollectorSpec ProcessesCollectorSpec() {
  CollectorSpec spec;
  spec.name = "processes";
  spec.default_enabled = true;
  spec.help =
      "Process groups: count, minor and major faults, resident, swap, hugetlb, THP (opt-in), "
      "KSM";
  spec.sources = "/proc/<pid>/{stat,status,ksm_stat,smaps_rollup}";
  spec.options = {
      {"groups", OptionType::kYaml, "",
       "List of matchers {name, comm, exe, cmdline}; first match wins. Default: one group per "
       "comm."},
  };
  for (auto& o : SmapsOptionSpecs("processes", "8GiB", "200")) spec.options.push_back(std::move(o));
  spec.make = [](const CollectorOptions& o) -> std::unique_ptr<Collector> {
    auto matchers = ProcessMatchers::FromYaml(o, "groups", o.Yaml("groups"));
    SmapsGuard::Limits limits = SmapsLimitsFromOptions(o);
    return std::make_unique<ProcessesCollector>(std::move(matchers), o.Bool("smaps"), limits);
  };
  return spec;
}

}  // namespace pagescope
