#include "collectors/cgroup_memory.h"

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "collectors/pressure.h"
#include "collectors/vmstat.h"
#include "kernel/parse.h"
#include "kernel/sys_fs_cgroup.h"
#include "kernel/sysfs.h"

namespace pagescope {

namespace {
// PAGE_COUNTER_MAX pages in bytes is just below 2^63; anything at or above 2^62 is "no limit".
constexpr std::uint64_t kUnlimited = 1ull << 62;
// How deep below a pod, guest or unit v1 OOM kills are summed (containers sit one level below
// a pod, libvirt's cgroups two below a guest's scope).
constexpr int kV1OomDepth = 4;
}  // namespace

std::optional<std::uint64_t> ParseCgroupMemoryLimit(std::string_view text) {
  auto t = parse::Trim(text);
  if (t == "max") return std::nullopt;
  std::uint64_t v = parse::SingleU64(text);
  if (v >= kUnlimited) return std::nullopt;
  return v;
}

namespace {

constexpr const char* kUsageHelp =
    "Memory charged to this cgroup and its descendants (memory.current, v1 "
    "memory.usage_in_bytes).";
constexpr const char* kLimitHelp =
    "Memory limit of this cgroup (memory.max, memory.high: throttling and reclaim above it, "
    "memory.low and memory.min: protection; v1 memory.limit_in_bytes as max); absent when not "
    "set.";
constexpr const char* kEventsHelp =
    "Memory events of this cgroup and its descendants (memory.events: low, high = throttled "
    "above memory.high, max = reached memory.max, oom, oom_kill = processes killed by any OOM "
    "killer, the host's included, oom_group_kill; v1 memory.failcnt as max, and the "
    "memory.oom_control oom_kill of the cgroup and the cgroups below it). By default oom_kill "
    "for every pod, guest and unit (not the slices above them), high where memory.high is set "
    "and max where memory.max is set.";
constexpr const char* kSwapHelp =
    "Swap used by this cgroup and its descendants (memory.swap.current; v1 "
    "memory.memsw.usage_in_bytes minus memory.usage_in_bytes).";

// memory.stat lines exported with the stat option: the paging ones. Bytes (gauges) or event
// counts (counters). v1 spells them total_<name> (hierarchical) and calls anon_thp rss_huge.
struct StatField {
  const char* v2;
  const char* v1;  // nullptr when v1 has no such line
  bool counter;
};
constexpr StatField kStatFields[] = {
    {"anon_thp", "total_rss_huge", false},
    {"file_thp", nullptr, false},
    {"shmem_thp", nullptr, false},
    {"swapcached", nullptr, false},
    {"zswap", nullptr, false},
    {"zswapped", nullptr, false},
    {"pgfault", "total_pgfault", true},
    {"pgmajfault", "total_pgmajfault", true},
    {"pgscan", nullptr, true},
    {"pgsteal", nullptr, true},
    {"pswpin", nullptr, true},
    {"pswpout", nullptr, true},
    {"zswpin", nullptr, true},
    {"zswpout", nullptr, true},
    {"thp_fault_alloc", nullptr, true},
    {"thp_collapse_alloc", nullptr, true},
    {"workingset_refault_anon", nullptr, true},
    {"workingset_refault_file", nullptr, true},
    {"workingset_activate_anon", nullptr, true},
    {"workingset_activate_file", nullptr, true},
};

struct Options {
  CgroupWalkLimits walk;
  bool containers = false;
  bool limits = false;
  bool events = false;
  bool swap = false;
  bool stat = false;
  bool pressure_full = false;
};

class CgroupMemoryCollector : public Collector {
 public:
  explicit CgroupMemoryCollector(Options o) : o_(std::move(o)) {}

