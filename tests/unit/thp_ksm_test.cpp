#include <gtest/gtest.h>

#include "collectors/ksm.h"
#include "collectors/thp.h"
#include "kernel/parse.h"
#include "test_util.h"

namespace pagescope {
namespace {

// One file of the kernel and the metric it becomes.
struct FileCase {
  const char* file;
  const char* metric;
  bool counter;
  double divisor;
};

template <typename F>
void ExpectFileMetrics(F metric_of, std::initializer_list<FileCase> cases) {
  for (const auto& c : cases) {
    auto m = metric_of(c.file);
    ASSERT_TRUE(m) << c.file;
    EXPECT_EQ(m->name, c.metric);
    EXPECT_EQ(m->counter, c.counter) << c.file;
    EXPECT_EQ(m->divisor, c.divisor) << c.file;
  }
}

TEST(Thp, KhugepagedFiles) {
  ExpectFileMetrics(
      KhugepagedFileMetric,
      {
          {"pages_collapsed", "pagescope_thp_khugepaged_pages_collapsed_total", true, 1},
          {"full_scans", "pagescope_thp_khugepaged_full_scans_total", true, 1},
          {"scan_sleep_millisecs", "pagescope_thp_khugepaged_scan_sleep_seconds", false, 1000},
          {"defrag", "pagescope_thp_khugepaged_defrag", false, 1},
          // Files of a newer kernel: gauges, milliseconds still turned into seconds.
          {"max_ptes_future", "pagescope_thp_khugepaged_max_ptes_future", false, 1},
          {"retry_millisecs", "pagescope_thp_khugepaged_retry_seconds", false, 1000},
      });
  EXPECT_FALSE(KhugepagedFileMetric("Bad-Name"));
  EXPECT_FALSE(KhugepagedFileMetric("events_total"));  // would be a gauge ending in _total
}

TEST(Thp, PerSizeStats) {
  ExpectFileMetrics(
      ThpSizeStatMetric,
      {
          {"anon_fault_alloc", "pagescope_thp_size_anon_fault_alloc_total", true, 1},
          {"nr_anon", "pagescope_thp_size_anon_pages", false, 1},
          {"nr_anon_partially_mapped", "pagescope_thp_size_anon_partially_mapped_pages", false, 1},
          {"brand_new_event", "pagescope_thp_size_brand_new_event_total", true, 1},
      });
  EXPECT_FALSE(ThpSizeStatMetric("x.y"));
}

TEST(Thp, PolicyFiles) {
  auto c = parse::BracketChoice("always within_size advise [never] deny force\n");
  EXPECT_EQ(c.active, "never");
  EXPECT_EQ(c.states.size(), 6u);
  c = parse::BracketChoice("always defer defer+madvise [madvise] never");
  EXPECT_EQ(c.active, "madvise");
  EXPECT_THROW(parse::BracketChoice("always [inh"), ParseError);      // truncated
  EXPECT_THROW(parse::BracketChoice("always [] never"), ParseError);  // empty choice
  EXPECT_THROW(parse::BracketChoice("[always] always"), ParseError);  // duplicate
  EXPECT_THROW(parse::BracketChoice("always [madvise] never\nmore"), ParseError);
}

TEST(Thp, SizeUsableResolvesInherit) {
  // Anonymous: inherit follows the top-level enabled.
  EXPECT_TRUE(ThpSizeUsable("madvise", "never", "inherit", "never", true));
  EXPECT_FALSE(ThpSizeUsable("never", "never", "inherit", "never", true));
  EXPECT_TRUE(ThpSizeUsable("never", "never", "always", "never", false));
  EXPECT_FALSE(ThpSizeUsable("always", "never", "never", "never", false));
  // Shmem: inherit follows the top-level shmem_enabled; deny switches every size off, force
  // forces the PMD size on.
  EXPECT_TRUE(ThpSizeUsable("never", "within_size", "never", "inherit", true));
  EXPECT_FALSE(ThpSizeUsable("never", "never", "never", "inherit", true));
  EXPECT_TRUE(ThpSizeUsable("never", "never", "never", "advise", false));
  EXPECT_FALSE(ThpSizeUsable("never", "deny", "never", "always", false));
  EXPECT_TRUE(ThpSizeUsable("never", "force", "never", "never", true));
  EXPECT_FALSE(ThpSizeUsable("never", "force", "never", "never", false));
  // Inheriting force: force only forces the PMD size; another size inheriting it follows it as
  // a policy that is not never (the kernel allows huge orders there as for always).
  EXPECT_TRUE(ThpSizeUsable("never", "force", "never", "inherit", false));
  // A size without a per-size anonymous file (file-only sizes) goes by its shmem policy.
  EXPECT_FALSE(ThpSizeUsable("always", "never", "", "never", false));
}

TEST(Thp, UnusableSizesOnlyWithAllSizes) {
  // two_nodes: 2MiB inherits madvise (usable), 64KiB is madvise (usable), 8KiB has only a
  // shmem policy, never, and all-zero stats.
  auto text = testing::ScrapeText(testing::FixtureConfig("two_nodes", {"thp"}));
  EXPECT_NE(text.find("pagescope_thp_size_enabled{page_size=\"2MiB\""), std::string::npos);
  EXPECT_NE(text.find("pagescope_thp_size_enabled{page_size=\"64KiB\""), std::string::npos);
  EXPECT_EQ(text.find("page_size=\"8KiB\""), std::string::npos);
  EXPECT_NE(text.find("pagescope_thp_enabled{mode=\"madvise\"} 1"), std::string::npos);
  auto all = testing::ScrapeText(
      testing::FixtureConfig("two_nodes", {"thp"}, "collectors:\n  thp:\n    all_sizes: true\n"));
  EXPECT_NE(all.find("pagescope_thp_size_shmem_enabled{page_size=\"8KiB\",mode=\"never\"} 1"),
            std::string::npos);
}

TEST(Ksm, Files) {
  ExpectFileMetrics(
      KsmFileMetric,
      {
          {"full_scans", "pagescope_ksm_full_scans_total", true, 1},
          {"pages_scanned", "pagescope_ksm_pages_scanned_total", true, 1},
          {"general_profit", "pagescope_ksm_general_profit_bytes", false, 1},
          {"sleep_millisecs", "pagescope_ksm_sleep_seconds", false, 1000},
          {"stable_node_chains_prune_millisecs", "pagescope_ksm_stable_node_chains_prune_seconds",
           false, 1000},
          {"pages_sharing", "pagescope_ksm_pages_sharing", false, 1},
          {"ksm_zero_pages", "pagescope_ksm_zero_pages", false, 1},
          {"advisor_max_cpu", "pagescope_ksm_advisor_max_cpu_ratio", false, 100},
          {"advisor_target_scan_time", "pagescope_ksm_advisor_target_scan_time_seconds", false, 1},
          {"some_future_file", "pagescope_ksm_some_future_file", false, 1},
      });
  EXPECT_TRUE(KsmFileMetric("general_profit")->is_signed);
  EXPECT_FALSE(KsmFileMetric("run"));           // a stateset
  EXPECT_FALSE(KsmFileMetric("advisor_mode"));  // a stateset
  EXPECT_FALSE(KsmFileMetric("UPPER"));
  EXPECT_FALSE(KsmFileMetric("9lives"));
}

TEST(Ksm, RunModes) {
  EXPECT_EQ(KsmRunMode(0), "stop");
  EXPECT_EQ(KsmRunMode(1), "run");
  EXPECT_EQ(KsmRunMode(2), "unmerge");
  EXPECT_EQ(KsmRunMode(1 | 4), "run");  // KSM_RUN_OFFLINE during memory hot-remove
  EXPECT_FALSE(KsmRunMode(3));
  EXPECT_FALSE(KsmRunMode(8));
}

}  // namespace
}  // namespace pagescope
