// proctable/bpf_tasks.h: the loader's errors, and (as root, on a build with the BPF source) one
// read of the real kernel that must contain this very process as /proc/self/stat shows it.
// The field-by-field comparison with /proc is tests/e2e/test_live_bpf_tasks.py.
#include "proctable/bpf_tasks.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace pagescope {
namespace {

TEST(BpfTaskSource, ReadBeforeOpenFails) {
  BpfTaskSource source;
  std::vector<TaskFigures> tasks;
  std::string error;
  EXPECT_FALSE(source.Read(tasks, error));
  EXPECT_EQ(error, "BPF task source: not open");
  EXPECT_FALSE(source.exact_sums());
}

#ifndef PAGESCOPE_HAVE_BPF
TEST(BpfTaskSource, BuiltWithoutBpfSaysSo) {
  BpfTaskSource source;
  std::string error;
  EXPECT_FALSE(source.Open(error));
  EXPECT_NE(error.find("built without BPF support"), std::string::npos) << error;
}
#else
TEST(BpfTaskSource, MissingModuleIsNamed) {
  BpfTaskSource source;
  std::string error;
  EXPECT_FALSE(source.Open(error, "/nonexistent/pagescope-bpf.so"));
  EXPECT_NE(error.find("lib/pagescope/pagescope-bpf.so"), std::string::npos) << error;
  EXPECT_NE(error.find("/nonexistent/pagescope-bpf.so"), std::string::npos) << error;
}

// Fields 2 (comm) and 22 (start time) of /proc/self/stat.
void SelfStat(std::string& comm, unsigned long long& start_time) {
  std::ifstream in("/proc/self/stat");
  std::string text;
  std::getline(in, text);  // one line
  const auto open = text.find('('), close = text.rfind(')');
  comm = text.substr(open + 1, close - open - 1);
  std::istringstream rest(text.substr(close + 2));
  std::string field;
  for (int i = 3; i <= 22 && rest >> field; ++i) {
  }
  start_time = std::stoull(field);
}

TEST(BpfTaskSource, ReadsThisProcess) {
  if (geteuid() != 0) GTEST_SKIP() << "loading BPF programs needs root (or CAP_BPF + CAP_PERFMON)";
  BpfTaskSource source;
  std::string error;
  ASSERT_TRUE(source.Open(error, PAGESCOPE_BPF_MODULE)) << error;
  std::vector<TaskFigures> tasks;
  ASSERT_TRUE(source.Read(tasks, error)) << error;
  ASSERT_TRUE(std::is_sorted(tasks.begin(), tasks.end(),
                             [](const auto& a, const auto& b) { return a.pid < b.pid; }));
  auto self = std::find_if(tasks.begin(), tasks.end(),
                           [](const TaskFigures& t) { return t.pid == getpid(); });
  ASSERT_NE(self, tasks.end());
  std::string comm;
  unsigned long long start_time = 0;
  SelfStat(comm, start_time);
  EXPECT_EQ(self->start_time, start_time);
  EXPECT_EQ(std::string(self->comm), comm);
  EXPECT_TRUE(self->has_mm);
  EXPECT_FALSE(self->kernel_thread);
  EXPECT_GT(self->rss_sum_pages, 0u);
  EXPECT_GT(self->minflt, 0u);
  // A second read re-runs the iterator with the program loaded once.
  ASSERT_TRUE(source.Read(tasks, error)) << error;
  EXPECT_GT(tasks.size(), 1u);
}
#endif

}  // namespace
}  // namespace pagescope
