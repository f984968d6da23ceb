#include "kernel/sys_fs_cgroup.h"

#include <deque>
#include <set>
#include <utility>

#include "kernel/parse.h"
#include "kernel/sysfs.h"

namespace pagescope {

std::vector<CgroupHierarchy> FindCgroupHierarchies(const Context& ctx,
                                                   std::string_view controller) {
  std::vector<CgroupHierarchy> out;
  for (const char* rel : {"fs/cgroup", "fs/cgroup/unified"}) {
    auto root = ctx.fs().Sys(rel);
    auto controllers = ctx.ReadQuiet(root / "cgroup.controllers");
    if (!controllers) continue;
    for (auto c : parse::Fields(parse::Trim(*controllers))) {
      if (c == controller) out.push_back({root, true});
    }
    break;
  }
  auto v1 = ctx.fs().Sys("fs/cgroup") / std::string(controller);
  if (ctx.TryReadSubdirs(v1)) out.push_back({v1, false});
  return out;
}

namespace {

struct Pending {
  const CgroupHierarchy* hierarchy;
  std::string rel;
  int depth;
};

}  // namespace

CgroupWalkStats WalkCgroups(
    const Context& ctx, const std::vector<CgroupHierarchy>& hierarchies,
    const CgroupWalkLimits& limits,
    const std::function<CgroupDescend(const CgroupHierarchy&, const std::filesystem::path&,
                                      const std::string&, int)>& visit) {
  CgroupWalkStats stats;
  std::deque<Pending> queue;
  for (const auto& h : hierarchies) {
    for (const auto& p : limits.parents) queue.push_back({&h, p, 0});
  }
  std::set<std::pair<const CgroupHierarchy*, std::string>> seen;
  while (!queue.empty()) {
    if (ctx.Expired()) {  // the cgroups so far are reported; the scraper fails the collector
      stats.expired = true;
      break;
    }
    Pending p = std::move(queue.front());
    queue.pop_front();
    if (!seen.insert({p.hierarchy, p.rel}).second) continue;
    auto dir = p.hierarchy->root / p.rel;
    if (stats.scanned >= limits.max_cgroups && p.depth > 0) {
      ++stats.skipped_count;
      continue;
    }
    // A configured parent must be there (a missing one is logged at debug level); the cgroups
    // below are listed only when the walk goes below them (a pod, a guest, a unit: not), which
    // saves a directory listing per cgroup. A cgroup that vanished since its parent was listed
    // is visited and gives nothing.
    std::optional<std::vector<std::string>> children;
    if (p.depth == 0) {
      children = ctx.ReadSubdirs(dir);
      if (!children) continue;
    }
    if (stats.scanned >= limits.max_cgroups) {
      ++stats.skipped_count;
      continue;
    }
    ++stats.scanned;
    if (visit(*p.hierarchy, dir, p.rel, p.depth) == CgroupDescend::kNo) continue;
    if (!children) children = ctx.TryReadSubdirs(dir);
    if (!children) continue;
    if (p.depth >= limits.max_depth) {
      stats.skipped_depth += static_cast<long long>(children->size());
      continue;
    }
    for (const auto& c : *children) queue.push_back({p.hierarchy, p.rel + "/" + c, p.depth + 1});
  }
  return stats;
}

std::optional<std::uint64_t> ReadCgroupU64(const Context& ctx, const std::filesystem::path& path,
                                           MetricSink& out) {
  auto text = ctx.ReadQuiet(path);
  if (!text) return std::nullopt;
  return ParseCgroupU64(path, *text, out);
}

std::optional<std::uint64_t> ParseCgroupU64(const std::filesystem::path& path,
                                            const std::string& text, MetricSink& out) {
  return ParseOrFail(path, out, [&] { return parse::SingleU64(text); });
}

void EmitCgroupWalkStats(MetricSink& out, const std::string& prefix, const std::string& files,
                         const CgroupWalkStats& stats) {
  out.Gauge(prefix + "_scanned_cgroups",
            "Cgroups whose " + files + " files were read in this scrape.", {},
            static_cast<double>(stats.scanned));
  const std::string help =
      "Cgroups below the configured parents left out in this scrape: deeper than max_depth "
      "(their own children not counted) or beyond max_cgroups.";
  out.Gauge(prefix + "_skipped_cgroups", help, {{"reason", "max_depth"}},
            static_cast<double>(stats.skipped_depth));
  out.Gauge(prefix + "_skipped_cgroups", help, {{"reason", "max_cgroups"}},
            static_cast<double>(stats.skipped_count));
}

std::vector<OptionSpec> CgroupWalkOptions(const std::string& default_parents,
                                          const std::string& default_max_depth,
                                          const std::string& default_max_cgroups) {
  return {
      {"parents", OptionType::kStringList, default_parents,
       "Cgroups, relative to the cgroup root, whose subtrees are read (libvirt: machine.slice "
       "or machine; Kubernetes: kubepods.slice or kubepods; systemd services: system.slice)."},
      {"max_depth", OptionType::kInt, default_max_depth,
       "How many levels below each parent are read (0: the parent only)."},
      {"max_cgroups", OptionType::kInt, default_max_cgroups,
       "At most this many cgroups are read per scrape, shallowest first."},
  };
}

CgroupWalkLimits ParseCgroupWalkOptions(const CollectorOptions& options) {
  CgroupWalkLimits limits;
  for (auto p : options.StringList("parents")) {
    while (!p.empty() && p.front() == '/') p.erase(0, 1);
    while (!p.empty() && p.back() == '/') p.pop_back();
    if (p.empty()) options.Fail("parents", "empty parent path");
    if (p == ".." || p.starts_with("../") || p.ends_with("/..") ||
        p.find("/../") != std::string::npos) {
      options.Fail("parents", "\"" + p + "\" leaves the cgroup tree");
    }
    limits.parents.push_back(p);
  }
  long long depth = options.Int("max_depth");
  if (depth < 0 || depth > 64) options.Fail("max_depth", "must be between 0 and 64");
  limits.max_depth = static_cast<int>(depth);
  limits.max_cgroups = options.Int("max_cgroups");
  if (limits.max_cgroups < 1) options.Fail("max_cgroups", "must be at least 1");
  return limits;
}

std::string UnescapeSystemd(std::string_view name) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(name.size());
  for (std::size_t i = 0; i < name.size(); ++i) {
    if (name[i] == '\\' && i + 3 < name.size() && name[i + 1] == 'x' && hex(name[i + 2]) >= 0 &&
        hex(name[i + 3]) >= 0) {
      out.push_back(static_cast<char>(hex(name[i + 2]) * 16 + hex(name[i + 3])));
      i += 3;
    } else {
      out.push_back(name[i]);
    }
  }
  return out;
}

