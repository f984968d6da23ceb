#pragma once
// The process table of a scrape: one ProcessEntry (pid, stat and status figures) per process,
// shared by the processes, qemu and tlb collectors of the scrape (memoized in the Context).
//
// Sources of the figures:
//   - the /proc walk (the default): /proc/<pid>/{stat,status} of every thread-group leader,
//     read with PidReader; from kScanPerThread processes on, contiguous pid ranges are read by
//     up to kMaxScanThreads threads (at most one per CPU): the same table, a fraction of the
//     latency;
//   - per-process records of another source, such as the BPF task iterator
//     (proctable/bpf_tasks.h, TaskFigures): TableFromFigures turns them into the same table.
// Either way kernel threads (PF_KTHREAD) are counted and left out: they own no user memory.
// What a source cannot give (a process's exe, cmdline, cgroup) is read from /proc by the
// collector when it first sees the process (ProcStates, proctable/proc_states.h, caches it by
// key).

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "framework/collector.h"
#include "kernel/proc_pid.h"

namespace pagescope {

// What one walk found.
struct ProcessTable {
  std::vector<ProcessEntry> processes;  // sorted by pid, kernel threads excluded
  std::uint64_t vanished = 0;           // processes that exited while being read
  std::uint64_t denied = 0;             // files we were not allowed to read
  std::uint64_t kernel_threads = 0;
  std::vector<std::string> errors;  // malformed files, "path:line: message"
};

inline constexpr std::size_t kScanPerThread = 1000;
inline constexpr std::size_t kMaxScanThreads = 4;

// Fills `table` from <procfs>/<pid>/{stat,status}.
void WalkProcfs(const Context& ctx, ProcessTable& table);

// Another source of the table's figures; `name` keys the memoized table of a scrape.
struct ProcessSource {
  std::string name;
  std::function<void(const Context&, ProcessTable&)> fill;
};

// The table of this scrape, memoized in the Context: from `source` when given, else the /proc
// walk. Collectors that ask for the same source share one walk.
const ProcessTable& ScanProcesses(const Context& ctx, const ProcessSource* source = nullptr);

// Appends per-process records of another source to `table`, sorted by pid as they come. A
// record has the fields of TaskFigures (proctable/bpf_tasks.h): pid, start_time (stat field 22),
// minflt, majflt, rss_pages, rss_sum_pages, swap_pages, hugetlb_pages, locked_pages,
// pinned_pages (pages of `page_size`), kernel_thread, has_mm (false: status has no Vm lines,
// as for a zombie) and comm (NUL-terminated).
template <typename Figures>
void TableFromFigures(const std::vector<Figures>& records, std::uint64_t page_size,
                      ProcessTable& table) {
  table.processes.reserve(table.processes.size() + records.size());
  for (const Figures& f : records) {
    if (f.kernel_thread) {
      ++table.kernel_threads;
      continue;
    }
    ProcessEntry e;
    e.pid = f.pid;
    e.stat.comm.assign(f.comm, strnlen(f.comm, sizeof f.comm));
    e.stat.minflt = f.minflt;
    e.stat.majflt = f.majflt;
    e.stat.starttime = f.start_time;
    e.stat.rss_pages = f.rss_pages;
    if (f.has_mm) {
      e.status.vm_rss = f.rss_sum_pages * page_size;
      e.status.vm_swap = f.swap_pages * page_size;
      e.status.hugetlb_pages = f.hugetlb_pages * page_size;
      e.status.vm_lck = f.locked_pages * page_size;
      e.status.vm_pin = f.pinned_pages * page_size;
    }
    e.has_status = true;
    table.processes.push_back(std::move(e));
  }
}

}  // namespace pagescope
