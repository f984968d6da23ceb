// The BPF task source (proctable/bpf_tasks.h) from the command line, for the live test and the
// benchmark (scripts/bench-bpf-task-walk.py).
//   bpf_tasks dump        one line per process: pid=… start_time=… minflt=… … comm=…
//   bpf_tasks bench N     N reads; CPU per read in the format of tests/tools/proc_floor
//   bpf_tasks table N     N scrapes' tables (BpfProcessTable: the iterator's, completed from
//                         /proc); the last one, a line per process: pid=… start_time=… …
//   bpf_tasks bench-table N   N tables; CPU per table, as bench
// Root (or CAP_BPF + CAP_PERFMON). Exit 1 with the source's error on stderr when it cannot open.
#include "proctable/bpf_tasks.h"

#include <sys/resource.h>
#include <time.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "framework/collector.h"
#include "proctable/bpf_tasks_table.h"

namespace {

double Seconds(const timeval& tv) {
  return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
}

unsigned long long U(std::uint64_t v) { return static_cast<unsigned long long>(v); }
unsigned long long U(const std::optional<std::uint64_t>& v) { return v ? U(*v) : 0; }

// `tables` tables of BpfProcessTable (as the processes collector's scrapes make them); the
// last one printed, with how many of them listed /proc.
int Table(std::shared_ptr<pagescope::BpfTaskSource> source, int tables) {
  pagescope::FsRoot fs;
  pagescope::log::RateLimiter limiter(std::chrono::minutes(1));
  pagescope::BpfProcessTable filler(std::move(source));
  pagescope::ProcessTable table;
  int listed = 0;
  for (int i = 0; i < tables; ++i) {
    pagescope::Context ctx(fs, limiter);
    table = pagescope::ProcessTable{};
    filler.Fill(ctx, table);
    if (filler.last().listed) ++listed;
  }
  for (const auto& e : table.errors) std::fprintf(stderr, "%s\n", e.c_str());
  std::string from_proc;
  for (int pid : filler.last().from_proc) {
    from_proc += (from_proc.empty() ? "" : ",") + std::to_string(pid);
  }
  std::printf("tables=%d listed=%d from_proc=%s kernel_threads=%llu processes=%zu\n", tables,
              listed, from_proc.empty() ? "-" : from_proc.c_str(), U(table.kernel_threads),
              table.processes.size());
  for (const auto& p : table.processes) {
    std::printf(
        "pid=%d start_time=%llu minflt=%llu majflt=%llu rss_pages=%llu vm_rss=%llu vm_swap=%llu "
        "hugetlb=%llu vm_lck=%llu vm_pin=%llu comm=%s\n",
        p.pid, U(p.stat.starttime), U(p.stat.minflt), U(p.stat.majflt), U(p.stat.rss_pages),
        U(p.status.vm_rss), U(p.status.vm_swap), U(p.status.hugetlb_pages), U(p.status.vm_lck),
        U(p.status.vm_pin), p.stat.comm.c_str());
  }
  return table.errors.empty() ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode != "dump" && mode != "bench" && mode != "table" && mode != "bench-table") {
    std::fprintf(stderr, "usage: %s dump | bench N | table N | bench-table N\n", argv[0]);
    return 2;
  }
  auto shared = std::make_shared<pagescope::BpfTaskSource>();
  pagescope::BpfTaskSource& source = *shared;
  std::string error;
  if (!source.Open(error)) {
    std::fprintf(stderr, "%s\n", error.c_str());
    return 1;
  }
  const int iterations = argc > 2 ? std::atoi(argv[2]) : 1;
  if (iterations <= 0) return 2;
  if (mode == "table") return Table(shared, iterations);
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
  pagescope::FsRoot fs;
  pagescope::log::RateLimiter limiter(std::chrono::minutes(1));
  pagescope::BpfProcessTable filler(shared);
  std::size_t processes = 0;
  rusage r0{}, r1{};
  timespec w0{}, w1{};
  getrusage(RUSAGE_SELF, &r0);
  clock_gettime(CLOCK_MONOTONIC, &w0);
  for (int i = 0; i < iterations; ++i) {
    if (mode == "bench-table") {
      pagescope::Context ctx(fs, limiter);
      pagescope::ProcessTable table;
      filler.Fill(ctx, table);
      processes = table.processes.size() + table.kernel_threads;
    } else if (!source.Read(tasks, error)) {
      std::fprintf(stderr, "%s\n", error.c_str());
      return 1;
    } else {
      processes = tasks.size();
    }
  }
  clock_gettime(CLOCK_MONOTONIC, &w1);
  getrusage(RUSAGE_SELF, &r1);
  const double cpu =
      Seconds(r1.ru_utime) - Seconds(r0.ru_utime) + Seconds(r1.ru_stime) - Seconds(r0.ru_stime);
  const double wall = static_cast<double>(w1.tv_sec - w0.tv_sec) +
                      static_cast<double>(w1.tv_nsec - w0.tv_nsec) / 1e9;
  std::printf("cpu_seconds_per_iteration=%.6f wall_seconds_per_iteration=%.6f processes=%zu\n",
              cpu / iterations, wall / iterations, processes);
  return 0;
}
