#include "collectors/cgroup_hugetlb.h"

#include <charconv>
#include <deque>
#include <set>
#include <vector>

#include "collectors/parse.h"
#include "collectors/sysfs.h"

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

HugetlbNumaStat ParseHugetlbNumaStat(std::string_view text) {
  std::optional<HugetlbNumaStat> local, hierarchical;
  parse::ForEachLine(text, [&](std::size_t n, std::string_view line) {
    auto f = parse::Fields(line);
    if (f.empty()) return;
    HugetlbNumaStat s;
    bool is_hierarchical = false;
    bool have_total = false;
    for (std::string_view token : f) {
      auto eq = token.find('=');
      if (eq == std::string_view::npos) {
        throw ParseError(n, "expected key=value, got \"" + std::string(token) + "\"");
      }
      std::string_view key = token.substr(0, eq);
      std::uint64_t v = parse::U64(token.substr(eq + 1), n);
      if (key == "total" || key == "hierarchical_total") {
        if (have_total) throw ParseError(n, "two totals on one line");
        have_total = true;
        is_hierarchical = key == "hierarchical_total";
        s.total = v;
      } else if (auto id = key.size() > 1 && key[0] == 'N'
                               ? parse::NodeDirId("node" + std::string(key.substr(1)))
                               : std::nullopt) {
        s.nodes[*id] = v;
      } else {
        throw ParseError(n, "unknown key \"" + std::string(key) + "\"");
      }
    }
    if (!have_total) throw ParseError(n, "no total");
    (is_hierarchical ? hierarchical : local) = std::move(s);
  });
  if (hierarchical) return *hierarchical;
  if (local) return *local;
  throw ParseError(1, "empty");
}

namespace {

struct Hierarchy {
  std::filesystem::path root;
  bool v2 = false;
};

struct Pending {
  const Hierarchy* hierarchy;
  std::string rel;  // relative to the hierarchy's root
  int depth;
};

class CgroupHugetlbCollector : public Collector {
 public:
  struct Detail {
    bool numa = false;            // per-node usage
    bool zero_sizes = false;      // sizes a cgroup never used and that are not limited
    bool guest_children = false;  // libvirt's cgroups inside a guest's scope
  };
  CgroupHugetlbCollector(std::vector<std::string> parents, int max_depth, long long max_cgroups,
                         Detail detail)
      : parents_(std::move(parents)),
        max_depth_(max_depth),
        max_cgroups_(max_cgroups),
        detail_(detail) {}

