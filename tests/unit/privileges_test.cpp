// What the enabled collectors declare of the process (CollectorSpec::capabilities, open_files)
// and the descriptor limit raised from it at start-up, on the real setrlimit(2). Dropping
// privileges itself is proved end to end (tests/e2e/test_privileges.py: it needs root and a
// process of its own).

#include "exporter/privileges.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/resource.h>

#include "collectors/registry.h"
#include "exporter/config.h"

namespace pagescope {
namespace {

Config ConfigFromFlags(const std::vector<std::string>& flags) {
  CommandLine cl;
  for (const auto& f : flags) {
    auto eq = f.find('=');
    cl.values[f.substr(0, eq)] = {eq == std::string::npos ? "true" : f.substr(eq + 1)};
  }
  return LoadConfigFromText(cl, "", "");
}

TEST(ProcessNeeds, OnlyTheEnabledCollectorsDeclarationsCount) {
  // The default collectors: no capability beyond the exporter's own, no descriptors.
  ProcessNeeds none = CollectorNeeds(ConfigFromFlags({}), AllCollectors());
  EXPECT_TRUE(none.capabilities.empty());
  EXPECT_EQ(none.open_files, 0u);
  EXPECT_EQ(KeptCapabilities(none.capabilities), "CAP_SYS_PTRACE,CAP_DAC_READ_SEARCH");
  ProcessNeeds tlb = CollectorNeeds(
      ConfigFromFlags({"collectors.tlb.enabled", "collectors.tlb.max_counters=5000"}),
      AllCollectors());
  EXPECT_THAT(tlb.capabilities, ::testing::ElementsAre(Capability::kPerfmon));
  EXPECT_EQ(tlb.open_files, 5000u);
  EXPECT_EQ(KeptCapabilities(tlb.capabilities), "CAP_SYS_PTRACE,CAP_DAC_READ_SEARCH,CAP_PERFMON");
  // Declared twice (two collectors): kept once.
  std::vector<CollectorSpec> two = {*FindCollector(AllCollectors(), "tlb"),
                                    *FindCollector(AllCollectors(), "tlb")};
  two[1].name = "meminfo";  // enabled by default
  two[1].open_files = nullptr;
  ProcessNeeds both = CollectorNeeds(ConfigFromFlags({"collectors.tlb.enabled"}), two);
  EXPECT_THAT(both.capabilities, ::testing::ElementsAre(Capability::kPerfmon));
}

TEST(ProcessNeeds, ProcessesWithTheBpfSourceKeepsCapBpfAndCapPerfmon) {
  ProcessNeeds bpf =
      CollectorNeeds(ConfigFromFlags({"collectors.processes.source=bpf"}), AllCollectors());
  EXPECT_THAT(bpf.capabilities, ::testing::ElementsAre(Capability::kPerfmon, Capability::kBpf));
  EXPECT_EQ(KeptCapabilities(bpf.capabilities),
            "CAP_SYS_PTRACE,CAP_DAC_READ_SEARCH,CAP_PERFMON,CAP_BPF");
  // With tlb too: CAP_PERFMON once.
  ProcessNeeds both =
      CollectorNeeds(ConfigFromFlags({"collectors.processes.source=bpf", "collectors.tlb.enabled"}),
                     AllCollectors());
  EXPECT_THAT(both.capabilities, ::testing::ElementsAre(Capability::kPerfmon, Capability::kBpf));
  // procfs (the default) or the collector disabled: nothing.
  EXPECT_TRUE(
      CollectorNeeds(ConfigFromFlags({"collectors.processes.source=procfs"}), AllCollectors())
          .capabilities.empty());
  EXPECT_TRUE(CollectorNeeds(ConfigFromFlags({"collectors.processes.source=bpf",
                                              "collectors.processes.enabled=false"}),
                             AllCollectors())
                  .capabilities.empty());
}

TEST(ProcessNeeds, RaisesTheSoftDescriptorLimitUpToTheHardOne) {
  rlimit saved{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &saved), 0);
  if (saved.rlim_max != RLIM_INFINITY && saved.rlim_max < 2 * kExporterOpenFiles + 100) {
    GTEST_SKIP() << "hard RLIMIT_NOFILE " << saved.rlim_max << " leaves no room to raise";
  }
  rlimit low = saved;
  low.rlim_cur = 256;
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
  RaiseOpenFileLimit(0);  // nothing declared: unchanged
  rlimit now{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &now), 0);
  EXPECT_EQ(now.rlim_cur, 256u);
  RaiseOpenFileLimit(100);
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &now), 0);
  EXPECT_EQ(now.rlim_cur, kExporterOpenFiles + 100);
  EXPECT_EQ(now.rlim_max, saved.rlim_max);
  RaiseOpenFileLimit(10);  // never lowered
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &now), 0);
  EXPECT_EQ(now.rlim_cur, kExporterOpenFiles + 100);
  if (saved.rlim_max != RLIM_INFINITY) {
    RaiseOpenFileLimit(saved.rlim_max);  // more than the hard limit: the hard limit
    ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &now), 0);
    EXPECT_EQ(now.rlim_cur, saved.rlim_max);
  }
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &saved), 0);
}

}  // namespace
}  // namespace pagescope
