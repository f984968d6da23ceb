#include "exporter/scraper.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <thread>
#include <vector>

#include "collectors/registry.h"
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
    // The exporter's own series only (its process metrics come from the real /proc/self).
    EXPECT_TRUE(f.name.starts_with("pagescope_scrape_") || f.name == "pagescope_build_info" ||
                f.name.starts_with("process_"))
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

namespace pagescope {
namespace {

// OpenFiles keeps descriptors of real sysfs files only, and a kept descriptor reads what a fresh
// open reads (sysfs regenerates the content at offset 0).
TEST(OpenFiles, KeepsSysfsDescriptorsAndRereadsThem) {
  const std::filesystem::path kernel_mm = "/sys/kernel/mm/transparent_hugepage/enabled";
  if (!std::filesystem::exists(kernel_mm)) GTEST_SKIP() << kernel_mm << " missing (no THP)";
  OpenFiles files;
  auto first = files.Read(kernel_mm);
  ASSERT_EQ(first.status, ReadStatus::kOk) << first.error;
  EXPECT_EQ(first.content, FsRoot::ReadFile(kernel_mm).content);
  EXPECT_EQ(files.open_count(), 1u);
  auto again = files.Read(kernel_mm);
  ASSERT_EQ(again.status, ReadStatus::kOk);
  EXPECT_EQ(again.content, first.content);
  EXPECT_EQ(files.open_count(), 1u);
}

TEST(OpenFiles, OtherFilesAreReadThePlainWay) {
  auto dir = std::filesystem::temp_directory_path() /
             ("pagescope-openfiles-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  OpenFiles files;
  testing::WriteText(dir / "f", "1\n");
  EXPECT_EQ(files.Read(dir / "f").content, "1\n");
  std::filesystem::remove(dir / "f");
  testing::WriteText(dir / "f", "22\n");  // a new file under the same name
  EXPECT_EQ(files.Read(dir / "f").content, "22\n");
  EXPECT_EQ(files.Read(dir / "missing").status, ReadStatus::kMissing);
  EXPECT_EQ(files.open_count(), 0u);
  std::filesystem::remove_all(dir);
}

// The read variants of the context: the usual Read, ReadRootOnly (no warning when denied) and
// TryRead (speculative: nothing is an error).
TEST(Context, ReadVariantsFollowTheErrorTaxonomy) {
  auto dir =
      std::filesystem::temp_directory_path() / ("pagescope-context-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir / "a_directory");
  testing::WriteText(dir / "f", "7\n");
  FsRoot fs(dir, dir, dir);
  log::RateLimiter limiter(std::chrono::minutes(1));
  Context ctx(fs, limiter);
  EXPECT_EQ(ctx.Read(dir / "f"), "7\n");
  EXPECT_EQ(ctx.ReadRootOnly(dir / "f"), "7\n");
  EXPECT_EQ(ctx.TryRead(dir / "f"), "7\n");
  EXPECT_EQ(ctx.Read(dir / "missing"), std::nullopt);
  EXPECT_EQ(ctx.ReadRootOnly(dir / "missing"), std::nullopt);
  EXPECT_EQ(ctx.TryRead(dir / "missing"), std::nullopt);
  // Something that is there but cannot be read as a file is an error naming it, except for a
  // speculative read.
  try {
    ctx.ReadRootOnly(dir / "a_directory");
    ADD_FAILURE() << "no error for a directory";
  } catch (const CollectError& e) {
    EXPECT_NE(std::string(e.what()).find((dir / "a_directory").string() + ": "), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(ctx.Read(dir / "a_directory"), CollectError);
  EXPECT_EQ(ctx.TryRead(dir / "a_directory"), std::nullopt);
  EXPECT_EQ(ctx.TryReadSubdirs(dir), std::vector<std::string>{"a_directory"});
  EXPECT_EQ(ctx.TryReadSubdirs(dir / "missing"), std::nullopt);
  EXPECT_EQ(ctx.TryReadSubdirs(dir / "f"), std::nullopt);
  std::filesystem::remove_all(dir);
  // A write-only sysfs file (hugepages-*/demote, 0200, unreadable even for root) is denied:
  // quietly nothing for the speculative and the root-only read.
  std::error_code ec;
  for (const auto& d : std::filesystem::directory_iterator("/sys/kernel/mm/hugepages", ec)) {
    auto demote = d.path() / "demote";
    if (!std::filesystem::exists(demote)) continue;
    EXPECT_EQ(ctx.TryRead(demote), std::nullopt) << demote;
    EXPECT_EQ(ctx.ReadRootOnly(demote), std::nullopt) << demote;
  }
}

TEST(OpenFiles, BoundedNumberOfDescriptors) {
  std::vector<std::filesystem::path> paths;
  for (const char* p :
       {"/sys/kernel/mm/transparent_hugepage/enabled", "/sys/kernel/mm/transparent_hugepage/defrag",
        "/sys/kernel/mm/transparent_hugepage/use_zero_page"}) {
    if (std::filesystem::exists(p)) paths.emplace_back(p);
  }
  if (paths.size() < 3) GTEST_SKIP() << "THP sysfs files missing";
  OpenFiles files(2);
  for (const auto& p : paths) {
    auto r = files.Read(p);
    EXPECT_EQ(r.status, ReadStatus::kOk) << p;
    EXPECT_EQ(r.content, FsRoot::ReadFile(p).content) << p;
  }
  EXPECT_EQ(files.open_count(), 2u);
}

}  // namespace
}  // namespace pagescope

namespace pagescope::testing {
namespace {

// A collector whose reads run into denied files and walks, as the per-process readers report
// them to the Context.
class Accounted : public Collector {
 public:
  void Collect(const Context& ctx, MetricSink&) override {
    ctx.DeclareWalks("numa_maps", {"done", "sampled", "skipped"});
    // Two processes' numa_maps and one task's stat denied: counted by file name, the pid and
    // tid do not become labels.
    ctx.WarnDenied(ctx.fs().Proc("12/numa_maps"), "permission denied");
    ctx.WarnDenied(ctx.fs().Proc("13/numa_maps"), "permission denied");
    ctx.WarnDenied(ctx.fs().Proc("13/task/14/stat"), "permission denied");
    ctx.CountWalk("numa_maps", "done", 0.25);
    ctx.CountWalk("numa_maps", "sampled", 0.5, 0.001);
  }
};

std::map<std::string, std::string> LabelMap(const prometheus::ClientMetric& m) {
  std::map<std::string, std::string> out;
  for (const auto& l : m.label) out[l.name] = l.value;
  return out;
}

double Find(const std::vector<prometheus::MetricFamily>& fams, const std::string& name,
            const std::map<std::string, std::string>& labels) {
  for (const auto& f : fams) {
    if (f.name != name) continue;
    for (const auto& m : f.metric) {
      if (LabelMap(m) != labels) continue;
      return f.type == prometheus::MetricType::Counter ? m.counter.value : m.gauge.value;
    }
  }
  return -1;
}

TEST(ScraperAccounting, DeniedReadsAndWalksPerCollector) {
  auto config = FixtureConfig("two_nodes", {"hugepages", "meminfo"});
  auto specs = AllCollectors();
  for (auto& spec : specs) {
    if (spec.name == "meminfo") {
      spec.make = [](const CollectorOptions&) { return std::make_unique<Accounted>(); };
    }
  }
  Scraper s(config, specs);
  for (int scrape = 1; scrape <= 2; ++scrape) {
    auto fams = s.Scrape();
    // This scrape's denied reads: a gauge, only for files that were.
    EXPECT_EQ(Find(fams, "pagescope_scrape_denied_reads",
                   {{"collector", "meminfo"}, {"file", "numa_maps"}}),
              2);
    EXPECT_EQ(
        Find(fams, "pagescope_scrape_denied_reads", {{"collector", "meminfo"}, {"file", "stat"}}),
        1);
    EXPECT_EQ(Find(fams, "pagescope_scrape_denied_reads",
                   {{"collector", "hugepages"}, {"file", "numa_maps"}}),
              -1);
    // Walks since start: counters, every declared result from the first scrape on.
    auto walks = [&](const char* result) {
      return Find(fams, "pagescope_scrape_walks_total",
                  {{"collector", "meminfo"}, {"file", "numa_maps"}, {"result", result}});
    };
    EXPECT_EQ(walks("done"), scrape);
    EXPECT_EQ(walks("sampled"), scrape);
    EXPECT_EQ(walks("skipped"), 0);
    EXPECT_DOUBLE_EQ(Find(fams, "pagescope_scrape_walk_seconds_total",
                          {{"collector", "meminfo"}, {"file", "numa_maps"}}),
                     0.75 * scrape);
    // The longest lock hold of this scrape: the walk's whole time, the sample's longest call.
    EXPECT_DOUBLE_EQ(Find(fams, "pagescope_scrape_walk_max_seconds",
                          {{"collector", "meminfo"}, {"file", "numa_maps"}}),
                     0.25);
    // A collector that ran without walking has none of these series.
    EXPECT_EQ(Find(fams, "pagescope_scrape_walk_seconds_total",
                   {{"collector", "hugepages"}, {"file", "numa_maps"}}),
              -1);
    EXPECT_EQ(Value(fams, "pagescope_scrape_collector_success", "meminfo"), 1);
  }
  // Only the collectors of this scrape (collect[]) show their walk counters.
  auto only = s.Scrape({"hugepages"}, {});
  EXPECT_EQ(Find(only, "pagescope_scrape_walks_total",
                 {{"collector", "meminfo"}, {"file", "numa_maps"}, {"result", "done"}}),
            -1);
}

}  // namespace
}  // namespace pagescope::testing
