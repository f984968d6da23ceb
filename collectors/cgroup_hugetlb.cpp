#include "collectors/cgroup_hugetlb.h"

#include <charconv>
#include <utility>
#include <vector>

#include "kernel/parse.h"
#include "kernel/sys_fs_cgroup.h"
#include "kernel/sysfs.h"

namespace pagescope {

std::string CgroupHugetlbSizeName(std::uint64_t bytes) {
  constexpr std::uint64_t kK = 1ull << 10, kM = 1ull << 20, kG = 1ull << 30;
  if (bytes >= kG) return std::to_string(bytes / kG) + "GB";
  if (bytes >= kM) return std::to_string(bytes / kM) + "MB";
  return std::to_string(bytes / kK) + "KB";
}

std::optional<std::uint64_t> ParseCgroupHugetlbSizeName(std::string_view name) {
  if (name.size() < 3) return std::nullopt;
  std::string_view unit = name.substr(name.size() - 2);
  int shift = unit == "KB" ? 10 : unit == "MB" ? 20 : unit == "GB" ? 30 : -1;
  if (shift < 0) return std::nullopt;
  std::string_view num = name.substr(0, name.size() - 2);
  std::uint64_t v = 0;
  auto [ptr, ec] = std::from_chars(num.data(), num.data() + num.size(), v);
  if (ec != std::errc() || ptr != num.data() + num.size() || v == 0 || v > (UINT64_MAX >> shift)) {
    return std::nullopt;
  }
  return v << shift;
}

std::uint64_t ParseHugetlbEventsMax(std::string_view text) {
  std::optional<std::uint64_t> max;
  parse::ForEachLine(text, [&](std::size_t n, std::string_view line) {
    auto f = parse::Fields(line);
    if (f.empty()) return;
    if (f.size() != 2) throw ParseError(n, "expected \"key value\"");
    std::uint64_t v = parse::U64(f[1], n);
    if (f[0] == "max") max = v;
  });
  if (!max) throw ParseError(1, "no \"max\" line");
  return *max;
}

namespace {

// One size's figures of one cgroup; nullopt: the file is not there (an older kernel) or, for
// limits, there is no limit.
struct SizeFigures {
  std::uint64_t usage = 0;
  std::optional<std::uint64_t> limit;
  std::optional<std::uint64_t> events;
  std::optional<std::uint64_t> reserved;
  std::optional<std::uint64_t> reserved_limit;
  std::optional<std::uint64_t> reserved_events;  // v1 only (rsvd.failcnt)
  // Nothing held, reserved or hit, and no limit above 0, but a limit (kubelet's 0 for a size a
  // pod did not request): only the limit-hit counter, so that the first hit shows as an
  // increase.
  bool counter_only = false;
};

class CgroupHugetlbCollector : public Collector {
 public:
  struct Detail {
    bool numa = false;            // per-node usage
    bool zero_sizes = false;      // sizes a cgroup never used and that are not limited
    bool guest_children = false;  // libvirt's cgroups inside a guest's scope
    bool reservations = false;    // reserved bytes also where they equal the usage
  };
  CgroupHugetlbCollector(CgroupWalkLimits limits, Detail detail)
      : limits_(std::move(limits)), detail_(detail) {}

  void Collect(const Context& ctx, MetricSink& out) override {
    auto hierarchies = FindCgroupHierarchies(ctx, "hugetlb");
    if (hierarchies.empty()) return;

    std::vector<std::uint64_t> sizes;
    if (auto names = ctx.ReadDir(ctx.fs().Sys("kernel/mm/hugepages"))) {
      for (const auto& name : *names) {
        if (auto bytes = parse::HugepageDirBytes(name)) sizes.push_back(*bytes);
      }
    }
    auto stats = WalkCgroups(ctx, hierarchies, limits_,
                             [&](const CgroupHierarchy& h, const std::filesystem::path& dir,
                                 const std::string& rel, int depth) {
                               const bool holds = CollectCgroup(ctx, h, dir, rel, sizes, out);
                               return Descend(h, rel, depth, holds);
                             });
    EmitCgroupWalkStats(out, "pagescope_cgroup_hugetlb", "hugetlb", stats);
  }

