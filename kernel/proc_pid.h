#pragma once
// Per-process files below /proc/<pid>/ (Documentation/filesystems/proc.rst, "Process-Specific
// Subdirectories"), shared by the `processes` and `qemu` collectors:
//   stat         one line; comm between the first '(' and the LAST ')' (comm may hold both)
//   status       "Key:\tvalue kB" lines; VmSwap, HugetlbPages (kernel >= 4.4)
//   smaps_rollup the sums of smaps over all mappings; AnonHugePages (kernel >= 4.14). Reading
//                it walks the page tables of the whole process, which stalls very large ones
//                (process-exporter issues #246, #360): callers guard it with SmapsGuard
//                (proctable/smaps_guard.h).
//   numa_maps    one line per mapping; hugetlb mappings carry "huge", N<node>=<pages> and
//                kernelpagesize_kB (Documentation/admin-guide/mm/numa_memory_policy.rst)
//   ksm_stat     ksm_merging_pages and friends (kernel >= 6.1,
//   Documentation/admin-guide/mm/ksm.rst) cmdline      NUL-separated arguments
// Parsers are pure; PidReader does one open/read/close per file into a reused buffer
// (proctable/walk.h walks the thread-group leaders with it).

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "framework/collector.h"

namespace pagescope {

// /proc/<pid>/stat, the fields pagescope uses (proc(5) numbering in comments).
struct ProcPidStat {
  std::string comm;               // (2)
  char state = '?';               // (3)
  int ppid = 0;                   // (4) 0 where the table came from another source
  std::uint64_t flags = 0;        // (9) PF_* flags; PF_KTHREAD marks kernel threads
  std::uint64_t minflt = 0;       // (10) minor faults of all threads, dead ones included
  std::uint64_t majflt = 0;       // (12)
  std::uint64_t num_threads = 0;  // (20) live threads (a zombie leader with live threads too)
  std::uint64_t utime = 0;        // (14) clock ticks in user mode
  std::uint64_t stime = 0;        // (15) clock ticks in kernel mode
  std::uint64_t starttime = 0;    // (22) clock ticks after boot: with pid, identifies a process
  std::uint64_t vsize = 0;        // (23) virtual memory size in bytes
  std::uint64_t rss_pages = 0;    // (24) resident pages (of the system page size)
  bool kernel_thread() const { return (flags & 0x00200000u) != 0; }
};
ProcPidStat ParseProcPidStat(std::string_view text);
// The comm of a stat line (process or task): between the first '(' and the LAST ')'; `close`
// gets the position of that ')'. Throws ParseError(1, …) without them.
std::string_view StatComm(std::string_view text, std::size_t* close);

// /proc/<pid>/status: values in bytes; a line the kernel lacks leaves its field empty (kernel
// threads have no Vm* lines at all).
struct ProcPidStatus {
  std::optional<std::uint64_t> vm_rss;         // VmRSS
  std::optional<std::uint64_t> vm_swap;        // VmSwap
  std::optional<std::uint64_t> hugetlb_pages;  // HugetlbPages (bytes, despite the name)
  std::optional<std::uint64_t> vm_lck;         // VmLck: mlock()ed memory
  std::optional<std::uint64_t> vm_pin;         // VmPin: pinned pages (pin_user_pages: VFIO, RDMA)
};
ProcPidStatus ParseProcPidStatus(std::string_view text);

// /proc/<pid>/smaps_rollup, values in bytes.
struct ProcPidSmapsRollup {
  std::optional<std::uint64_t> rss;
  std::optional<std::uint64_t> anon_huge_pages;  // AnonHugePages
  std::optional<std::uint64_t> swap;
  std::optional<std::uint64_t> private_hugetlb;
  std::optional<std::uint64_t> shared_hugetlb;
};
ProcPidSmapsRollup ParseProcPidSmapsRollup(std::string_view text);

// /proc/<pid>/numa_maps: hugetlb pages per (node, page size in bytes), summed over mappings;
// all mapped resident memory per node (hugetlb and the rest: N<node>= counts pages of the
// line's kernelpagesize_kB; transparent hugepages are counted in base pages); and the memory of
// mappings that carry a node policy (bind, prefer, interleave: the VMA's own policy, set by
// mbind() as QEMU does for host-nodes=, or the task's, set by numactl/set_mempolicy()) that
// sits on a node the policy does not name. Only hugetlb, anonymous and shared-memory (memfd,
// /dev/shm, SysV) mappings count for the policy: page cache of other files was placed by
// whoever read the file first.
struct ProcPidNumaMaps {
  std::map<std::pair<int, std::uint64_t>, std::uint64_t> huge_pages;  // (node, size) -> pages
  std::uint64_t huge_mappings = 0;          // mappings marked "huge", faulted or not
  std::map<int, std::uint64_t> node_bytes;  // node -> resident bytes, huge and not
  std::uint64_t policy_mappings = 0;        // such mappings with a node policy
  std::uint64_t policy_bytes = 0;           // their resident bytes
  std::uint64_t outside_policy_bytes = 0;   // of which on nodes their policy does not name
};
ProcPidNumaMaps ParseProcPidNumaMaps(std::string_view text);

// /proc/<pid>/ksm_stat.
struct ProcPidKsmStat {
  std::optional<std::uint64_t> merging_pages;  // ksm_merging_pages
  std::optional<std::int64_t> process_profit;  // ksm_process_profit (bytes, may be negative)
  std::optional<std::uint64_t> zero_pages;     // ksm_zero_pages
};
ProcPidKsmStat ParseProcPidKsmStat(std::string_view text);

// /proc/<pid>/cgroup: one "hierarchy-ID:controllers:path" line per hierarchy
// (Documentation/admin-guide/cgroup-v2.rst, "Processes"; cgroups(7)): v2 is "0::/path", a v1
// hierarchy lists its controllers ("4:memory:/path", "2:cpu,cpuacct:/path", and named ones such
// as "1:name=systemd:/path"). Paths are kept without the leading '/' ("" for the root). Throws
// ParseError on a line of another shape.
struct ProcPidCgroup {
  int hierarchy_id = 0;
  std::vector<std::string> controllers;
  std::string path;
  bool v2() const { return hierarchy_id == 0 && controllers.empty(); }
  bool Has(std::string_view controller) const {
    for (const auto& c : controllers) {
      if (c == controller) return true;
    }
    return false;
  }
};
std::vector<ProcPidCgroup> ParseProcPidCgroup(std::string_view text);
// The line of the v1 hierarchy that carries `controller`, or the v2 line for "" ; nullptr when
// there is none.
const ProcPidCgroup* FindProcPidCgroup(const std::vector<ProcPidCgroup>& cgroups,
                                       std::string_view controller);
// The path in the hierarchy that holds the memory controller, else the v2 one, else systemd's
// named hierarchy; "" for the root or when none is listed.
std::string ProcPidCgroupPath(std::string_view text);

// /proc/<pid>/cmdline: the arguments (a trailing NUL does not make an empty last one).
std::vector<std::string> SplitCmdline(std::string_view text);

// Reads /proc/<pid>/<file> with openat() relative to an open procfs directory, into a buffer
// the caller reuses. One open, read, close for files that fit the buffer.
class PidReader {
 public:
  explicit PidReader(const std::filesystem::path& procfs);
  // Reads below ctx.fs().procfs(); a denied read is reported to `ctx` (Context::WarnDenied:
  // counted for the running collector under the file's name, warned about at most once a
  // minute per kind of file). Collectors use this one.
  explicit PidReader(const Context& ctx);
  ~PidReader();
  PidReader(const PidReader&) = delete;
  PidReader& operator=(const PidReader&) = delete;