  void Collect(const Context& ctx, MetricSink& out) override {
    std::vector<Hierarchy> hierarchies;
    // cgroup v2, mounted at /sys/fs/cgroup or (hybrid) /sys/fs/cgroup/unified; only when the
    // hugetlb controller is bound to it.
    for (const char* rel : {"fs/cgroup", "fs/cgroup/unified"}) {
      auto root = ctx.fs().Sys(rel);
      auto controllers = ctx.ReadQuiet(root / "cgroup.controllers");
      if (!controllers) continue;
      for (auto c : parse::Fields(parse::Trim(*controllers))) {
        if (c == "hugetlb") hierarchies.push_back({root, true});
      }
      break;
    }
    // cgroup v1: its own hierarchy.
    auto v1 = ctx.fs().Sys("fs/cgroup/hugetlb");
    if (FsRoot::ReadSubdirs(v1).status == ReadStatus::kOk) hierarchies.push_back({v1, false});
    if (hierarchies.empty()) return;

    std::vector<std::uint64_t> sizes;
    if (auto names = ctx.ReadDir(ctx.fs().Sys("kernel/mm/hugepages"))) {
      for (const auto& name : *names) {
        if (auto bytes = parse::HugepageDirBytes(name)) sizes.push_back(*bytes);
      }
    }

    std::deque<Pending> queue;
    for (const auto& h : hierarchies) {
      for (const auto& p : parents_) queue.push_back({&h, p, 0});
    }
    std::set<std::pair<const Hierarchy*, std::string>> seen;
    long long scanned = 0, skipped_depth = 0, skipped_count = 0;
    while (!queue.empty()) {
      Pending p = std::move(queue.front());
      queue.pop_front();
      if (!seen.insert({p.hierarchy, p.rel}).second) continue;
      auto dir = p.hierarchy->root / p.rel;
      if (scanned >= max_cgroups_ && p.depth > 0) {
        ++skipped_count;
        continue;
      }
      auto children = p.depth == 0 ? ctx.ReadSubdirs(dir) : ReadSubdirsQuiet(dir);
      if (!children) continue;  // a configured parent that is not there, or a vanished cgroup
      if (scanned >= max_cgroups_) {
        ++skipped_count;
        continue;
      }
      ++scanned;
      CollectCgroup(ctx, *p.hierarchy, dir, p.rel, sizes, out);
      if (!detail_.guest_children && p.depth > 0 && IsGuestScope(p.rel)) continue;
      if (p.depth >= max_depth_) {
        skipped_depth += static_cast<long long>(children->size());
        continue;
      }
      for (const auto& c : *children) queue.push_back({p.hierarchy, p.rel + "/" + c, p.depth + 1});
    }
    out.Gauge("pagescope_cgroup_hugetlb_scanned_cgroups",
              "Cgroups whose hugetlb files were read in this scrape.", {},
              static_cast<double>(scanned));
    out.Gauge("pagescope_cgroup_hugetlb_skipped_cgroups",
              "Cgroups below the configured parents left out in this scrape: deeper than "
              "max_depth (their own children not counted) or beyond max_cgroups.",
              {{"reason", "max_depth"}}, static_cast<double>(skipped_depth));
    out.Gauge("pagescope_cgroup_hugetlb_skipped_cgroups",
              "Cgroups below the configured parents left out in this scrape: deeper than "
              "max_depth (their own children not counted) or beyond max_cgroups.",
              {{"reason", "max_cgroups"}}, static_cast<double>(skipped_count));
  }

 private:
  static std::optional<std::vector<std::string>> ReadSubdirsQuiet(
      const std::filesystem::path& dir) {
    auto r = FsRoot::ReadSubdirs(dir);
    if (r.status != ReadStatus::kOk) return std::nullopt;
    return std::move(r.names);
  }

  // A libvirt guest's cgroup: machine-qemu\x2d<id>\x2d<name>.scope (v2, systemd) or
  // <name>.libvirt-qemu (v1). Hugetlb is charged hierarchically, so the scope holds the whole
  // guest; the cgroups libvirt makes inside it (libvirt/emulator, vcpuN) only split it.
  static bool IsGuestScope(std::string_view rel) {
    auto slash = rel.rfind('/');
    std::string_view name = slash == std::string_view::npos ? rel : rel.substr(slash + 1);
    return (name.starts_with("machine-qemu") && name.ends_with(".scope")) ||
           name.ends_with(".libvirt-qemu");
  }

  void CollectCgroup(const Context& ctx, const Hierarchy& h, const std::filesystem::path& dir,
                     const std::string& cgroup, const std::vector<std::uint64_t>& sizes,
                     MetricSink& out) const {
    for (std::uint64_t size : sizes) {
      std::string prefix = "hugetlb." + CgroupHugetlbSizeName(size) + ".";
      Labels l{{"cgroup", cgroup}, {"page_size", parse::PageSizeLabel(size)}};
      auto usage = ReadU64Quiet(ctx, dir / (prefix + (h.v2 ? "current" : "usage_in_bytes")), out);
      if (!usage) continue;  // the controller is not enabled for this cgroup
      std::optional<std::uint64_t> limit;
      if (h.v2) {
        auto path = dir / (prefix + "max");
        auto text = ctx.ReadQuiet(path);
        if (text && parse::Trim(*text) != "max") limit = ParseU64(path, *text, out);
      } else {
        limit = ReadU64Quiet(ctx, dir / (prefix + "limit_in_bytes"), out);
      }
      if (limit && *limit >= kCgroupHugetlbUnlimited) limit.reset();
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
        events = ReadU64Quiet(ctx, dir / (prefix + "failcnt"), out);
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
      auto numa_path = dir / (prefix + "numa_stat");
      if (!detail_.numa) continue;
      if (auto text = ctx.ReadQuiet(numa_path)) {
        try {
          auto stat = ParseFile(numa_path, [&] { return ParseHugetlbNumaStat(*text); });
          for (const auto& [node, bytes] : stat.nodes) {
            out.Gauge("pagescope_cgroup_hugetlb_numa_usage_bytes",
                      "Hugepage memory of this size charged to this cgroup and its descendants "
                      "on this NUMA node (hugetlb.<size>.numa_stat).",
                      {{"cgroup", cgroup},
                       {"node", std::to_string(node)},
                       {"page_size", parse::PageSizeLabel(size)}},
                      static_cast<double>(bytes));
          }
        } catch (const CollectError& e) {
          out.Fail(e.what());
        }
      }
    }
  }