 private:
  // A limit file: "max" (v2) or a number at or above kCgroupHugetlbUnlimited is no limit.
  static std::optional<std::uint64_t> ReadLimit(const Context& ctx,
                                                const std::filesystem::path& path,
                                                MetricSink& out) {
    auto text = ctx.ReadQuiet(path);
    if (!text || parse::Trim(*text) == "max") return std::nullopt;
    auto limit = ParseCgroupU64(path, *text, out);
    if (limit && *limit >= kCgroupHugetlbUnlimited) return std::nullopt;
    return limit;
  }

  // The figures of one size, read cheapest first; nullopt when the controller is not enabled
  // for this cgroup (no usage file) or when a size this cgroup does not use, has not reserved,
  // may not use or may use without limit, and never hit a limit of says nothing (no series:
  // the pool's own series cover the size). Kubelet limits every size a pod did not request to
  // 0: such a pod costs nothing for that size until it tries to use it.
  std::optional<SizeFigures> ReadSize(const Context& ctx, bool v2, const std::filesystem::path& dir,
                                      const std::string& prefix, MetricSink& out) const {
    SizeFigures f;
    auto usage = ReadCgroupU64(ctx, dir / (prefix + (v2 ? "current" : "usage_in_bytes")), out);
    if (!usage) return std::nullopt;
    f.usage = *usage;
    if (v2) {
      auto path = dir / (prefix + "events");
      if (auto text = ctx.ReadQuiet(path)) {
        try {
          f.events = ParseFile(path, [&] { return ParseHugetlbEventsMax(*text); });
        } catch (const CollectError& e) {
          out.Fail(e.what());
        }
      }
    } else {
      f.events = ReadCgroupU64(ctx, dir / (prefix + "failcnt"), out);
    }
    f.reserved =
        ReadCgroupU64(ctx, dir / (prefix + (v2 ? "rsvd.current" : "rsvd.usage_in_bytes")), out);
    f.limit = ReadLimit(ctx, dir / (prefix + (v2 ? "max" : "limit_in_bytes")), out);
    f.reserved_limit =
        ReadLimit(ctx, dir / (prefix + (v2 ? "rsvd.max" : "rsvd.limit_in_bytes")), out);
    if (!v2 && f.reserved_limit) {
      f.reserved_events = ReadCgroupU64(ctx, dir / (prefix + "rsvd.failcnt"), out);
    }
    const bool says_something = f.usage > 0 || f.reserved.value_or(0) > 0 ||
                                f.events.value_or(0) > 0 || f.limit.value_or(0) > 0 ||
                                f.reserved_limit.value_or(0) > 0;
    if (!says_something && !detail_.zero_sizes) {
      if (!f.limit || !f.events) return std::nullopt;
      f.counter_only = true;
    }
    return f;
  }

  // Whether the walk reads the cgroups below this one.
  CgroupDescend Descend(const CgroupHierarchy& h, const std::string& rel, int depth,
                        bool holds) const {
    auto id = ParseCgroupIdentity(rel);
    // v2 charges, reservations and limit hits are hierarchical: below a cgroup that holds,
    // reserves and hit the limit of nothing of any size (or has no hugetlb files), nothing
    // does, so a host whose services hold no hugepages pays for system.slice alone. Not in
    // Kubernetes trees: every pod has limits (kubelet's), whose limit-hit counters must be
    // there before their first hit. (Elsewhere idle cgroups with a limit of their own below an
    // idle one are not shown. v1 counts limit hits per cgroup and is walked whole.)
    if (h.v2 && !holds && !detail_.zero_sizes && !id.kubernetes) return CgroupDescend::kNo;
    if (depth == 0) return CgroupDescend::kYes;
    // A guest's scope holds the whole guest; the cgroups libvirt makes inside it
    // (libvirt/emulator, vcpuN) only split it. A systemd unit holds all of its processes'
    // pages; what it delegates below itself is its own. On v2 a pod's figures, limit hits
    // included, hold its containers' (on v1 a hit counts only where it happened).
    if (!detail_.guest_children && !id.vm.empty()) return CgroupDescend::kNo;
    if (id.names_workload && !id.unit.empty()) return CgroupDescend::kNo;
    if (h.v2 && !id.pod.empty()) return CgroupDescend::kNo;
    return CgroupDescend::kYes;
  }