namespace {

bool EndsWithUnitSuffix(std::string_view c) {
  for (std::string_view s : {".service", ".scope", ".slice", ".socket", ".mount", ".swap"}) {
    if (c.size() > s.size() && c.ends_with(s)) return true;
  }
  return false;
}

std::string PodUid(std::string_view s) {
  std::string uid(s);
  for (char& c : uid) {
    if (c == '_') c = '-';  // the systemd driver escapes the UID's dashes as underscores
  }
  return uid;
}

}  // namespace

CgroupIdentity ParseCgroupIdentity(std::string_view rel) {
  CgroupIdentity id;
  bool kube = false;          // inside a kubepods tree
  bool kube_systemd = false;  // ... of the systemd driver
  bool libvirt = false;
  std::string unit;
  bool named = false;  // the last component read is the pod, container, guest or unit itself
  while (!rel.empty()) {
    auto slash = rel.find('/');
    std::string_view c = rel.substr(0, slash);
    rel = slash == std::string_view::npos ? std::string_view() : rel.substr(slash + 1);
    if (c.empty()) continue;
    if (!id.container.empty() || !id.vm.empty()) {
      id.below_identity = true;
      named = false;
      break;
    }
    named = false;
    if (c == "kubepods.slice" || c == "kubepods") {
      kube = true;
      kube_systemd = c == "kubepods.slice";
      continue;
    }
    if (kube && kube_systemd && c.starts_with("kubepods-") && c.ends_with(".slice")) {
      // kubepods-burstable.slice, kubepods-burstable-pod<uid>.slice, kubepods-pod<uid>.slice
      std::string_view s = c.substr(9, c.size() - 9 - 6);
      for (std::string_view q : {"burstable", "besteffort"}) {
        if (s.starts_with(q)) {
          id.qos = std::string(q);
          s.remove_prefix(q.size());
          if (!s.empty() && s.front() == '-') s.remove_prefix(1);
        }
      }
      if (s.starts_with("pod")) {
        id.pod = PodUid(s.substr(3));
        if (id.qos.empty()) id.qos = "guaranteed";
        named = true;
      }
      continue;
    }
    if (kube && !kube_systemd && id.pod.empty() && (c == "burstable" || c == "besteffort")) {
      id.qos = std::string(c);
      continue;
    }
    if (kube && id.pod.empty() && c.starts_with("pod") && c.size() > 3) {
      id.pod = PodUid(c.substr(3));
      if (id.qos.empty()) id.qos = "guaranteed";
      named = true;
      continue;
    }
    if (kube && !id.pod.empty()) {
      // systemd driver: <runtime>-<id>.scope (cri-containerd-, crio-, docker-);
      // cgroupfs driver: the ID itself.
      std::string_view cid = c;
      if (cid.ends_with(".scope")) {
        cid.remove_suffix(6);
        auto dash = cid.rfind('-');
        if (dash != std::string_view::npos) cid.remove_prefix(dash + 1);
      }
      id.container = std::string(cid);
      named = true;
      continue;
    }
    if (kube) continue;
    if (c == "machine.slice" || c == "machine") {  // the latter: libvirt without systemd
      libvirt = true;
      if (EndsWithUnitSuffix(c)) unit = std::string(c);
      continue;
    }
    if (libvirt) {
      std::string name = UnescapeSystemd(c);
      if (name.starts_with("machine-qemu-") && name.ends_with(".scope")) {
        // machine-qemu-<domain id>-<name>.scope
        std::string_view s(name);
        s = s.substr(13, s.size() - 13 - 6);
        auto dash = s.find('-');
        if (dash != std::string_view::npos) {
          id.vm = std::string(s.substr(dash + 1));
          named = true;
          continue;
        }
      }
      if (name.ends_with(".libvirt-qemu")) {  // v1 without systemd: machine/<name>.libvirt-qemu
        id.vm = name.substr(0, name.size() - 13);
        named = true;
        continue;
      }
    }
    if (EndsWithUnitSuffix(c)) {
      unit = std::string(c);
      named = !c.ends_with(".slice");
    }
  }
  if (!kube && id.vm.empty()) id.unit = std::move(unit);
  id.names_workload = named;
  id.kubernetes = kube;
  return id;
}

Labels CgroupLabels(const std::string& rel) {
  Labels l{{"cgroup", rel}};
  auto id = ParseCgroupIdentity(rel);
  for (auto& [k, v] : {std::pair<const char*, std::string*>{"pod", &id.pod},
                       std::pair<const char*, std::string*>{"qos", &id.qos},
                       std::pair<const char*, std::string*>{"container", &id.container},
                       std::pair<const char*, std::string*>{"vm", &id.vm},
                       std::pair<const char*, std::string*>{"unit", &id.unit}}) {
    if (!v->empty()) l.emplace_back(k, *v);
  }
  return l;
}

}  // namespace pagescope
