#pragma once
// The process table of a scrape from the BPF task iterator (proctable/bpf_tasks.h; the
// processes collector's source=bpf), completed from /proc: every process the /proc walk
// (proctable/walk.h) would list is in it, with the same figures.
//
// The kernel's task iterator does not hand back every task on every host: in this Firecracker
// guest (kernel 6.18.44-fc) it never runs a program for the VM's PID 1 (its supervisor, whose
// ptrace-guarded /proc files even root may not read) nor for any of its threads, not even in an
// iterator targeted at that pid (docs/performance.md). So each Fill compares the tasks the
// iterator handed back with the kernel's count of tasks (nr_threads, /proc/loadavg, read before
// and after the walk) less the threads of the processes it missed before, which are read from
// /proc at every scrape. When the counts differ (a process the kernel keeps from the iterator,
// or tasks that started or exited during the walk), Fill lists <procfs> and reads stat and
// status of every process the iterator did not hand back as the /proc walk does
// (ReadProcesses), so their figures are the procfs source's. Where the kernel keeps nothing
// from the iterator and nothing started or exited during the walk, the check costs two reads
// of /proc/loadavg.

#include <memory>
#include <mutex>
#include <vector>

#include "framework/collector.h"
#include "proctable/bpf_tasks.h"
#include "proctable/proc_key.h"
#include "proctable/walk.h"

namespace pagescope {

class BpfProcessTable {
 public:
  explicit BpfProcessTable(std::shared_ptr<BpfTaskSource> source) : source_(std::move(source)) {}
  // Appends this scrape's processes to `table`, sorted by pid. One Fill at a time (a lock).
  void Fill(const Context& ctx, ProcessTable& table);

  // What the last Fill did (tests, benchmarks).
  struct Last {
    bool listed = false;         // <procfs> was listed: the task counts differed
    std::vector<int> from_proc;  // processes the iterator did not hand back, read from /proc
  };
  Last last() const;

 private:
  std::shared_ptr<BpfTaskSource> source_;
  mutable std::mutex mu_;
  std::vector<ProcKey> missed_;  // processes the iterator did not hand back last time, sorted
  Last last_;
};

}  // namespace pagescope
