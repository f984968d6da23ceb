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

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <mutex>
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
  // The walk stopped at the scrape's deadline (Context::Expired): processes are missing. A
  // collector that keeps state per process must not take the missing ones for exited.
  bool expired = false;
};

inline constexpr std::size_t kScanPerThread = 1000;
inline constexpr std::size_t kMaxScanThreads = 4;

// The status figures of the last walk (VmSwap, HugetlbPages, VmLck, VmPin), kept between
// scrapes so that a process that did not run is not read again (the processes collector's
// status_interval_seconds option). Per process: its pid, a 64-bit hash of its whole stat text,
// the four figures and when status was read (about 56 bytes).
//
// A process whose stat text is byte-identical to the last walk's did not run in between: its
// CPU times (utime, stime), faults, rss, vsize, state and last CPU are unchanged. A swap-out or
// swap-in changes rss (and a swap-in a fault counter), a hugetlb fault changes minflt/majflt, so
// VmSwap and HugetlbPages follow such changes at once. What can be up to `interval` old: VmLck
// and VmPin changed by a process that then sleeps without a clock tick of CPU time (an mlock()
// of memory already resident, munlock(), an io_uring buffer registration or a VFIO pin of
// resident memory), and VmSwap when another process's memory pressure swaps out pages of a
// process and its rss does not show it (shared memory it maps, counted in rss only while
// mapped resident). The figures are re-read at least every `interval`.
class StatusCache {
 public:
  using Clock = std::chrono::steady_clock;
  // interval 0: status is read at every walk (nothing is kept).
  StatusCache(Clock::duration interval, std::function<Clock::time_point()> now)
      : interval_(interval), now_(std::move(now)) {}
  Clock::duration interval() const { return interval_; }
  // Processes whose status figures were reused / read in the last walk (tests, benchmarks).
  std::uint64_t reused() const { return reused_; }
  std::uint64_t read() const { return read_; }

  struct Entry {
    int pid = 0;
    std::uint8_t present = 0;  // bit i: figure i was in status
    std::uint64_t stat_hash = 0;
    std::uint64_t figures[4] = {};  // vm_swap, hugetlb_pages, vm_lck, vm_pin
    Clock::time_point read_at{};
  };

 private:
  friend void WalkProcfs(const Context& ctx, ProcessTable& table, StatusCache* cache);
  Clock::duration interval_;
  std::function<Clock::time_point()> now_;
  std::mutex mu_;               // one walk at a time uses the cache
  std::vector<Entry> entries_;  // the last walk's, sorted by pid
  std::uint64_t reused_ = 0;
  std::uint64_t read_ = 0;
};

// Fills `table` from <procfs>/<pid>/{stat,status}; with `cache` (interval > 0), the status of a
// process whose stat is unchanged is reused while younger than the interval.
void WalkProcfs(const Context& ctx, ProcessTable& table, StatusCache* cache = nullptr);

// Reads <procfs>/<pid>/{stat,status} of these thread-group leaders into `table` as the walk
// does (kernel threads counted, processes that exited counted as vanished), in their order.
void ReadProcesses(const Context& ctx, const std::vector<int>& pids, ProcessTable& table);

// Another source of the table's figures (the BPF task iterator, the /proc walk with a
// StatusCache); `name` names it in messages.
struct ProcessSource {
  std::string name;
  std::function<void(const Context&, ProcessTable&)> fill;
};

// The table of this scrape, memoized in the Context: one walk per scrape. The first collector
// of the scrape that asks decides where it comes from: `source` when given, else the plain
// /proc walk. The processes collector runs first in a scrape and passes its configured source
// (collectors.processes.source and status_interval_seconds), so the qemu and tlb collectors of
// the same scrape get that table; without the processes collector they get the /proc walk.
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
