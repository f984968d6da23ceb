#include "exporter/scraper.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <thread>

#include "test_util.h"

namespace pagescope::testing {
namespace {

double Value(const std::vector<prometheus::MetricFamily>& fams, const std::string& name,
             const std::string& label_value) {
  for (const auto& f : fams) {
    if (f.name != name) continue;
    for (const auto& m : f.metric) {
      for (const auto& l : m.label) {
        if (l.value == label_value) return m.gauge.value;
      }
    }
  }
  return -1;
}

TEST(Scraper, FailingCollectorDoesNotFailTheScrape) {
  Scraper s(FixtureConfig("malformed", {"hugepages", "meminfo", "numa_hugepages"}));
  auto fams = s.Scrape();
  EXPECT_EQ(Value(fams, "pagescope_scrape_collector_success", "hugepages"), 0);
  EXPECT_EQ(Value(fams, "pagescope_scrape_collector_success", "meminfo"), 0);
  EXPECT_EQ(Value(fams, "pagescope_scrape_collector_success", "numa_hugepages"), 0);
  Scraper ok(FixtureConfig("two_nodes", {"hugepages", "meminfo"}));
  fams = ok.Scrape();
  EXPECT_EQ(Value(fams, "pagescope_scrape_collector_success", "hugepages"), 1);
  EXPECT_EQ(Value(fams, "pagescope_scrape_collector_success", "meminfo"), 1);
}

TEST(Scraper, CollectAndExcludeFilters) {
  Scraper s(FixtureConfig("two_nodes", {"hugepages", "meminfo"}));
  auto fams = s.Scrape({"meminfo"}, {});
  EXPECT_EQ(Value(fams, "pagescope_scrape_collector_success", "meminfo"), 1);
  EXPECT_EQ(Value(fams, "pagescope_scrape_collector_success", "hugepages"), -1);
  fams = s.Scrape({}, {"meminfo"});
  EXPECT_EQ(Value(fams, "pagescope_scrape_collector_success", "meminfo"), -1);
  EXPECT_EQ(Value(fams, "pagescope_scrape_collector_success", "hugepages"), 1);
  EXPECT_THROW(s.Scrape({"numa_hugepages"}, {}), std::invalid_argument);
  EXPECT_THROW(s.Scrape({}, {"nosuch"}), std::invalid_argument);
}

TEST(Scraper, MissingFilesGiveNoSeriesAndSuccess) {
  auto dir =
      std::filesystem::temp_directory_path() / ("pagescope-empty-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  CommandLine cl;
  cl.values["path.procfs"] = {dir.string()};
  cl.values["path.sysfs"] = {dir.string()};
  Scraper s(LoadConfigFromText(cl, "", ""));
  auto fams = s.Scrape();
  for (const auto& f : fams) {
    EXPECT_TRUE(f.name.starts_with("pagescope_scrape_") || f.name == "pagescope_build_info")
        << f.name;
  }
  for (const auto& name : s.enabled()) {
    EXPECT_EQ(Value(fams, "pagescope_scrape_collector_success", name), 1) << name;
  }
  std::filesystem::remove_all(dir);
}

TEST(Scraper, ADirectoryWhereAFileShouldBeIsAnError) {
  auto dir = std::filesystem::temp_directory_path() / ("pagescope-dir-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir / "meminfo");
  CommandLine cl;
  cl.values["path.procfs"] = {dir.string()};
  cl.values["collectors.disable_defaults"] = {"true"};
  cl.values["collectors.meminfo.enabled"] = {"true"};
  Scraper s(LoadConfigFromText(cl, "", ""));
  EXPECT_EQ(Value(s.Scrape(), "pagescope_scrape_collector_success", "meminfo"), 0);
  std::filesystem::remove_all(dir);
}

TEST(Scraper, ConcurrentScrapesAgree) {
  Scraper s(FixtureConfig("two_nodes", {"hugepages", "numa_hugepages", "meminfo"}));
  std::string first =
      ScrapeText(FixtureConfig("two_nodes", {"hugepages", "numa_hugepages", "meminfo"}));
  std::vector<std::thread> threads;
  std::atomic<int> mismatches{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) {
        auto fams = s.Scrape();
        if (Value(fams, "pagescope_hugepages_pool_pages", "2MiB") != 1024) ++mismatches;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(mismatches.load(), 0);
  EXPECT_FALSE(first.empty());
}

TEST(Scraper, ReloadKeepsUnchangedCollectorInstances) {
  auto config = FixtureConfig("two_nodes", {"hugepages", "meminfo"});
  Scraper a(config);
  Scraper b(config, &a);
  EXPECT_EQ(a.enabled(), b.enabled());
}

}  // namespace
}  // namespace pagescope::testing
