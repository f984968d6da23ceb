#pragma once
// Per-process figures from a BPF task iterator (iter/task, Linux 5.8+): one pass over every task
// in the kernel hands back, for every process, what /proc/<pid>/stat and status give the process
// table, without opening, formatting or parsing a file per process (about 0.05x the cost of
// reading stat and status; docs/performance.md, "Beyond the /proc floor").
//
// Optional: built only with -DPAGESCOPE_BPF=ON/AUTO (clang, bpftool, libbpf found); libbpf lives
// in the module lib/pagescope/pagescope-bpf.so, loaded by Open(), so an exporter that does not
// use this source pays no resident memory for it. Privileges: root, or CAP_BPF + CAP_PERFMON
// (kernel >= 5.8 with BTF, /sys/kernel/btf/vmlinux). The program reads the initial pid
// namespace's pids: Open() refuses to run in another one.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace pagescope {

// One process (thread group). Pages are of the system page size.
struct TaskFigures {
  int pid = 0;                      // the thread-group id
  std::uint64_t start_time = 0;     // clock ticks after boot, as stat field 22: {pid, start_time}
                                    // keys a process (ProcKey)
  std::uint64_t minflt = 0;         // stat field 10: live threads + the dead threads' sums
  std::uint64_t majflt = 0;         // stat field 12
  std::uint64_t rss_pages = 0;      // stat field 24 (file + anon + shmem, each the shared count of
                                    // the per-CPU counter on 6.2+, as get_mm_rss())
  std::uint64_t rss_sum_pages = 0;  // the same summed over every CPU's slot: status VmRSS on
                                    // 6.16+ (exact); equals rss_pages on <= 6.1
  std::uint64_t swap_pages = 0;     // status VmSwap (summed over CPUs, as 6.16+)
  std::uint64_t hugetlb_pages = 0;  // status HugetlbPages, in base pages
  std::uint64_t locked_pages = 0;   // status VmLck
  std::uint64_t pinned_pages = 0;   // status VmPin
  bool kernel_thread = false;       // PF_KTHREAD; memory fields are 0
  bool has_mm = false;              // false for kernel threads and zombies (status has no Vm lines)
  char comm[16] = {};               // stat field 2, NUL-terminated
};

// The loaded module's walker (an implementation detail of BpfTaskSource).
class BpfTaskWalker {
 public:
  virtual ~BpfTaskWalker() = default;
  virtual bool Read(std::vector<TaskFigures>& out, std::string& error) = 0;
  // The last Read's rss_sum_pages and swap_pages are exact sums over CPUs (false when the
  // per-CPU offsets could not be found, e.g. more than 4096 CPUs: then the shared counts).
  virtual bool exact_sums() const = 0;
  // Tasks (thread-group leaders and other threads) the last Read handed back.
  virtual std::uint64_t tasks() const = 0;
};

// Not thread-safe: one Read at a time (the processes collector reads once per scrape).
class BpfTaskSource {
 public:
  BpfTaskSource();
  ~BpfTaskSource();
  BpfTaskSource(const BpfTaskSource&) = delete;
  BpfTaskSource& operator=(const BpfTaskSource&) = delete;

  // Loads the module and the BPF program once. On failure returns false and sets `error` to
  // what failed ("built without BPF support", "needs CAP_BPF and CAP_PERFMON (or root)", the
  // kernel's lack of BTF or of task iterators, the module not found).
  // `module_path`: pagescope-bpf.so to load (tests); empty: lib/pagescope/ next to the
  // executable, or ../lib/pagescope/ (installed).
  bool Open(std::string& error, const std::string& module_path = "");
  // Runs the iterator once: every process it hands back (kernel threads included), sorted by
  // pid. The kernel may keep some from it: BpfProcessTable (proctable/bpf_tasks_table.h)
  // completes the table from /proc.
  bool Read(std::vector<TaskFigures>& out, std::string& error);
  bool exact_sums() const { return walker_ && walker_->exact_sums(); }
  std::uint64_t tasks() const { return walker_ ? walker_->tasks() : 0; }

 private:
  std::unique_ptr<BpfTaskWalker> walker_;
};

}  // namespace pagescope

// The module's entry point: a walker, or nullptr with *error set.
extern "C" pagescope::BpfTaskWalker* pagescope_bpf_tasks_open(std::string* error);