  bool ok() const { return dir_fd_ >= 0; }
  // kOk with the content in `buf`; kMissing when the process (or the file) is gone; kDenied
  // (reported to the Context, when constructed with one).
  // `single_record`: the file is one seq_file record (stat, status, ksm_stat, smaps_rollup)
  // or cmdline, so a read shorter than the buffer is the whole file and no second read is
  // needed. Multi-record files (numa_maps, mountinfo) come a page per read: read to the end.
  ReadStatus Read(int pid, const char* file, std::string& buf, bool single_record = false,
                  std::size_t max_bytes = 16u << 20) const;
  // readlink of /proc/<pid>/<file> (exe); empty on any failure.
  std::string ReadLink(int pid, const char* file) const;
  // The numeric entries of procfs (thread-group leaders), sorted.
  std::vector<int> Pids() const;
  std::filesystem::path Path(int pid, const char* file) const;

 private:
  void Denied(int pid, const char* file) const;
  std::filesystem::path procfs_;
  const Context* ctx_ = nullptr;
  int dir_fd_ = -1;
};

// One process as seen in this scrape.
struct ProcessEntry {
  int pid = 0;
  ProcPidStat stat;
  ProcPidStatus status;
  bool has_status = false;  // status read (not for kernel threads, not when it vanished)
};

}  // namespace pagescope
