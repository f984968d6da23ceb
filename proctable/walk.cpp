#include "proctable/walk.h"

#include <algorithm>
#include <thread>

namespace pagescope {

namespace {

// Reads stat and status of pids[begin, end) into `t` (one reader and buffer per call).
void ScanRange(const Context& ctx, const std::vector<int>& pids, std::size_t begin, std::size_t end,
               ProcessTable& t) {
  PidReader reader(ctx.fs().procfs());
  if (!reader.ok()) return;
  std::string buf;
  auto handle = [&](ReadStatus st, int pid, const char* file) {
    switch (st) {
      case ReadStatus::kOk:
        return true;
      case ReadStatus::kMissing:
        ++t.vanished;
        return false;
      case ReadStatus::kDenied:
        ++t.denied;
        // One key for all processes: at most one line a minute, not one per pid.
        ctx.WarnDenied(ctx.fs().Proc(std::string("<pid>/") + file),
                       "permission denied (hidepid or another user's process)");
        return false;
      case ReadStatus::kError:
        t.errors.push_back(reader.Path(pid, file).string() + ": read error");
        return false;
    }
    return false;
  };
  t.processes.reserve(end - begin);
  for (std::size_t i = begin; i < end; ++i) {
    const int pid = pids[i];
    ProcessEntry e;
    e.pid = pid;
    if (!handle(reader.Read(pid, "stat", buf, true), pid, "stat")) continue;
    try {
      e.stat = ParseProcPidStat(buf);
    } catch (const ParseError& err) {
      t.errors.push_back(FileLineError(reader.Path(pid, "stat"), err));
      continue;
    }
    if (e.stat.kernel_thread()) {
      ++t.kernel_threads;
      continue;
    }
    if (!handle(reader.Read(pid, "status", buf, true), pid, "status")) continue;
    try {
      e.status = ParseProcPidStatus(buf);
      e.has_status = true;
    } catch (const ParseError& err) {
      t.errors.push_back(FileLineError(reader.Path(pid, "status"), err));
    }
    t.processes.push_back(std::move(e));
  }
}

}  // namespace

void WalkProcfs(const Context& ctx, ProcessTable& t) {
  PidReader reader(ctx.fs().procfs());
  if (!reader.ok()) return;
  const std::vector<int> pids = reader.Pids();
  // Reading the files is nearly all kernel time per process and independent between
  // processes: from kScanPerThread processes on, the walk is split into contiguous pid
  // ranges read by up to kMaxScanThreads threads (no more than the CPUs), which divides the
  // scrape's latency, not its CPU. The parts are joined in pid order, so the table is the same.
  const std::size_t cpus = std::max(1u, std::thread::hardware_concurrency());
  const std::size_t threads =
      std::min({kMaxScanThreads, cpus, std::max<std::size_t>(1, pids.size() / kScanPerThread)});
  if (threads <= 1) {
    ScanRange(ctx, pids, 0, pids.size(), t);
    return;
  }
  std::vector<ProcessTable> parts(threads);
  std::vector<std::thread> workers;
  const std::size_t per = (pids.size() + threads - 1) / threads;
  for (std::size_t i = 1; i < threads; ++i) {
    workers.emplace_back([&, i] {
      ScanRange(ctx, pids, std::min(pids.size(), i * per), std::min(pids.size(), (i + 1) * per),
                parts[i]);
    });
  }
  ScanRange(ctx, pids, 0, std::min(pids.size(), per), parts[0]);
  for (auto& w : workers) w.join();
  t.processes.reserve(pids.size());
  for (auto& part : parts) {
    for (auto& e : part.processes) t.processes.push_back(std::move(e));
    t.vanished += part.vanished;
    t.denied += part.denied;
    t.kernel_threads += part.kernel_threads;
    for (auto& err : part.errors) t.errors.push_back(std::move(err));
  }
}

const ProcessTable& ScanProcesses(const Context& ctx, const ProcessSource* source) {
  if (source == nullptr) {
    return ctx.Memo<ProcessTable>("proc_pid_table", [&ctx] {
      ProcessTable t;
      WalkProcfs(ctx, t);
      return t;
    });
  }
  return ctx.Memo<ProcessTable>("proc_pid_table/" + source->name, [&ctx, source] {
    ProcessTable t;
    source->fill(ctx, t);
    return t;
  });
}

}  // namespace pagescope