  // Cgroups come and go: a missing file is no series and no log line.
  static std::optional<std::uint64_t> ReadU64Quiet(const Context& ctx,
                                                   const std::filesystem::path& path,
                                                   MetricSink& out) {
    auto text = ctx.ReadQuiet(path);
    if (!text) return std::nullopt;
    return ParseU64(path, *text, out);
  }

  static std::optional<std::uint64_t> ParseU64(const std::filesystem::path& path,
                                               const std::string& text, MetricSink& out) {
    try {
      return ParseFile(path, [&] { return parse::SingleU64(text); });
    } catch (const CollectError& e) {
      out.Fail(e.what());
      return std::nullopt;
    }
  }

  std::vector<std::string> parents_;
  int max_depth_;
  long long max_cgroups_;
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
  spec.options = {
      {"parents", OptionType::kStringList, "[machine.slice, machine, kubepods.slice, kubepods]",
       "Cgroups, relative to the cgroup root, whose subtrees are read (libvirt: machine.slice "
       "or machine; Kubernetes: kubepods.slice or kubepods)."},
      {"max_depth", OptionType::kInt, "4",
       "How many levels below each parent are read (0: the parent only)."},
      {"max_cgroups", OptionType::kInt, "1000",
       "At most this many cgroups are read per scrape, shallowest first."},
      {"numa", OptionType::kBool, "false",
       "Also export the usage per NUMA node (numa_stat): one series per cgroup, size and node."},
      {"zero_sizes", OptionType::kBool, "false",
       "Also export the sizes a cgroup does not use, has no limit for and never hit a limit "
       "of."},
      {"guest_children", OptionType::kBool, "false",
       "Also read the cgroups libvirt makes inside a guest's scope (libvirt/emulator, vcpuN); "
       "the scope already holds all of the guest's hugepages."},
  };
  spec.make = [](const CollectorOptions& options) -> std::unique_ptr<Collector> {
    std::vector<std::string> parents;
    for (auto p : options.StringList("parents")) {
      while (!p.empty() && p.front() == '/') p.erase(0, 1);
      while (!p.empty() && p.back() == '/') p.pop_back();
      if (p.empty()) options.Fail("parents", "empty parent path");
      if (p == ".." || p.starts_with("../") || p.ends_with("/..") ||
          p.find("/../") != std::string::npos) {
        options.Fail("parents", "\"" + p + "\" leaves the cgroup tree");
      }
      parents.push_back(p);
    }
    long long depth = options.Int("max_depth");
    if (depth < 0 || depth > 64) options.Fail("max_depth", "must be between 0 and 64");
    long long count = options.Int("max_cgroups");
    if (count < 1) options.Fail("max_cgroups", "must be at least 1");
    CgroupHugetlbCollector::Detail detail;
    detail.numa = options.Bool("numa");
    detail.zero_sizes = options.Bool("zero_sizes");
    detail.guest_children = options.Bool("guest_children");
    return std::make_unique<CgroupHugetlbCollector>(std::move(parents), static_cast<int>(depth),
                                                    count, detail);
  };
  return spec;
}

}  // namespace pagescope
