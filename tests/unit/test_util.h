#pragma once
// Helpers shared by the unit tests: fixture paths, scraping a fixture tree, golden files.

#include <filesystem>
#include <string>
#include <vector>

#include "exporter/config.h"
#include "framework/collector.h"
#include "framework/errors.h"

namespace pagescope::testing {

std::filesystem::path SourceDir();
std::filesystem::path FixtureDir(const std::string& fixture_case);

// A Config that reads the fixture tree and enables only `collectors`. `yaml` is extra
// configuration text (collector options), as if from a file named "<case>.yml".
Config FixtureConfig(const std::string& fixture_case, const std::vector<std::string>& collectors,
                     const std::string& yaml = "");

// AllCollectors(), where the case has tests/fixtures/<case>/statfs.yml with the hugetlbfs
// collector given those statfs results through its factory (a map from mount point to {bsize,
// blocks, bfree, type (default hugetlbfs)}): a fixture tree cannot hold hugetlbfs mounts.
std::vector<CollectorSpec> FixtureCollectors(const std::string& fixture_case);

// Scrapes with `config` and returns the text exposition without the sample lines that change
// from run to run (collector durations, build info).
std::string ScrapeText(const Config& config);
std::string ScrapeText(const Config& config, const std::vector<CollectorSpec>& specs);

std::string ReadText(const std::filesystem::path& path);

// The line a parser's ParseError names when `f` throws one; 0 when `f` does not throw.
template <typename F>
std::size_t LineOfError(F&& f) {
  try {
    f();
  } catch (const ParseError& e) {
    return e.line();
  }
  return 0;
}
void WriteText(const std::filesystem::path& path, const std::string& text);

}  // namespace pagescope::testing
