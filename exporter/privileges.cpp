#include "exporter/privileges.h"

#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace pagescope {
namespace {

[[noreturn]] void Fail(const std::string& what) {
  throw std::runtime_error(what + ": " + std::strerror(errno));
}

bool NeedsLowPort(const std::vector<std::string>& addresses) {
  for (const auto& a : addresses) {
    auto colon = a.rfind(':');
    if (colon == std::string::npos) continue;
    try {
      int port = std::stoi(a.substr(colon + 1));
      if (port > 0 && port < 1024) return true;
    } catch (const std::exception&) {
    }
  }
  return false;
}

}  // namespace

ProcessNeeds CollectorNeeds(const Config& config, const std::vector<CollectorSpec>& all) {
  ProcessNeeds needs;
  for (const auto& spec : all) {
    auto it = config.collectors.find(spec.name);
    if (it == config.collectors.end() || !it->second.enabled) continue;
    needs.capabilities.insert(needs.capabilities.end(), spec.capabilities.begin(),
                              spec.capabilities.end());
    if (spec.capabilities_for) {
      auto more =
          spec.capabilities_for(CollectorOptions("collectors." + spec.name, it->second.options));
      needs.capabilities.insert(needs.capabilities.end(), more.begin(), more.end());
    }
    if (spec.open_files) {
      needs.open_files +=
          spec.open_files(CollectorOptions("collectors." + spec.name, it->second.options));
    }
  }
  std::sort(needs.capabilities.begin(), needs.capabilities.end());
  needs.capabilities.erase(std::unique(needs.capabilities.begin(), needs.capabilities.end()),
                           needs.capabilities.end());
  return needs;
}

void RaiseOpenFileLimit(std::uint64_t open_files) {
  if (open_files == 0) return;
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0) return;
  const rlim_t want = static_cast<rlim_t>(open_files + kExporterOpenFiles);
  if (lim.rlim_cur != RLIM_INFINITY && lim.rlim_cur < want) {
    lim.rlim_cur = lim.rlim_max == RLIM_INFINITY ? want : std::min(want, lim.rlim_max);
    setrlimit(RLIMIT_NOFILE, &lim);
  }
}

std::string KeptCapabilities(const std::vector<Capability>& keep) {
  std::string out = "CAP_SYS_PTRACE,CAP_DAC_READ_SEARCH";
  for (Capability cap : keep) out += "," + std::string(CapabilityName(cap));
  return out;
}

void DropPrivileges(const std::string& user, const std::vector<std::string>& listen_addresses,
                    const std::vector<Capability>& keep_also) {
  if (user.empty()) return;
  if (geteuid() != 0) throw std::runtime_error("--web.drop-privileges-to needs to start as root");
  errno = 0;
  passwd* pw = getpwnam(user.c_str());
  if (pw == nullptr) {
    if (errno == 0) throw std::runtime_error("no such user \"" + user + "\"");
    Fail("getpwnam " + user);
  }
  const uid_t uid = pw->pw_uid;
  const gid_t gid = pw->pw_gid;
  if (uid == 0) throw std::runtime_error("\"" + user + "\" is root: nothing to drop");

  std::uint64_t keep = (1ULL << CAP_SYS_PTRACE) | (1ULL << CAP_DAC_READ_SEARCH);
  if (NeedsLowPort(listen_addresses)) keep |= 1ULL << CAP_NET_BIND_SERVICE;
  // The numbers, not the names: older headers lack CAP_PERFMON (Linux 5.8).
  for (Capability cap : keep_also) keep |= 1ULL << static_cast<int>(cap);
  for (int cap = 0; cap < 64; ++cap) {
    if ((keep & (1ULL << cap)) != 0) continue;
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL) Fail("PR_CAPBSET_DROP");
  }
  if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) Fail("PR_SET_KEEPCAPS");
  if (setgroups(0, nullptr) != 0) Fail("setgroups");
  if (setresgid(gid, gid, gid) != 0) Fail("setresgid");
  if (setresuid(uid, uid, uid) != 0) Fail("setresuid");
  if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) != 0) Fail("PR_SET_KEEPCAPS");

  __user_cap_header_struct header{};
  header.version = _LINUX_CAPABILITY_VERSION_3;
  header.pid = 0;
  __user_cap_data_struct data[2]{};
  for (int i = 0; i < 2; ++i) {
    auto bits = static_cast<std::uint32_t>(keep >> (32 * i));
    data[i].effective = bits;
    data[i].permitted = bits;
    data[i].inheritable = 0;
  }
  if (syscall(SYS_capset, &header, data) != 0) Fail("capset");
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) Fail("PR_SET_NO_NEW_PRIVS");
  // Root again must be impossible.
  if (setuid(0) == 0) throw std::runtime_error("could regain root after dropping privileges");
}

}  // namespace pagescope
