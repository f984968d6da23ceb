// The exporter's own process metrics (exporter/process_metrics.h) and the parsers behind them.

#include "exporter/process_metrics.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/times.h>
#include <unistd.h>

#include <ctime>
#include <map>
#include <string>

#include "framework/errors.h"
#include "kernel/proc_pid_limits.h"
#include "kernel/proc_stat.h"
#include "test_util.h"

namespace pagescope {
namespace {

TEST(ProcPidLimits, ParsesSoftAndHardLimits) {
  const char* text =
      "Limit                     Soft Limit           Hard Limit           Units     \n"
      "Max cpu time              unlimited            unlimited            seconds   \n"
      "Max open files            1024                 524288               files     \n"
      "Max address space         unlimited            unlimited            bytes     \n"
      "Max nice priority         0                    0                    \n";
  auto limits = ParseProcPidLimits(text);
  EXPECT_EQ(limits.at("Max open files").soft, 1024u);
  EXPECT_EQ(limits.at("Max open files").hard, 524288u);
  EXPECT_EQ(limits.at("Max address space").soft, std::nullopt);
  EXPECT_EQ(limits.at("Max nice priority").hard, 0u);
  EXPECT_EQ(limits.size(), 4u);
}

TEST(ProcPidLimits, MalformedLinesNameTheLine) {
  EXPECT_EQ(testing::LineOfError([] { ParseProcPidLimits("Max open files 1024 4096 files\n"); }),
            1u);
  EXPECT_EQ(testing::LineOfError([] {
              ParseProcPidLimits(
                  "Limit                     Soft Limit           Hard Limit           Units\n"
                  "Max open files            many                 4096                 files\n");
            }),
            2u);
  EXPECT_EQ(testing::LineOfError([] {
              ParseProcPidLimits(
                  "Limit                     Soft Limit           Hard Limit           Units\n"
                  "Max open files            1024\n");
            }),
            2u);
  EXPECT_EQ(testing::LineOfError(
                [] { ParseProcPidLimits("Limit                     Soft Limit\nMax open files"); }),
            2u);
}

TEST(ProcStat, BootTime) {
  EXPECT_EQ(ParseProcStatBootTime("cpu  1 2 3\nctxt 5\nbtime 1796527799\nprocesses 9\n"),
            1796527799u);
  EXPECT_EQ(ParseProcStatBootTime("cpu  1 2 3\n"), std::nullopt);
  EXPECT_EQ(testing::LineOfError([] { ParseProcStatBootTime("cpu 1\nbtime x\n"); }), 2u);
  EXPECT_EQ(testing::LineOfError([] { ParseProcStatBootTime("btime 1 2\n"); }), 1u);
}

double Value(const std::vector<prometheus::MetricFamily>& fams, const std::string& name,
             prometheus::MetricType* type = nullptr) {
  for (const auto& f : fams) {
    if (f.name != name || f.metric.size() != 1) continue;
    if (type != nullptr) *type = f.type;
    return f.type == prometheus::MetricType::Counter ? f.metric[0].counter.value
                                                     : f.metric[0].gauge.value;
  }
  return -1;
}

// The values match what the kernel and libc say about this process.
TEST(ProcessMetrics, DescribeThisProcess) {
  // Run until the kernel has charged this process at least one clock tick of CPU time: a test
  // run alone (ctest starts one process per test) may not have used one yet.
  for (;;) {
    tms t{};
    ::times(&t);
    if (t.tms_utime + t.tms_stime > 0) break;
  }
  MetricSink sink;
  EmitProcessMetrics(sink);
  auto fams = sink.Take();
  for (const char* name : kProcessMetricNames) EXPECT_GE(Value(fams, name), 0) << name;
  prometheus::MetricType type{};
  EXPECT_GT(Value(fams, "process_cpu_seconds_total", &type), 0);
  EXPECT_EQ(type, prometheus::MetricType::Counter);
  EXPECT_EQ(Value(fams, "process_open_fds", &type) > 0, true);
  EXPECT_EQ(type, prometheus::MetricType::Gauge);
  rlimit nofile{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &nofile), 0);
  EXPECT_EQ(Value(fams, "process_max_fds"), static_cast<double>(nofile.rlim_cur));
  // One more descriptor open, one more counted.
  int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  MetricSink again;
  EmitProcessMetrics(again);
  EXPECT_EQ(Value(again.Take(), "process_open_fds"), Value(fams, "process_open_fds") + 1);
  ::close(fd);
  // Started in the last hour (the test binary), not in the future.
  const double start = Value(fams, "process_start_time_seconds");
  const double now = static_cast<double>(std::time(nullptr));
  EXPECT_LE(start, now + 1);
  EXPECT_GT(start, now - 3600);
  EXPECT_GT(Value(fams, "process_resident_memory_bytes"), 1 << 20);
  EXPECT_GT(Value(fams, "process_virtual_memory_bytes"),
            Value(fams, "process_resident_memory_bytes"));
}

}  // namespace
}  // namespace pagescope