  // Emits the cgroup's series; true when it holds, reserves or hit a limit of any size.
  bool CollectCgroup(const Context& ctx, const CgroupHierarchy& h, const std::filesystem::path& dir,
                     const std::string& cgroup, const std::vector<std::uint64_t>& sizes,
                     MetricSink& out) const {
    bool holds = false;
    for (std::uint64_t size : sizes) {
      std::string prefix = "hugetlb." + CgroupHugetlbSizeName(size) + ".";
      auto f = ReadSize(ctx, h.v2, dir, prefix, out);
      if (!f) continue;
      holds = holds || f->usage > 0 || f->reserved.value_or(0) > 0 || f->events.value_or(0) > 0;
      Labels l = CgroupLabels(cgroup);
      l.emplace_back("page_size", parse::PageSizeLabel(size));
      if (f->counter_only) {
        EmitMaxEvents(l, *f->events, out);
        continue;
      }
      out.Gauge("pagescope_cgroup_hugetlb_usage_bytes",
                "Hugepage memory of this size charged to this cgroup and its descendants "
                "(hugetlb.<size>.current, v1 usage_in_bytes): pages faulted in.",
                l, static_cast<double>(f->usage));
      if (f->limit) {
        out.Gauge("pagescope_cgroup_hugetlb_limit_bytes",
                  "Hugepage memory limit of this size for this cgroup (hugetlb.<size>.max, v1 "
                  "limit_in_bytes); absent when there is no limit.",
                  l, static_cast<double>(*f->limit));
      }
      // Limit hits, where a limit could be hit: the cgroup's own limit, or a count above 0
      // (hierarchical: a descendant's limit).
      if (f->events && (f->limit || *f->events > 0 || detail_.zero_sizes)) {
        EmitMaxEvents(l, *f->events, out);
      }
      // Reservations beyond the pages faulted in: promised at mmap (or shmget) time, not yet
      // touched, and no longer free for anyone else.
      if (f->reserved && (*f->reserved > f->usage || detail_.reservations)) {
        out.Gauge("pagescope_cgroup_hugetlb_reserved_bytes",
                  "Hugepage memory of this size reserved by this cgroup and its descendants "
                  "(hugetlb.<size>.rsvd.current, v1 rsvd.usage_in_bytes): reservations made "
                  "at mmap or shmget time, faulted in or not, plus faults without a "
                  "reservation. By default only where it exceeds the usage (pages reserved "
                  "and not yet faulted in).",
                  l, static_cast<double>(*f->reserved));
      }
      if (f->reserved_limit) {
        out.Gauge("pagescope_cgroup_hugetlb_reserved_limit_bytes",
                  "Hugepage reservation limit of this size for this cgroup "
                  "(hugetlb.<size>.rsvd.max, v1 rsvd.limit_in_bytes): a mapping beyond it "
                  "fails at mmap time; absent when there is no limit.",
                  l, static_cast<double>(*f->reserved_limit));
      }
      if (f->reserved_events) {
        out.Counter("pagescope_cgroup_hugetlb_reserved_max_events_total",
                    "Hugepage reservations of this size that failed on the cgroup's "
                    "reservation limit (v1 hugetlb.<size>.rsvd.failcnt; v2 has no such file); "
                    "where a reservation limit is set.",
                    l, static_cast<double>(*f->reserved_events));
      }
      if (!detail_.numa) continue;
      auto numa_path = dir / (prefix + "numa_stat");
      if (auto text = ctx.ReadQuiet(numa_path)) {
        try {
          auto stat = ParseFile(numa_path, [&] { return ParseHugetlbNumaStat(*text); });
          for (const auto& [node, bytes] : stat.nodes) {
            out.Gauge("pagescope_cgroup_hugetlb_numa_usage_bytes",
                      "Hugepage memory of this size charged to this cgroup and its descendants "
                      "on this NUMA node (hugetlb.<size>.numa_stat).",
                      NodeLabels(cgroup, node, size), static_cast<double>(bytes));
          }
        } catch (const CollectError& e) {
          out.Fail(e.what());
        }
      }
    }
    return holds;
  }

