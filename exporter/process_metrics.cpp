#include "exporter/process_metrics.h"

#include <unistd.h>

#include <cstdint>
#include <optional>
#include <string>

#include "framework/errors.h"
#include "framework/fs.h"
#include "framework/log.h"
#include "kernel/proc_pid.h"
#include "kernel/proc_pid_limits.h"
#include "kernel/proc_stat.h"

namespace pagescope {
namespace {

std::optional<std::string> ReadSelf(const char* path) {
  ReadResult r = FsRoot::ReadFile(path);
  if (r.status == ReadStatus::kOk) return std::move(r.content);
  if (log::Enabled(log::Level::kDebug)) {
    log::Debug("cannot read, no process metric from it", {{"path", path}, {"err", r.error}});
  }
  return std::nullopt;
}

// Parses `text` with `parse`; nullopt (logged at debug level) when it is malformed.
template <typename F>
auto ParseSelf(const char* path, const std::optional<std::string>& text, F&& parse)
    -> std::optional<decltype(parse(*text))> {
  if (!text) return std::nullopt;
  try {
    return parse(*text);
  } catch (const ParseError& e) {
    if (log::Enabled(log::Level::kDebug)) {
      log::Debug("malformed, no process metric from it", {{"path", path}, {"err", e.what()}});
    }
    return std::nullopt;
  }
}

// The boot time does not change: /proc/stat (a line per CPU and interrupt) is read once.
std::optional<std::uint64_t> BootTime() {
  static const std::optional<std::uint64_t> btime = [] {
    auto parsed = ParseSelf("/proc/stat", ReadSelf("/proc/stat"),
                            [](const std::string& t) { return ParseProcStatBootTime(t); });
    return parsed ? *parsed : std::nullopt;
  }();
  return btime;
}

}  // namespace

void EmitProcessMetrics(MetricSink& out) {
  static const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  static const double page_size = static_cast<double>(sysconf(_SC_PAGESIZE));
  if (auto stat = ParseSelf("/proc/self/stat", ReadSelf("/proc/self/stat"),
                            [](const std::string& t) { return ParseProcPidStat(t); })) {
    out.Counter("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", {},
                static_cast<double>(stat->utime + stat->stime) / ticks);
    out.Gauge("process_resident_memory_bytes", "Resident memory size in bytes.", {},
              static_cast<double>(stat->rss_pages) * page_size);
    out.Gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.", {},
              static_cast<double>(stat->vsize));
    if (auto btime = BootTime()) {
      out.Gauge("process_start_time_seconds",
                "Start time of the process since unix epoch in seconds.", {},
                static_cast<double>(*btime) + static_cast<double>(stat->starttime) / ticks);
    }
  }
  if (auto limits = ParseSelf("/proc/self/limits", ReadSelf("/proc/self/limits"),
                              [](const std::string& t) { return ParseProcPidLimits(t); })) {
    auto soft = [&](const char* name) -> std::optional<double> {
      auto it = limits->find(name);
      if (it == limits->end()) return std::nullopt;
      // Unlimited is RLIM_INFINITY, 2^64 - 1, as client_golang reports it.
      return it->second.soft ? static_cast<double>(*it->second.soft) : 18446744073709551615.0;
    };
    if (auto v = soft("Max open files")) {
      out.Gauge("process_max_fds", "Maximum number of open file descriptors.", {}, *v);
    }
    if (auto v = soft("Max address space")) {
      out.Gauge("process_virtual_memory_max_bytes",
                "Maximum amount of virtual memory available in bytes.", {}, *v);
    }
  }
  DirResult fds = FsRoot::ReadDir("/proc/self/fd");
  if (fds.status == ReadStatus::kOk) {
    out.Gauge("process_open_fds", "Number of open file descriptors.", {},
              static_cast<double>(fds.names.size()));
  }
}

}  // namespace pagescope
