#pragma once
// The standard process metrics every Prometheus client library exports about its own process
// (https://prometheus.io/docs/instrumenting/writing_clientlibs/#process-metrics), with the
// names, types and help texts of client_golang's process collector, so the usual exporter
// dashboards and alerts work on pagescope unchanged:
//   process_cpu_seconds_total        /proc/self/stat utime + stime, in seconds
//   process_resident_memory_bytes    /proc/self/stat rss times the page size
//   process_virtual_memory_bytes     /proc/self/stat vsize
//   process_virtual_memory_max_bytes /proc/self/limits "Max address space" (unlimited: 2^64)
//   process_open_fds                 entries of /proc/self/fd (the one listing it included)
//   process_max_fds                  /proc/self/limits "Max open files", the soft limit
//   process_start_time_seconds       /proc/stat btime + stat starttime, since the epoch
// Always from the real /proc of pagescope's own process, never --path.procfs (which may be a
// fixture tree, or the host's /proc in a container, where "self" is still pagescope). A file
// that cannot be read gives no series (logged at debug level).

#include "framework/metric_sink.h"

namespace pagescope {

void EmitProcessMetrics(MetricSink& out);

// The exposition names above, for tests and filters.
inline constexpr const char* kProcessMetricNames[] = {"process_cpu_seconds_total",
                                                      "process_resident_memory_bytes",
                                                      "process_virtual_memory_bytes",
                                                      "process_virtual_memory_max_bytes",
                                                      "process_open_fds",
                                                      "process_max_fds",
                                                      "process_start_time_seconds"};

}  // namespace pagescope
