#include "proctable/own_cgroup.h"

#include <algorithm>
#include <set>
#include <vector>

#include "kernel/parse.h"
#include "kernel/sys_fs_cgroup.h"

namespace pagescope {
namespace {

std::string Parent(const std::string& rel) {
  auto slash = rel.rfind('/');
  return slash == std::string::npos ? std::string() : rel.substr(0, slash);
}

// The pids of a cgroup.procs file; nullopt on anything but one number a line.
std::optional<std::vector<int>> ParsePids(std::string_view text) {
  std::vector<int> pids;
  bool ok = true;
  parse::ForEachLine(text, [&](std::size_t, std::string_view line) {
    line = parse::Trim(line);
    if (line.empty()) return;
    int v = 0;
    for (char c : line) {
      if (c < '0' || c > '9' || v > 0x7fffffff / 10) {
        ok = false;
        return;
      }
      v = v * 10 + (c - '0');
    }
    pids.push_back(v);
  });
  if (!ok) return std::nullopt;
  return pids;
}

class Kin {
 public:
  Kin(const PidReader& reader, int pid) : reader_(reader), pid_(pid) {
    // Q's ancestors, up to kOwnCgroupMaxGenerations.
    int p = pid;
    for (int i = 0; i < kOwnCgroupMaxGenerations; ++i) {
      p = ParentOf(p);
      if (p <= 1) break;
      ancestors_.insert(p);
    }
  }
  // Q, a descendant of Q or an ancestor of Q.
  bool Related(int other) {
    if (other == pid_ || ancestors_.count(other)) return true;
    int p = other;
    for (int i = 0; i < kOwnCgroupMaxGenerations; ++i) {
      p = ParentOf(p);
      if (p == pid_) return true;
      if (p <= 1) return false;
    }
    return false;
  }

 private:
  int ParentOf(int pid) {
    if (reader_.Read(pid, "stat", buf_, true) != ReadStatus::kOk) return 0;
    try {
      return ParseProcPidStat(buf_).ppid;
    } catch (const ParseError&) {
      return 0;
    }
  }
  const PidReader& reader_;
  int pid_;
  std::set<int> ancestors_;
  std::string buf_;
};

// Rule (b) for the cgroup at `dir`: every process of the subtree is kin, within the bounds.
bool OnlyKin(const Context& ctx, const std::filesystem::path& dir, Kin& kin) {
  std::vector<std::filesystem::path> pending{dir};
  int cgroups = 0, processes = 0;
  while (!pending.empty()) {
    auto d = std::move(pending.back());
    pending.pop_back();
    if (++cgroups > kOwnCgroupMaxCgroups) return false;
    // A threaded cgroup below a domain cannot list processes (its domain lists them all).
    if (auto text = ctx.TryRead(d / "cgroup.procs")) {
      auto pids = ParsePids(*text);
      if (!pids) return false;
      processes += static_cast<int>(pids->size());
      if (processes > kOwnCgroupMaxProcesses) return false;
      for (int p : *pids) {
        if (!kin.Related(p)) return false;
      }
    } else if (d == dir) {
      return false;  // vanished, or not a cgroup
    }
    auto subdirs = ctx.TryReadSubdirs(d);
    if (!subdirs) return false;
    if (cgroups + static_cast<int>(pending.size() + subdirs->size()) > kOwnCgroupMaxCgroups) {
      return false;
    }
    for (const auto& s : *subdirs) pending.push_back(d / s);
  }
  return true;
}

}  // namespace

bool LibvirtScopeNames(std::string_view scope_vm, std::string_view vm) {
  if (scope_vm.empty()) return false;
  if (scope_vm == vm) return true;
  std::string kept;  // libvirt keeps [A-Za-z0-9_.-] of the name (virDomainMachineNameAppendValid)
  for (char c : vm) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '_' || c == '.') {
      kept += c;
    }
  }
  return std::string_view(kept).starts_with(scope_vm);
}

std::optional<std::string> FindOwnCgroup(const Context& ctx, const PidReader& reader,
                                         const std::filesystem::path& root, const std::string& rel,
                                         int pid, const std::string& vm) {
  if (rel.empty()) return std::nullopt;
  // (a) libvirt's scope for this guest, on the path above (or at) the process's cgroup.
  for (std::string c = rel; !c.empty(); c = Parent(c)) {
    auto id = ParseCgroupIdentity(c);
    if (!id.below_identity && LibvirtScopeNames(id.vm, vm)) return c;
  }
  // (b) the highest cgroup whose subtree holds only the process's kin.
  Kin kin(reader, pid);
  std::optional<std::string> own;
  std::string c = rel;
  for (int level = 0; level <= kOwnCgroupMaxLevels && !c.empty(); ++level, c = Parent(c)) {
    if (!OnlyKin(ctx, root / c, kin)) break;
    own = c;
  }
  return own;
}

}  // namespace pagescope
