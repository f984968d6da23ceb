#pragma once
// Per-process files below /proc/<pid>/ (Documentation/filesystems/proc.rst, "Process-Specific
// Subdirectories"), shared by the `processes` and `qemu` collectors:
//   stat         one line; comm between the first '(' and the LAST ')' (comm may hold both)
//   status       "Key:\tvalue kB" lines; VmSwap, HugetlbPages (kernel >= 4.4)
//   smaps_rollup the sums of smaps over all mappings; AnonHugePages (kernel >= 4.14). Reading
//                it walks the page tables of the whole process, which stalls very large ones
//                (process-exporter issues #246, #360): callers guard it with SmapsGuard.
//   numa_maps    one line per mapping; hugetlb mappings carry "huge", N<node>=<pages> and
//                kernelpagesize_kB (Documentation/admin-guide/mm/numa_memory_policy.rst)
//   ksm_stat     ksm_merging_pages and friends (kernel >= 6.1,
//   Documentation/admin-guide/mm/ksm.rst) cmdline      NUL-separated arguments
// Parsers are pure; PidReader does one open/read/close per file into a reused buffer, and
// ScanProcesses walks the thread-group leaders once per scrape for both collectors.

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
  std::string comm;             // (2)
  char state = '?';             // (3)
  std::uint64_t flags = 0;      // (9) PF_* flags; PF_KTHREAD marks kernel threads
  std::uint64_t minflt = 0;     // (10) minor faults of all threads, dead ones included
  std::uint64_t majflt = 0;     // (12)
  std::uint64_t starttime = 0;  // (22) clock ticks after boot: with pid, identifies a process
  std::uint64_t rss_pages = 0;  // (24) resident pages (of the system page size)
  bool kernel_thread() const { return (flags & 0x00200000u) != 0; }
};
ProcPidStat ParseProcPidStat(std::string_view text);

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

// /proc/<pid>/cgroup ("hierarchy-ID:controllers:path" lines): the path, without the leading
// '/', in the hierarchy that holds the memory controller (v1 "N:memory:" or a list containing
// memory), else the v2 one ("0::"), else systemd's named hierarchy. Throws ParseError on a line
// of another shape; "" for the root.
std::string ProcPidCgroupPath(std::string_view text);

// /proc/<pid>/cmdline: the arguments (a trailing NUL does not make an empty last one).
std::vector<std::string> SplitCmdline(std::string_view text);

// The system page size (sysconf), for stat's rss.
std::uint64_t SystemPageSize();

// Reads /proc/<pid>/<file> with openat() relative to an open procfs directory, into a buffer
// the caller reuses. One open, read, close for files that fit the buffer.
class PidReader {
 public:
  explicit PidReader(const std::filesystem::path& procfs);
  ~PidReader();
  PidReader(const PidReader&) = delete;
  PidReader& operator=(const PidReader&) = delete;

  bool ok() const { return dir_fd_ >= 0; }
  // kOk with the content in `buf`; kMissing when the process (or the file) is gone; kDenied.
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
  std::filesystem::path procfs_;
  int dir_fd_ = -1;
};

// One process as seen in this scrape.
struct ProcessEntry {
  int pid = 0;
  ProcPidStat stat;
  ProcPidStatus status;
  bool has_status = false;  // status read (not for kernel threads, not when it vanished)
};

// What one walk of /proc found, shared by the collectors of a scrape (Context::Memo).
struct ProcessTable {
  std::vector<ProcessEntry> processes;  // sorted by pid, kernel threads excluded
  std::uint64_t vanished = 0;           // processes that exited while being read
  std::uint64_t denied = 0;             // files we were not allowed to read
  std::uint64_t kernel_threads = 0;
  std::vector<std::string> errors;  // malformed files, "path:line: message"
};

// Walks <procfs>/<pid>/{stat,status} once per scrape (memoized in the Context). From
// kScanPerThread processes on, contiguous pid ranges are read by up to kMaxScanThreads threads
// (at most one per CPU): the same table, a fraction of the latency.
inline constexpr std::size_t kScanPerThread = 1000;
inline constexpr std::size_t kMaxScanThreads = 4;
const ProcessTable& ScanProcesses(const Context& ctx);

// Guards smaps_rollup reads: processes above a resident-size limit are never read, a process
// is read at most once per interval (the cached value is reused meanwhile), and a scrape stops
// reading once its time budget is spent. Thread-safe.
class SmapsGuard {
 public:
  struct Limits {
    std::uint64_t max_resident_bytes = 0;  // 0: no limit
    std::chrono::milliseconds min_interval{0};
    std::chrono::milliseconds budget{0};  // per scrape; 0: no budget
  };
  explicit SmapsGuard(Limits limits) : limits_(limits) {}

  // Per-scrape bookkeeping; create one per Collect call.
  struct Scrape {
    std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
  };
  // The rollup for the process, from cache or read now; nullopt when skipped with nothing
  // cached, or when the file is missing/denied.
  std::optional<ProcPidSmapsRollup> Get(const Context& ctx, const PidReader& reader, Scrape& scrape,
                                        const ProcessEntry& p, std::uint64_t page_size,
                                        std::string& buf);
  // Forget processes not in `alive` (pid, starttime).
  void Retain(const std::vector<std::pair<int, std::uint64_t>>& alive);
  void Emit(MetricSink& out, std::string_view prefix) const;

 private:
  struct Cached {
    ProcPidSmapsRollup value;
    std::chrono::steady_clock::time_point at;
  };
  Limits limits_;
  mutable std::mutex mu_;
  std::map<std::pair<int, std::uint64_t>, Cached> cache_;
  std::uint64_t reads_ = 0;
  double read_seconds_ = 0;
  std::uint64_t skipped_resident_ = 0;
  std::uint64_t skipped_budget_ = 0;
  std::uint64_t cached_ = 0;
};

// Parses a size with an optional unit: plain bytes, K/M/G/T (QEMU style, powers of 1024),
// KiB/MiB/GiB/TiB, kB (sysfs). `default_unit` multiplies a bare number (QEMU's -m uses MiB).
// The smaps_rollup options the processes and qemu collectors both declare ("smaps",
// "smaps_max_resident", "smaps_min_interval_seconds", "smaps_budget_ms") and their validation.
std::vector<OptionSpec> SmapsOptionSpecs(const std::string& whose,
                                         const std::string& default_max_resident,
                                         const std::string& default_budget_ms);
SmapsGuard::Limits SmapsLimitsFromOptions(const CollectorOptions& options);

std::optional<std::uint64_t> ParseSize(std::string_view text, std::uint64_t default_unit = 1);

}  // namespace pagescope