  void Collect(const Context& ctx, MetricSink& out) override {
    auto hierarchies = FindCgroupHierarchies(ctx, "memory");
    if (hierarchies.empty()) return;
    const auto unified = ctx.fs().Sys("fs/cgroup/unified");
    auto stats = WalkCgroups(ctx, hierarchies, o_.walk,
                             [&](const CgroupHierarchy& h, const std::filesystem::path& dir,
                                 const std::string& rel, int) {
                               auto id = ParseCgroupIdentity(rel);
                               if (!id.container.empty() && !o_.containers)
                                 return CgroupDescend::kNo;
                               if (h.v2) {
                                 CollectV2(ctx, dir, rel, id.names_workload, out);
                               } else {
                                 CollectV1(ctx, dir, rel, unified / rel, id.names_workload, out);
                               }
                               // A guest's scope is the guest; a pod's containers only on request.
                               if (!id.vm.empty() || !id.container.empty())
                                 return CgroupDescend::kNo;
                               if (!id.pod.empty() && !o_.containers) return CgroupDescend::kNo;
                               return CgroupDescend::kYes;
                             });
    EmitCgroupWalkStats(out, "pagescope_cgroup_memory", "memory controller", stats);
  }

 private:
  static Labels With(const Labels& l, const char* key, const char* value) {
    Labels r = l;
    r.emplace_back(key, value);
    return r;
  }

  static std::optional<std::uint64_t> ReadLimit(const Context& ctx,
                                                const std::filesystem::path& path,
                                                MetricSink& out) {
    auto text = ctx.ReadQuiet(path);
    if (!text) return std::nullopt;
    return ParseOrFail(path, out, [&] { return ParseCgroupMemoryLimit(*text); })
        .value_or(std::nullopt);
  }

  static std::optional<std::map<std::string, std::uint64_t>> ReadKeyed(
      const Context& ctx, const std::filesystem::path& path, MetricSink& out) {
    auto text = ctx.ReadQuiet(path);
    if (!text) return std::nullopt;
    auto entries = ParseOrFail(path, out, [&] { return ParseVmstat(*text); });
    if (!entries) return std::nullopt;
    std::map<std::string, std::uint64_t> m;
    for (auto& e : *entries) m[e.name] = e.value;
    return m;
  }

  void EmitLimit(const Labels& l, const char* which, std::optional<std::uint64_t> v,
                 MetricSink& out) const {
    if (v)
      out.Gauge("pagescope_cgroup_memory_limit_bytes", kLimitHelp, With(l, "limit", which),
                static_cast<double>(*v));
  }

  void EmitEvent(const Labels& l, const char* event, std::uint64_t v, MetricSink& out) const {
    out.Counter("pagescope_cgroup_memory_events_total", kEventsHelp, With(l, "event", event),
                static_cast<double>(v));
  }

  void EmitPressure(const Context& ctx, const std::filesystem::path& path, const Labels& l,
                    MetricSink& out) const {
    auto text = ctx.ReadQuiet(path);
    if (!text) return;
    auto t = ParseOrFail(path, out, [&] { return ParsePressure(*text); });
    if (!t) return;
    if (t->some_us) {
      out.Counter("pagescope_cgroup_pressure_memory_some_seconds_total",
                  "Time in which at least one task of this cgroup was stalled waiting for memory "
                  "(memory.pressure some total).",
                  l, static_cast<double>(*t->some_us) / 1e6);
    }
    if (t->full_us && o_.pressure_full) {
      out.Counter("pagescope_cgroup_pressure_memory_full_seconds_total",
                  "Time in which all non-idle tasks of this cgroup were stalled waiting for "
                  "memory at once (memory.pressure full total).",
                  l, static_cast<double>(*t->full_us) / 1e6);
    }
  }

  void EmitStat(const std::map<std::string, std::uint64_t>& stat, bool v2, const Labels& l,
                MetricSink& out) const {
    for (const auto& f : kStatFields) {
      const char* key = v2 ? f.v2 : f.v1;
      if (!key) continue;
      auto it = stat.find(key);
      if (it == stat.end()) continue;
      std::string name = std::string("pagescope_cgroup_memory_stat_") + f.v2;
      std::string help = std::string("memory.stat ") + key + " of this cgroup and its descendants";
      if (f.counter) {
        out.Counter(name + "_total", help + " (events).", l, static_cast<double>(it->second));
      } else {
        out.Gauge(name + "_bytes", help + ".", l, static_cast<double>(it->second));
      }
    }
  }

