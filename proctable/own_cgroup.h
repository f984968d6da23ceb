#pragma once
// A process's own cgroup: the cgroup whose counters describe that process (and what belongs to
// it) and nothing else, so that per-node memory can be read from the cgroup's numa_stat files
// (kernel/sys_fs_cgroup_numa_stat.h) at a cost that does not depend on the process's size,
// instead of walking its page tables. Decided per hierarchy (cgroup v2, the v1 memory and
// hugetlb controllers), from the process's line in /proc/<pid>/cgroup.
//
// A cgroup C is the own cgroup of QEMU process Q when C is not the hierarchy's root, Q is in C
// or below it, and either
//  (a) C is libvirt's scope for Q's guest (machine.slice/machine-qemu\x2d<id>\x2d<name>.scope,
//      or machine/<name>.libvirt-qemu without systemd; kernel/sys_fs_cgroup.h, CgroupIdentity)
//      and <name> is the guest's -name (libvirt drops characters and shortens long names: the
//      scope's name may be a prefix of the guest's with those characters dropped). libvirt
//      makes that scope for the guest alone and puts in it only the guest's processes (QEMU in
//      its libvirt/emulator child, helpers such as virtiofsd or swtpm); no process list is read.
//  (b) every process in C and in every cgroup below C is Q, a descendant of Q (a helper QEMU
//      started), or an ancestor of Q (a wrapper that started it and waits: a shell, a
//      container's init): a `systemd-run --scope`, a podman container, a cgroup made for the
//      guest. Among the cgroups on Q's path that pass, the highest (nearest the root) is taken,
//      climbing at most kMaxLevels levels above Q's cgroup.
// The check is bounded: a subtree of more than kMaxCgroups cgroups or kMaxProcesses processes
// is not own; a process's ancestry is followed at most kMaxGenerations parents (its stat's
// ppid). Its cost: one cgroup.procs read per cgroup looked at, one stat read per process in
// them; the qemu collector repeats it when the guest's /proc/<pid>/cgroup changes or after a
// minute.

#include <filesystem>
#include <optional>
#include <string>

#include "framework/collector.h"
#include "kernel/proc_pid.h"

namespace pagescope {

inline constexpr int kOwnCgroupMaxLevels = 4;
inline constexpr int kOwnCgroupMaxCgroups = 16;
inline constexpr int kOwnCgroupMaxProcesses = 64;
inline constexpr int kOwnCgroupMaxGenerations = 4;

// Whether libvirt's scope name `scope_vm` (CgroupIdentity::vm) names the guest `vm` (its -name):
// equal, or a prefix of it once the characters libvirt drops are dropped.
bool LibvirtScopeNames(std::string_view scope_vm, std::string_view vm);

// The own cgroup of process `pid` (the guest `vm`, "" when it has no name) in the hierarchy at
// `root`, where /proc/<pid>/cgroup puts it at `rel` (no leading '/'): its path relative to
// `root`, or nullopt when it has none (including when a cgroup vanished meanwhile).
std::optional<std::string> FindOwnCgroup(const Context& ctx, const PidReader& reader,
                                         const std::filesystem::path& root, const std::string& rel,
                                         int pid, const std::string& vm);

}  // namespace pagescope
