// Every collector on every fixture tree, compared with tests/golden/<case>/<collector>.prom.
// Regenerate after an intended change with: PAGESCOPE_UPDATE_GOLDEN=1
// build/tests/pagescope_unit_tests
// --gtest_filter='Golden*' and review the diff.

#include <gtest/gtest.h>

#include <cstdlib>
#include <set>

#include "collectors/registry.h"
#include "test_util.h"

namespace pagescope::testing {
namespace {

// Collectors whose output depends on the live machine (perf counters), not on files.
const std::set<std::string> kNotFromFiles = {"tlb"};

std::vector<std::string> FixtureCases() {
  std::vector<std::string> cases;
  for (const auto& entry :
       std::filesystem::directory_iterator(SourceDir() / "tests" / "fixtures")) {
    if (entry.is_directory()) cases.push_back(entry.path().filename().string());
  }
  std::sort(cases.begin(), cases.end());
  return cases;
}

TEST(Golden, EveryCollectorOnEveryFixture) {
  bool update = std::getenv("PAGESCOPE_UPDATE_GOLDEN") != nullptr;
  auto cases = FixtureCases();
  ASSERT_FALSE(cases.empty());
  for (const auto& fixture : cases) {
    const auto specs = FixtureCollectors(fixture);
    // A fixture may carry collector options in pagescope.yml (process groups, flavors, ...).
    std::string yaml;
    auto yml = FixtureDir(fixture) / "pagescope.yml";
    if (std::filesystem::exists(yml)) yaml = ReadText(yml);
    for (const auto& spec : AllCollectors()) {
      if (kNotFromFiles.count(spec.name)) continue;
      SCOPED_TRACE(fixture + "/" + spec.name);
      std::string got = ScrapeText(FixtureConfig(fixture, {spec.name}, yaml), specs);
      auto golden = SourceDir() / "tests" / "golden" / fixture / (spec.name + ".prom");
      if (update) {
        WriteText(golden, got);
        continue;
      }
      ASSERT_TRUE(std::filesystem::exists(golden))
          << golden << " is missing; run with PAGESCOPE_UPDATE_GOLDEN=1";
      EXPECT_EQ(ReadText(golden), got) << "differs from " << golden;
    }
  }
}

}  // namespace
}  // namespace pagescope::testing