  // v1 counts an OOM kill only in the cgroup of the task killed (v2 counts it in every
  // ancestor too): the kills of the cgroups below `dir`, so that a pod's figure includes its
  // containers' as on v2. One memory.oom_control read per cgroup below.
  static std::uint64_t SumV1OomKillsBelow(const Context& ctx, const std::filesystem::path& dir,
                                          int depth_left, MetricSink& out) {
    std::uint64_t sum = 0;
    if (depth_left <= 0) return sum;
    auto children = ctx.TryReadSubdirs(dir);
    if (!children) return sum;
    for (const auto& c : *children) {
      if (auto oom = ReadKeyed(ctx, dir / c / "memory.oom_control", out)) {
        if (auto it = oom->find("oom_kill"); it != oom->end()) sum += it->second;
      }
      sum += SumV1OomKillsBelow(ctx, dir / c, depth_left - 1, out);
    }
    return sum;
  }

  void CollectV2(const Context& ctx, const std::filesystem::path& dir, const std::string& rel,
                 bool names_workload, MetricSink& out) const {
    auto usage = ReadCgroupU64(ctx, dir / "memory.current", out);
    if (!usage) return;  // the root, or the controller is not enabled here
    Labels l = CgroupLabels(rel);
    out.Gauge("pagescope_cgroup_memory_usage_bytes", kUsageHelp, l, static_cast<double>(*usage));
    auto max = ReadLimit(ctx, dir / "memory.max", out);
    auto high = ReadLimit(ctx, dir / "memory.high", out);
    EmitLimit(l, "max", max, out);
    EmitLimit(l, "high", high, out);
    if (o_.limits) {
      for (const char* which : {"low", "min"}) {
        auto v = ReadLimit(ctx, dir / (std::string("memory.") + which), out);
        if (v && *v > 0) EmitLimit(l, which, v, out);
      }
    }
    if (auto events = ReadKeyed(ctx, dir / "memory.events", out)) {
      for (const auto& [event, v] : *events) {
        // By default: the OOM kills of every pod, guest and unit, with or without a limit of
        // its own (the host's OOM killer picks processes of unlimited cgroups first; the slices
        // above repeat their children's kills), and the events of the cgroup's own limits.
        bool lean = (event == "oom_kill" && names_workload) || (event == "high" && high) ||
                    (event == "max" && max);
        if (lean || o_.events) EmitEvent(l, event.c_str(), v, out);
      }
    }
    EmitPressure(ctx, dir / "memory.pressure", l, out);
    if (o_.swap) {
      if (auto swap = ReadCgroupU64(ctx, dir / "memory.swap.current", out)) {
        out.Gauge("pagescope_cgroup_memory_swap_usage_bytes", kSwapHelp, l,
                  static_cast<double>(*swap));
      }
    }
    if (o_.stat) {
      if (auto stat = ReadKeyed(ctx, dir / "memory.stat", out)) EmitStat(*stat, true, l, out);
    }
  }

  void CollectV1(const Context& ctx, const std::filesystem::path& dir, const std::string& rel,
                 const std::filesystem::path& unified_dir, bool names_workload,
                 MetricSink& out) const {
    auto usage = ReadCgroupU64(ctx, dir / "memory.usage_in_bytes", out);
    if (!usage) return;
    Labels l = CgroupLabels(rel);
    out.Gauge("pagescope_cgroup_memory_usage_bytes", kUsageHelp, l, static_cast<double>(*usage));
    auto max = ReadLimit(ctx, dir / "memory.limit_in_bytes", out);
    EmitLimit(l, "max", max, out);
    if (max || o_.events) {
      if (auto failcnt = ReadCgroupU64(ctx, dir / "memory.failcnt", out)) {
        EmitEvent(l, "max", *failcnt, out);
      }
    }
    if (names_workload || o_.events) {
      if (auto oom = ReadKeyed(ctx, dir / "memory.oom_control", out)) {
        if (auto it = oom->find("oom_kill"); it != oom->end()) {
          // A pod's, guest's or unit's kills include those of the cgroups below it, as on v2.
          std::uint64_t kills = it->second;
          if (names_workload) kills += SumV1OomKillsBelow(ctx, dir, kV1OomDepth, out);
          EmitEvent(l, "oom_kill", kills, out);
        }
      }
    }
    // Hybrid hosts account PSI per cgroup in the unified hierarchy, where systemd mirrors the
    // same paths.
    EmitPressure(ctx, unified_dir / "memory.pressure", l, out);
    if (o_.swap) {
      if (auto memsw = ReadCgroupU64(ctx, dir / "memory.memsw.usage_in_bytes", out)) {
        out.Gauge("pagescope_cgroup_memory_swap_usage_bytes", kSwapHelp, l,
                  *memsw > *usage ? static_cast<double>(*memsw - *usage) : 0.0);
      }
    }
    if (o_.stat) {
      if (auto stat = ReadKeyed(ctx, dir / "memory.stat", out)) EmitStat(*stat, false, l, out);
    }
  }