  static void EmitMaxEvents(const Labels& l, std::uint64_t events, MetricSink& out) {
    out.Counter("pagescope_cgroup_hugetlb_max_events_total",
                "Hugepage allocations or reservations of this size that failed on a limit of "
                "this cgroup or its descendants (hugetlb.<size>.events \"max\", v1 failcnt); "
                "where the cgroup has a limit (kubelet's 0 for a size a pod did not request "
                "included) or the count is above 0.",
                l, static_cast<double>(events));
  }

  static Labels NodeLabels(const std::string& cgroup, int node, std::uint64_t size) {
    Labels l = CgroupLabels(cgroup);
    l.emplace_back("node", std::to_string(node));
    l.emplace_back("page_size", parse::PageSizeLabel(size));
    return l;
  }

  CgroupWalkLimits limits_;
  Detail detail_;
};

}  // namespace

CollectorSpec CgroupHugetlbCollectorSpec() {
  CollectorSpec spec;
  spec.name = "cgroup_hugetlb";
  spec.default_enabled = true;
  spec.help =
      "Hugepage usage, reservations, limits and limit hits per page size of the cgroups below "
      "configured parents (guests, pods, systemd services; cgroup v2 and v1 hugetlb "
      "controller)";
  spec.sources =
      "/sys/fs/cgroup/<parent>/**/hugetlb.<size>.{current,max,events,rsvd.current,rsvd.max,"
      "numa_stat}, /sys/fs/cgroup/hugetlb/<parent>/**/hugetlb.<size>.{usage_in_bytes,"
      "limit_in_bytes,failcnt,rsvd.usage_in_bytes,rsvd.limit_in_bytes,rsvd.failcnt,numa_stat}";
  spec.options = CgroupWalkOptions(
      "[machine.slice, machine, kubepods.slice, kubepods, system.slice]", "4", "1000");
  spec.options.push_back(
      {"numa", OptionType::kBool, "false",
       "Also export the usage per NUMA node (numa_stat): one series per cgroup, size and node."});
  spec.options.push_back(
      {"zero_sizes", OptionType::kBool, "false",
       "Also export the sizes a cgroup does not use or reserve, may use without limit and never "
       "hit a limit of, the usage and limit of sizes it may not use (limit 0, as kubelet sets "
       "for the sizes a pod did not request: by default only their limit-hit counter), and "
       "the limit-hit counter of cgroups without a limit."});
  spec.options.push_back(
      {"reservations", OptionType::kBool, "false",
       "Also export pagescope_cgroup_hugetlb_reserved_bytes where the reservations equal the "
       "usage (every page reserved is faulted in: a preallocated guest): one more series per "
       "cgroup and size in use. By default it is there only where reservations exceed the "
       "usage."});
  spec.options.push_back(
      {"guest_children", OptionType::kBool, "false",
       "Also read the cgroups libvirt makes inside a guest's scope (libvirt/emulator, vcpuN); "
       "the scope already holds all of the guest's hugepages."});
  spec.make = [](const CollectorOptions& options) -> std::unique_ptr<Collector> {
    CgroupHugetlbCollector::Detail detail;
    detail.numa = options.Bool("numa");
    detail.zero_sizes = options.Bool("zero_sizes");
    detail.guest_children = options.Bool("guest_children");
    detail.reservations = options.Bool("reservations");
    return std::make_unique<CgroupHugetlbCollector>(ParseCgroupWalkOptions(options), detail);
  };
  return spec;
}

}  // namespace pagescope
