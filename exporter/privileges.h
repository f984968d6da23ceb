#pragma once
// --web.drop-privileges-to=USER: when started as root, become USER (its uid, primary gid and
// no supplementary groups) before any thread starts, keeping only the capabilities the
// collectors need to read other users' per-process files:
//   CAP_SYS_PTRACE      /proc/PID/smaps, smaps_rollup, numa_maps, ksm_stat (ptrace read access)
//   CAP_DAC_READ_SEARCH files readable only by their owner (/proc/PID/environ, 0600 key files
//                       named by --web.config.file on reload)
//   CAP_NET_BIND_SERVICE only when a listen port is below 1024
//   CAP_PERFMON         only when `keep_perfmon` (the tlb collector is enabled): perf_event_open
//                       on other users' processes, counting kernel mode too; and with
//                       `keep_bpf` (collectors.processes.source=bpf): the BPF task iterator
//   CAP_BPF             only when `keep_bpf`: loading the BPF task iterator
// Everything else, including the bounding set beyond those, is dropped, and no_new_privs set.

#include <string>
#include <vector>

namespace pagescope {

// Throws std::runtime_error with the cause. Does nothing when `user` is empty.
void DropPrivileges(const std::string& user, const std::vector<std::string>& listen_addresses,
                    bool keep_perfmon = false, bool keep_bpf = false);

}  // namespace pagescope
