#include "test_util.h"

#include <prometheus/text_serializer.h>

#include <fstream>
#include <sstream>

#include "collectors/hugetlbfs.h"
#include "collectors/registry.h"
#include "exporter/scraper.h"

namespace pagescope::testing {

std::filesystem::path SourceDir() { return PAGESCOPE_SOURCE_DIR; }

std::filesystem::path FixtureDir(const std::string& fixture_case) {
  return SourceDir() / "tests" / "fixtures" / fixture_case;
}

Config FixtureConfig(const std::string& fixture_case, const std::vector<std::string>& collectors,
                     const std::string& yaml) {
  CommandLine cl;
  auto dir = FixtureDir(fixture_case);
  cl.values["path.procfs"] = {(dir / "proc").string()};
  cl.values["path.sysfs"] = {(dir / "sys").string()};
  cl.values["path.rootfs"] = {(dir / "root").string()};
  cl.values["collectors.disable_defaults"] = {"true"};
  for (const auto& c : collectors) cl.values["collectors." + c + ".enabled"] = {"true"};
  return LoadConfigFromText(cl, yaml, yaml.empty() ? "" : fixture_case + ".yml");
}

std::vector<CollectorSpec> FixtureCollectors(const std::string& fixture_case) {
  std::vector<CollectorSpec> specs = AllCollectors();
  auto path = FixtureDir(fixture_case) / "statfs.yml";
  if (!std::filesystem::exists(path)) return specs;
  std::map<std::string, StatfsResult> results;
  for (const auto& item : YAML::LoadFile(path.string())) {
    StatfsResult r;
    r.type = item.second["type"] ? item.second["type"].as<std::uint64_t>() : kHugetlbfsMagic;
    r.bsize = item.second["bsize"].as<std::uint64_t>();
    r.blocks = item.second["blocks"].as<std::uint64_t>();
    r.bfree = item.second["bfree"].as<std::uint64_t>();
    results[item.first.as<std::string>()] = r;
  }
  for (auto& spec : specs) {
    if (spec.name != "hugetlbfs") continue;
    spec.make = [results](const CollectorOptions&) {
      return MakeHugetlbfsCollector(FakeStatfs(results));
    };
  }
  return specs;
}

std::string ScrapeText(const Config& config) { return ScrapeText(config, AllCollectors()); }

std::string ScrapeText(const Config& config, const std::vector<CollectorSpec>& specs) {
  Scraper scraper(config, specs);
  auto families = scraper.Scrape();
  std::erase_if(families, [](const prometheus::MetricFamily& f) {
    return f.name == "pagescope_scrape_collector_duration_seconds" ||
           f.name == "pagescope_scrape_walk_seconds_total" ||
           f.name == "pagescope_scrape_walk_max_seconds" ||
           f.name == "pagescope_scrape_collector_deadline_exceeded_total" ||
           f.name == "pagescope_build_info" || f.name.starts_with("process_");
  });
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, families);
  return out.str();
}

std::string ReadText(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteText(const std::filesystem::path& path, const std::string& text) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream out(path);
  out << text;
}

}  // namespace pagescope::testing
