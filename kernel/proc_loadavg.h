#pragma once
// /proc/loadavg (proc(5), fs/proc/loadavg.c): one line, "0.20 0.18 0.12 1/80 11206": the load
// averages over 1, 5 and 15 minutes, the runnable tasks and the number of tasks (nr_threads:
// every thread of every process, kernel threads included), and the last pid handed out. The
// BPF task source compares the number of tasks with what the kernel's task iterator handed
// back (proctable/bpf_tasks.h).

#include <cstdint>
#include <string_view>

namespace pagescope {

struct ProcLoadavg {
  double load1 = 0, load5 = 0, load15 = 0;
  std::uint64_t runnable = 0;  // nr_running()
  std::uint64_t tasks = 0;     // nr_threads
  std::uint64_t last_pid = 0;
};
// Throws ParseError(1, …) on anything but the five fields.
ProcLoadavg ParseProcLoadavg(std::string_view text);

}  // namespace pagescope
