#include "proctable/walk.h"

#include <algorithm>
#include <optional>
#include <string_view>
#include <thread>

namespace pagescope {

namespace {

// What a walk with a StatusCache uses: the last walk's entries (read-only while the ranges are
// read), the time of this walk, and the entries of this walk (one vector per range).
struct CacheWalk {
  const std::vector<StatusCache::Entry>* old = nullptr;
  StatusCache::Clock::duration interval{};
  StatusCache::Clock::time_point now{};
};

struct RangeOut {
  std::vector<StatusCache::Entry> entries;
  std::uint64_t reused = 0;
  std::uint64_t read = 0;
};

std::uint64_t StatHash(std::string_view text) { return std::hash<std::string_view>{}(text); }

void StoreFigures(const ProcPidStatus& s, StatusCache::Entry& e) {
  const std::optional<std::uint64_t>* f[4] = {&s.vm_swap, &s.hugetlb_pages, &s.vm_lck, &s.vm_pin};
  for (int i = 0; i < 4; ++i) {
    if (f[i]->has_value()) {
      e.present |= static_cast<std::uint8_t>(1u << i);
      e.figures[i] = **f[i];
    }
  }
}

void LoadFigures(const StatusCache::Entry& e, ProcPidStatus& s) {
  std::optional<std::uint64_t>* f[4] = {&s.vm_swap, &s.hugetlb_pages, &s.vm_lck, &s.vm_pin};
  for (int i = 0; i < 4; ++i) {
    if ((e.present & (1u << i)) != 0) *f[i] = e.figures[i];
  }
}

// The last walk's entry of `pid`, or nullptr.
const StatusCache::Entry* Find(const std::vector<StatusCache::Entry>& v, int pid) {
  auto it = std::lower_bound(v.begin(), v.end(), pid,
                             [](const StatusCache::Entry& e, int p) { return e.pid < p; });
  return it != v.end() && it->pid == pid ? &*it : nullptr;
}

// Reads stat and status of pids[begin, end) into `t` (one reader and buffer per call).
void ScanRange(const Context& ctx, const std::vector<int>& pids, std::size_t begin, std::size_t end,
               ProcessTable& t, const CacheWalk* cw = nullptr, RangeOut* out = nullptr) {
  PidReader reader(ctx);
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
        ++t.denied;  // warned about and counted by the reader
        return false;
      case ReadStatus::kError:
        t.errors.push_back(reader.Path(pid, file).string() + ": read error");
        return false;
    }
    return false;
  };
  t.processes.reserve(end - begin);
  for (std::size_t i = begin; i < end; ++i) {
    if (ctx.Expired()) {
      t.expired = true;
      break;
    }
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
    StatusCache::Entry ce;
    if (cw != nullptr) {
      ce.pid = pid;
      ce.stat_hash = StatHash(buf);
      const StatusCache::Entry* last = Find(*cw->old, pid);
      if (last != nullptr && last->stat_hash == ce.stat_hash &&
          cw->now - last->read_at < cw->interval) {
        // Did not run since the last walk: its status figures are those of the last read.
        LoadFigures(*last, e.status);
        e.has_status = true;
        out->entries.push_back(*last);
        ++out->reused;
        t.processes.push_back(std::move(e));
        continue;
      }
    }
    if (!handle(reader.Read(pid, "status", buf, true), pid, "status")) continue;
    try {
      e.status = ParseProcPidStatus(buf);
      e.has_status = true;
      if (cw != nullptr) {
        StoreFigures(e.status, ce);
        ce.read_at = cw->now;
        out->entries.push_back(ce);
        ++out->read;
      }
    } catch (const ParseError& err) {
      t.errors.push_back(FileLineError(reader.Path(pid, "status"), err));
    }
    t.processes.push_back(std::move(e));
  }
}

}  // namespace

void WalkProcfs(const Context& ctx, ProcessTable& t, StatusCache* cache) {
  if (cache != nullptr && cache->interval_ <= StatusCache::Clock::duration::zero()) cache = nullptr;
  std::unique_lock<std::mutex> lock;
  if (cache != nullptr) lock = std::unique_lock<std::mutex>(cache->mu_);
  PidReader reader(ctx);
  if (!reader.ok()) return;
  const std::vector<int> pids = reader.Pids();
  CacheWalk cw;
  if (cache != nullptr) {
    cw.old = &cache->entries_;
    cw.interval = cache->interval_;
    cw.now = cache->now_();
  }
  const CacheWalk* cwp = cache != nullptr ? &cw : nullptr;
  // Reading the files is nearly all kernel time per process and independent between
  // processes: from kScanPerThread processes on, the walk is split into contiguous pid
  // ranges read by up to kMaxScanThreads threads (no more than the CPUs), which divides the
  // scrape's latency, not its CPU. The parts are joined in pid order, so the table is the same.
  const std::size_t cpus = std::max(1u, std::thread::hardware_concurrency());
  const std::size_t threads =
      std::min({kMaxScanThreads, cpus, std::max<std::size_t>(1, pids.size() / kScanPerThread)});
  auto keep = [cache](std::vector<RangeOut>& outs) {
    if (cache == nullptr) return;
    std::vector<StatusCache::Entry> entries;
    std::size_t n = 0;
    for (const auto& o : outs) n += o.entries.size();
    entries.reserve(n);
    cache->reused_ = cache->read_ = 0;
    for (auto& o : outs) {
      entries.insert(entries.end(), o.entries.begin(), o.entries.end());
      cache->reused_ += o.reused;
      cache->read_ += o.read;
    }
    cache->entries_ = std::move(entries);  // processes gone since the last walk drop out
  };
  if (threads <= 1) {
    std::vector<RangeOut> outs(1);
    ScanRange(ctx, pids, 0, pids.size(), t, cwp, &outs[0]);
    keep(outs);
    return;
  }
  std::vector<ProcessTable> parts(threads);
  std::vector<RangeOut> outs(threads);
  std::vector<std::thread> workers;
  const std::size_t per = (pids.size() + threads - 1) / threads;
  for (std::size_t i = 1; i < threads; ++i) {
    workers.emplace_back([&, i] {
      ScanRange(ctx, pids, std::min(pids.size(), i * per), std::min(pids.size(), (i + 1) * per),
                parts[i], cwp, &outs[i]);
    });
  }
  ScanRange(ctx, pids, 0, std::min(pids.size(), per), parts[0], cwp, &outs[0]);
  for (auto& w : workers) w.join();
  keep(outs);
  t.processes.reserve(pids.size());
  for (auto& part : parts) {
    for (auto& e : part.processes) t.processes.push_back(std::move(e));
    t.vanished += part.vanished;
    t.denied += part.denied;
    t.kernel_threads += part.kernel_threads;
    t.expired |= part.expired;
    for (auto& err : part.errors) t.errors.push_back(std::move(err));
  }
}

void ReadProcesses(const Context& ctx, const std::vector<int>& pids, ProcessTable& table) {
  ScanRange(ctx, pids, 0, pids.size(), table);
}

const ProcessTable& ScanProcesses(const Context& ctx, const ProcessSource* source) {
  if (source == nullptr) {
    return ctx.Memo<ProcessTable>("proc_pid_table", [&ctx] {
      ProcessTable t;
      WalkProcfs(ctx, t);
      return t;
    });
  }
  return ctx.Memo<ProcessTable>("proc_pid_table", [&ctx, source] {
    ProcessTable t;
    source->fill(ctx, t);
    return t;
  });
}

}  // namespace pagescope
