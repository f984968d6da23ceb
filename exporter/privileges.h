#pragma once
// What the process grants the collectors, set once at start-up (main.cpp) from what the
// enabled collectors declare (CollectorSpec::capabilities, CollectorSpec::open_files).
//
// --web.drop-privileges-to=USER: when started as root, become USER (its uid, primary gid and
// no supplementary groups) before any thread starts, keeping only the capabilities the
// collectors need to read other users' per-process files:
//   CAP_SYS_PTRACE      /proc/PID/smaps, smaps_rollup, numa_maps, ksm_stat (ptrace read access)
//   CAP_DAC_READ_SEARCH files readable only by their owner (/proc/PID/environ, 0600 key files
//                       named by --web.config.file on reload)
//   CAP_NET_BIND_SERVICE only when a listen port is below 1024
//   and the capabilities the enabled collectors declare (CAP_PERFMON for tlb: perf_event_open
//   on other users' processes, counting kernel mode too; CAP_BPF and CAP_PERFMON for processes
//   with source=bpf: loading and running the BPF task iterator)
// Everything else, including the bounding set beyond those, is dropped, and no_new_privs set.

#include <cstdint>
#include <string>
#include <vector>

#include "exporter/config.h"
#include "framework/collector.h"

namespace pagescope {

// What the collectors enabled in `config` need of the process.
struct ProcessNeeds {
  std::vector<Capability> capabilities;  // declared by an enabled collector, each once, sorted
  std::uint64_t open_files = 0;          // file descriptors they may hold at once
};
ProcessNeeds CollectorNeeds(const Config& config, const std::vector<CollectorSpec>& all);

// File descriptors the exporter keeps for itself (sockets, files) next to the collectors'.
constexpr std::uint64_t kExporterOpenFiles = 1024;

// Raises the RLIMIT_NOFILE soft limit (never above the hard limit, never lowers it) to
// `open_files` plus kExporterOpenFiles; nothing when `open_files` is 0.
void RaiseOpenFileLimit(std::uint64_t open_files);

// Throws std::runtime_error with the cause. Does nothing when `user` is empty.
void DropPrivileges(const std::string& user, const std::vector<std::string>& listen_addresses,
                    const std::vector<Capability>& keep = {});

// The capabilities DropPrivileges keeps besides CAP_NET_BIND_SERVICE, for the log:
// "CAP_SYS_PTRACE,CAP_DAC_READ_SEARCH[,CAP_PERFMON]".
std::string KeptCapabilities(const std::vector<Capability>& keep);

}  // namespace pagescope
