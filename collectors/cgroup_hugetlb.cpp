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

class CgroupHugetlbCollector : public Collector {
 public:
  struct Detail {
    bool numa = false;            // per-node usage
    bool zero_sizes = false;      // sizes a cgroup never used and that are not limited
    bool guest_children = false;  // libvirt's cgroups inside a guest's scope
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
    auto stats = WalkCgroups(
        ctx, hierarchies, limits_,
        [&](const CgroupHierarchy& h, const std::filesystem::path& dir, const std::string& rel,
            int depth) {
          CollectCgroup(ctx, h, dir, rel, sizes, out);
          // Hugetlb is charged hierarchically: a guest's scope holds the whole guest; the
          // cgroups libvirt makes inside it (libvirt/emulator, vcpuN) only split it.
          if (!detail_.guest_children && depth > 0 && !ParseCgroupIdentity(rel).vm.empty()) {
            return CgroupDescend::kNo;
          }
          return CgroupDescend::kYes;
        });
    EmitCgroupWalkStats(out, "pagescope_cgroup_hugetlb", "hugetlb", stats);
  }

 private:
  void CollectCgroup(const Context& ctx, const CgroupHierarchy& h, const std::filesystem::path& dir,
                     const std::string& cgroup, const std::vector<std::uint64_t>& sizes,
                     MetricSink& out) const {
    for (std::uint64_t size : sizes) {
      std::string prefix = "hugetlb." + CgroupHugetlbSizeName(size) + ".";
      Labels l = CgroupLabels(cgroup);
      l.emplace_back("page_size", parse::PageSizeLabel(size));
      auto usage = ReadCgroupU64(ctx, dir / (prefix + (h.v2 ? "current" : "usage_in_bytes")), out);
      if (!usage) continue;  // the controller is not enabled for this cgroup
      std::optional<std::uint64_t> limit;
      if (h.v2) {
        auto path = dir / (prefix + "max");
        auto text = ctx.ReadQuiet(path);
        if (text && parse::Trim(*text) != "max") limit = ParseCgroupU64(path, *text, out);
      } else {
        limit = ReadCgroupU64(ctx, dir / (prefix + "limit_in_bytes"), out);
      }
      if (limit && *limit >= kCgroupHugetlbUnlimited) limit.reset();
      // Copied out: GCC 12 sees the optional as maybe uninitialized below.
      const bool has_limit = limit.has_value();
      const std::uint64_t limit_bytes = limit.value_or(0);
      std::optional<std::uint64_t> events;
      if (h.v2) {
        auto path = dir / (prefix + "events");
        if (auto text = ctx.ReadQuiet(path)) {
          try {
            events = ParseFile(path, [&] { return ParseHugetlbEventsMax(*text); });
          } catch (const CollectError& e) {
            out.Fail(e.what());
          }
        }
      } else {
        events = ReadCgroupU64(ctx, dir / (prefix + "failcnt"), out);
      }
      // A size this cgroup does not use, may use without limit and never hit a limit of says
      // nothing: no series (the pool's own series cover the size).
      if (!detail_.zero_sizes && *usage == 0 && !has_limit && events.value_or(0) == 0) continue;
      out.Gauge("pagescope_cgroup_hugetlb_usage_bytes",
                "Hugepage memory of this size charged to this cgroup and its descendants "
                "(hugetlb.<size>.current, v1 usage_in_bytes).",
                l, static_cast<double>(*usage));
      if (has_limit) {
        out.Gauge("pagescope_cgroup_hugetlb_limit_bytes",
                  "Hugepage memory limit of this size for this cgroup (hugetlb.<size>.max, v1 "
                  "limit_in_bytes); absent when there is no limit.",
                  l, static_cast<double>(limit_bytes));
      }
      if (events) {
        out.Counter("pagescope_cgroup_hugetlb_max_events_total",
                    "Hugepage allocations of this size that failed on the cgroup's limit "
                    "(hugetlb.<size>.events \"max\", v1 failcnt).",
                    l, static_cast<double>(*events));
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
      "Hugepage usage, limit and limit hits per page size of the cgroups below configured "
      "parents (cgroup v2 and v1 hugetlb controller)";
  spec.sources =
      "/sys/fs/cgroup/<parent>/**/hugetlb.<size>.{current,max,events,numa_stat}, "
      "/sys/fs/cgroup/hugetlb/<parent>/**/hugetlb.<size>.{usage_in_bytes,limit_in_bytes,"
      "failcnt,numa_stat}";
  spec.options =
      CgroupWalkOptions("[machine.slice, machine, kubepods.slice, kubepods]", "4", "1000");
  spec.options.push_back(
      {"numa", OptionType::kBool, "false",
       "Also export the usage per NUMA node (numa_stat): one series per cgroup, size and node."});
  spec.options.push_back(
      {"zero_sizes", OptionType::kBool, "false",
       "Also export the sizes a cgroup does not use, has no limit for and never hit a limit "
       "of."});
  spec.options.push_back(
      {"guest_children", OptionType::kBool, "false",
       "Also read the cgroups libvirt makes inside a guest's scope (libvirt/emulator, vcpuN); "
       "the scope already holds all of the guest's hugepages."});
  spec.make = [](const CollectorOptions& options) -> std::unique_ptr<Collector> {
    CgroupHugetlbCollector::Detail detail;
    detail.numa = options.Bool("numa");
    detail.zero_sizes = options.Bool("zero_sizes");
    detail.guest_children = options.Bool("guest_children");
    return std::make_unique<CgroupHugetlbCollector>(ParseCgroupWalkOptions(options), detail);
  };
  return spec;
}

}  // namespace pagescope
