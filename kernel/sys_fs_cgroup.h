#pragma once
// What the cgroup collectors (cgroup_hugetlb, cgroup_memory) share: finding the hierarchy that
// carries a controller (cgroup v2 at /sys/fs/cgroup or, on hybrid hosts, /sys/fs/cgroup/unified;
// v1 at /sys/fs/cgroup/<controller>; Documentation/admin-guide/cgroup-v2.rst), walking the
// subtrees of configured parents breadth first within a depth and a count, and the identity a
// cgroup's path tells: a Kubernetes pod (kubelet's systemd and cgroupfs drivers), a libvirt guest
// (machine.slice/machine-qemu\x2d<id>\x2d<name>.scope, v1 machine/<name>.libvirt-qemu), a
// systemd unit.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "framework/collector.h"
#include "framework/metric_sink.h"

namespace pagescope {

struct CgroupHierarchy {
  std::filesystem::path root;
  bool v2 = false;
};

// The v2 hierarchy when `controller` is listed in its cgroup.controllers, then the v1 hierarchy
// /sys/fs/cgroup/<controller> when it is a directory.
std::vector<CgroupHierarchy> FindCgroupHierarchies(const Context& ctx, std::string_view controller);

struct CgroupWalkLimits {
  std::vector<std::string> parents;  // relative to the hierarchy root, no leading '/'
  int max_depth = 4;
  long long max_cgroups = 1000;
};

struct CgroupWalkStats {
  long long scanned = 0;
  long long skipped_depth = 0;
  long long skipped_count = 0;
  bool expired = false;  // stopped at the scrape's deadline (Context::Expired)
};

// What to do with a visited cgroup's children.
enum class CgroupDescend { kYes, kNo };

// Breadth first below every parent of every hierarchy: `visit` is called for each cgroup read
// (the parents themselves at depth 0), shallowest first, at most max_cgroups times. A parent that
// does not exist is skipped (with the Context's rules for a missing directory). The walk stops when
// the scrape's deadline passes (`expired`).
CgroupWalkStats WalkCgroups(
    const Context& ctx, const std::vector<CgroupHierarchy>& hierarchies,
    const CgroupWalkLimits& limits,
    const std::function<CgroupDescend(const CgroupHierarchy&, const std::filesystem::path& dir,
                                      const std::string& rel, int depth)>& visit);

// A cgroup's one-number file. Cgroups come and go: a missing file is nullopt without a log
// line; garbage is nullopt and an error on `out` naming the file.
std::optional<std::uint64_t> ReadCgroupU64(const Context& ctx, const std::filesystem::path& path,
                                           MetricSink& out);
std::optional<std::uint64_t> ParseCgroupU64(const std::filesystem::path& path,
                                            const std::string& text, MetricSink& out);

// <prefix>_scanned_cgroups and <prefix>_skipped_cgroups{reason}.
void EmitCgroupWalkStats(MetricSink& out, const std::string& prefix, const std::string& files,
                         const CgroupWalkStats& stats);

// The parents/max_depth/max_cgroups options with their defaults, and their validation.
std::vector<OptionSpec> CgroupWalkOptions(const std::string& default_parents,
                                          const std::string& default_max_depth,
                                          const std::string& default_max_cgroups);
CgroupWalkLimits ParseCgroupWalkOptions(const CollectorOptions& options);

// systemd's unit name escaping: "\x2d" -> "-" (any \xNN); other text unchanged.
std::string UnescapeSystemd(std::string_view name);

// Who a cgroup is, from its path relative to the hierarchy root. Empty fields are unknown.
struct CgroupIdentity {
  std::string pod;        // Kubernetes pod UID (dashes, as the API shows it)
  std::string qos;        // guaranteed, burstable, besteffort
  std::string container;  // container ID of a container cgroup in a pod
  std::string vm;         // libvirt guest name
  std::string unit;       // the deepest systemd unit in the path when no pod or guest is named
  bool below_identity = false;  // deeper than the pod's container or the guest's scope
  // The cgroup is itself the pod, the container, the guest's scope or the unit (a service, a
  // scope; not a slice) that its labels name: not a slice or QoS level above them, not a cgroup
  // below a unit or inside a guest's scope.
  bool names_workload = false;
  bool kubernetes = false;  // in a kubepods tree (kubelet's systemd or cgroupfs driver)
};
CgroupIdentity ParseCgroupIdentity(std::string_view rel);

// {cgroup=<rel>} then the identity labels that are known, in the order pod, qos, container, vm,
// unit.
Labels CgroupLabels(const std::string& rel);

}  // namespace pagescope
