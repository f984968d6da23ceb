// The BPF task source (proctable/bpf_tasks.h) from the command line, for the live test and the
// benchmark (scripts/bench-bpf-task-walk.py).
//   bpf_tasks dump        one line per process: pid=… start_time=… minflt=… … comm=…
//   bpf_tasks bench N     N reads; CPU per read in the format of tests/tools/proc_floor
// Root (or CAP_BPF + CAP_PERFMON). Exit 1 with the source's error on stderr when it cannot open.
#include "proctable/bpf_tasks.h"

#include <sys/resource.h>
#include <time.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

double Seconds(const timeval& tv) {
  return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode != "dump" && mode != "bench") {
    std::fprintf(stderr, "usage: %s dump | bench N\n", argv[0]);
    return 2;
  }
  pagescope::BpfTaskSource source;
  std::string error;
  if (!source.Open(error)) {
    std::fprintf(stderr, "%s\n", error.c_str());
    return 1;
  }
  std::vector<pagescope::TaskFigures> tasks;
  if (mode == "dump") {
    if (!source.Read(tasks, error)) {
      std::fprintf(stderr, "%s\n", error.c_str());
      return 1;
    }
    std::printf("exact_sums=%d processes=%zu\n", source.exact_sums() ? 1 : 0, tasks.size());
    for (const auto& t : tasks) {
      std::printf(
          "pid=%d start_time=%llu minflt=%llu majflt=%llu rss_pages=%llu rss_sum_pages=%llu "
          "swap_pages=%llu hugetlb_pages=%llu locked_pages=%llu pinned_pages=%llu "
          "kernel_thread=%d has_mm=%d comm=%s\n",
          t.pid, static_cast<unsigned long long>(t.start_time),
          static_cast<unsigned long long>(t.minflt), static_cast<unsigned long long>(t.majflt),
          static_cast<unsigned long long>(t.rss_pages),
          static_cast<unsigned long long>(t.rss_sum_pages),
          static_cast<unsigned long long>(t.swap_pages),
          static_cast<unsigned long long>(t.hugetlb_pages),
          static_cast<unsigned long long>(t.locked_pages),
          static_cast<unsigned long long>(t.pinned_pages), t.kernel_thread ? 1 : 0,
          t.has_mm ? 1 : 0, t.comm);
    }
    return 0;
  }
  const int iterations = argc > 2 ? std::atoi(argv[2]) : 1;
  if (iterations <= 0) return 2;
  rusage r0{}, r1{};
  timespec w0{}, w1{};
  getrusage(RUSAGE_SELF, &r0);
  clock_gettime(CLOCK_MONOTONIC, &w0);
  for (int i = 0; i < iterations; ++i) {
    if (!source.Read(tasks, error)) {
      std::fprintf(stderr, "%s\n", error.c_str());
      return 1;
    }
  }
  clock_gettime(CLOCK_MONOTONIC, &w1);
  getrusage(RUSAGE_SELF, &r1);
  const double cpu =
      Seconds(r1.ru_utime) - Seconds(r0.ru_utime) + Seconds(r1.ru_stime) - Seconds(r0.ru_stime);
  const double wall = static_cast<double>(w1.tv_sec - w0.tv_sec) +
                      static_cast<double>(w1.tv_nsec - w0.tv_nsec) / 1e9;
  std::printf("cpu_seconds_per_iteration=%.6f wall_seconds_per_iteration=%.6f processes=%zu\n",
              cpu / iterations, wall / iterations, tasks.size());
  return 0;
}
