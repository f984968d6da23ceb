#include "proctable/bpf_tasks_table.h"

#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <optional>
#include <string>

#include "framework/log.h"
#include "kernel/parse.h"
#include "kernel/proc_loadavg.h"

namespace pagescope {

namespace {

// The kernel's number of tasks (nr_threads), or nullopt when /proc/loadavg cannot be read or
// parsed (a malformed file is reported in `table`).
std::optional<std::uint64_t> KernelTasks(const Context& ctx, ProcessTable& table) {
  const auto path = ctx.fs().Proc("loadavg");
  const auto text = ctx.Read(path);
  if (!text) return std::nullopt;
  try {
    return ParseProcLoadavg(*text).tasks;
  } catch (const ParseError& e) {
    table.errors.push_back(FileLineError(path, e));
    return std::nullopt;
  }
}

// Clock ticks since boot now, on the clock of stat's start times (field 22, which adds this
// time namespace's boot offset, as CLOCK_BOOTTIME does).
std::uint64_t BootTicksNow() {
  timespec ts{};
  clock_gettime(CLOCK_BOOTTIME, &ts);
  const long hz = sysconf(_SC_CLK_TCK);
  const auto per_tick = static_cast<std::uint64_t>(1000000000L / (hz > 0 ? hz : 100));
  return (static_cast<std::uint64_t>(ts.tv_sec) * 1000000000ULL +
          static_cast<std::uint64_t>(ts.tv_nsec)) /
         per_tick;
}

bool Handed(const std::vector<TaskFigures>& records, int pid) {
  auto it = std::lower_bound(records.begin(), records.end(), pid,
                             [](const TaskFigures& f, int p) { return f.pid < p; });
  return it != records.end() && it->pid == pid;
}

}  // namespace

void BpfProcessTable::Fill(const Context& ctx, ProcessTable& table) {
  std::lock_guard<std::mutex> lock(mu_);
  last_ = Last{};
  const std::uint64_t walk_start = BootTicksNow();
  const auto tasks_before = KernelTasks(ctx, table);
  std::vector<TaskFigures> records;
  std::string error;
  if (!source_->Read(records, error)) {
    table.errors.push_back("BPF task iterator: " + error);
    return;
  }
  const auto tasks_after = KernelTasks(ctx, table);
  TableFromFigures(records, SystemPageSize(), table);

  // The processes it missed before and still misses, read from /proc as the walk reads them.
  std::vector<int> again;
  for (const ProcKey& k : missed_) {
    if (!Handed(records, k.pid)) again.push_back(k.pid);
  }
  ProcessTable extra;
  ReadProcesses(ctx, again, extra);
  extra.vanished = 0;  // exited since the last scrape, not while being read
  std::uint64_t missed_tasks = extra.kernel_threads;
  for (const auto& p : extra.processes)
    missed_tasks += std::max<std::uint64_t>(1, p.stat.num_threads);
  const bool complete = tasks_before && tasks_after && *tasks_before == *tasks_after &&
                        *tasks_before == source_->tasks() + missed_tasks;
  if (!complete) {
    // Tasks came or went during the walk, or the kernel keeps one from the iterator: every
    // process /proc lists that the iterator did not hand back.
    last_.listed = true;
    std::vector<int> listed;
    for (int pid : PidReader(ctx.fs().procfs()).Pids()) {
      if (!Handed(records, pid) && !std::binary_search(again.begin(), again.end(), pid)) {
        listed.push_back(pid);
      }
    }
    ReadProcesses(ctx, listed, extra);
    std::sort(extra.processes.begin(), extra.processes.end(),
              [](const ProcessEntry& a, const ProcessEntry& b) { return a.pid < b.pid; });
  }

  std::vector<ProcKey> missed;
  missed.reserve(extra.processes.size());
  for (const auto& p : extra.processes) {
    const ProcKey key = KeyOf(p);
    missed.push_back(key);
    last_.from_proc.push_back(p.pid);
    // Started before the walk and not handed back: the kernel keeps it from the iterator
    // (said once while it stays missed; one that started during the walk is not news).
    if (p.stat.starttime < walk_start && !std::binary_search(missed_.begin(), missed_.end(), key)) {
      log::Info(
          "the BPF task iterator did not hand back this process: its figures are read "
          "from /proc",
          {{"pid", std::to_string(p.pid)}, {"comm", p.stat.comm}});
    }
  }
  missed_ = std::move(missed);

  const auto middle = table.processes.size();
  for (auto& p : extra.processes) table.processes.push_back(std::move(p));
  std::inplace_merge(table.processes.begin(), table.processes.begin() + middle,
                     table.processes.end(),
                     [](const ProcessEntry& a, const ProcessEntry& b) { return a.pid < b.pid; });
  table.kernel_threads += extra.kernel_threads;
  table.vanished += extra.vanished;
  table.denied += extra.denied;
  for (auto& e : extra.errors) table.errors.push_back(std::move(e));
}

BpfProcessTable::Last BpfProcessTable::last() const {
  std::lock_guard<std::mutex> lock(mu_);
  return last_;
}

}  // namespace pagescope