  Options o_;
};

}  // namespace

CollectorSpec CgroupMemoryCollectorSpec() {
  CollectorSpec spec;
  spec.name = "cgroup_memory";
  spec.default_enabled = true;
  spec.help =
      "Memory usage, limits, limit and OOM events and pressure of the cgroups below configured "
      "parents (libvirt guests, Kubernetes pods, systemd services; cgroup v2 and v1), labelled "
      "with the pod, guest or unit the path names";
  spec.sources =
      "/sys/fs/cgroup/<parent>/**/memory.{current,max,high,low,min,swap.current,events,"
      "pressure,stat}, /sys/fs/cgroup/memory/<parent>/**/memory.{usage_in_bytes,limit_in_bytes,"
      "failcnt,oom_control,memsw.usage_in_bytes,stat}";
  spec.options = CgroupWalkOptions(
      "[machine.slice, machine, kubepods.slice, kubepods, system.slice]", "3", "500");
  spec.options.push_back(
      {"containers", OptionType::kBool, "false",
       "Also read the container cgroups inside Kubernetes pods (label container): each costs "
       "what a pod costs (3 to 7 series by default)."});
  spec.options.push_back(
      {"limits", OptionType::kBool, "false",
       "Also export memory.low and memory.min where set (limit=\"low|min\"): up to 2 more "
       "series per cgroup. memory.max and memory.high are always exported where set."});
  spec.options.push_back(
      {"events", OptionType::kBool, "false",
       "Export every memory.events line (low, high, max, oom, oom_kill, oom_group_kill; v1 "
       "failcnt and oom_kill) for every cgroup, slices included: up to 6 series per cgroup "
       "instead of oom_kill for pods, guests and units, high where memory.high is set and max "
       "where memory.max is set. On v1 a slice's oom_kill counts only its own tasks."});
  spec.options.push_back(
      {"pressure_full", OptionType::kBool, "false",
       "Also export pagescope_cgroup_pressure_memory_full_seconds_total (memory.pressure full): "
       "1 more series per cgroup."});
  spec.options.push_back({"swap", OptionType::kBool, "false",
                          "Also export memory.swap.current: 1 more series per cgroup."});
  spec.options.push_back(
      {"stat", OptionType::kBool, "false",
       "Also export the paging lines of memory.stat (pagescope_cgroup_memory_stat_*: THP, "
       "swap cache, zswap, faults, scans, steals, swap-ins and -outs, THP allocations, "
       "refaults, activations): up to 20 more series per cgroup on v2, 3 on v1."});
  spec.make = [](const CollectorOptions& options) -> std::unique_ptr<Collector> {
    Options o;
    o.walk = ParseCgroupWalkOptions(options);
    o.containers = options.Bool("containers");
    o.limits = options.Bool("limits");
    o.events = options.Bool("events");
    o.swap = options.Bool("swap");
    o.stat = options.Bool("stat");
    o.pressure_full = options.Bool("pressure_full");
    return std::make_unique<CgroupMemoryCollector>(std::move(o));
  };
  return spec;
}

}  // namespace pagescope
