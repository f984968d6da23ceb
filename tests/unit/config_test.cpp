#include "exporter/config.h"

#include <gtest/gtest.h>

#include "collectors/registry.h"

namespace pagescope {
namespace {

std::string ErrorOf(const std::vector<std::string>& args, const std::string& yaml = "",
                    const std::string& file = "pagescope.yml") {
  try {
    LoadConfigFromText(ParseCommandLine(args), yaml, yaml.empty() ? "" : file);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(Config, Defaults) {
  Config c = LoadConfigFromText(ParseCommandLine({}), "", "");
  EXPECT_EQ(c.listen_addresses, std::vector<std::string>{":9724"});
  EXPECT_EQ(c.telemetry_path, "/metrics");
  EXPECT_EQ(c.procfs, "/proc");
  EXPECT_EQ(c.sysfs, "/sys");
  EXPECT_EQ(c.rootfs, "/");
  EXPECT_EQ(c.max_requests, 40);
  for (const auto& spec : AllCollectors()) {
    EXPECT_EQ(c.collectors.at(spec.name).enabled, spec.default_enabled) << spec.name;
  }
}

TEST(Config, FlagsForms) {
  Config c = LoadConfigFromText(
      ParseCommandLine({"--web.listen-address=127.0.0.1:1", "--web.listen-address", "[::1]:2",
                        "--path.procfs", "/host/proc", "--no-collector.meminfo",
                        "--log.level=debug", "--log.format=json"}),
      "", "");
  EXPECT_EQ(c.listen_addresses, (std::vector<std::string>{"127.0.0.1:1", "[::1]:2"}));
  EXPECT_EQ(c.procfs, "/host/proc");
  EXPECT_FALSE(c.collectors.at("meminfo").enabled);
  EXPECT_TRUE(c.collectors.at("hugepages").enabled);
  EXPECT_EQ(c.log_level, log::Level::kDebug);
  EXPECT_EQ(c.log_format, log::Format::kJson);
}

TEST(Config, DisableDefaults) {
  Config c = LoadConfigFromText(
      ParseCommandLine({"--collector.disable-defaults", "--collector.meminfo"}), "", "");
  for (const auto& spec : AllCollectors()) {
    EXPECT_EQ(c.collectors.at(spec.name).enabled, spec.name == "meminfo") << spec.name;
  }
}

TEST(Config, FileAndFlagsFlagsWin) {
  std::string yaml =
      "web:\n"
      "  listen_address: [\"127.0.0.1:7000\"]\n"
      "  telemetry_path: /m\n"
      "path:\n"
      "  sysfs: /host/sys\n"
      "collectors:\n"
      "  disable_defaults: true\n"
      "  hugepages: {enabled: true}\n"
      "  meminfo: true\n";
  Config c = LoadConfigFromText(ParseCommandLine({"--web.telemetry-path=/flag"}), yaml, "x.yml");
  EXPECT_EQ(c.listen_addresses, std::vector<std::string>{"127.0.0.1:7000"});
  EXPECT_EQ(c.telemetry_path, "/flag");
  EXPECT_EQ(c.sysfs, "/host/sys");
  EXPECT_TRUE(c.collectors.at("hugepages").enabled);
  EXPECT_TRUE(c.collectors.at("meminfo").enabled);
  EXPECT_FALSE(c.collectors.at("numa_hugepages").enabled);
  Config d = LoadConfigFromText(ParseCommandLine({"--no-collector.meminfo"}), yaml, "x.yml");
  EXPECT_FALSE(d.collectors.at("meminfo").enabled);
}

TEST(Config, ErrorsNameFileLineAndKey) {
  EXPECT_EQ(
      ErrorOf({}, "web:\n  listen_adress: x\n"),
      "pagescope.yml:2:3: web.listen_adress: unknown key (known: config_file, drop_privileges_to, "
      "listen_address, max_requests, scrape_timeout, scrape_timeout_offset, telemetry_path)");
  EXPECT_EQ(ErrorOf({}, "web:\n  max_requests: lots\n"),
            "pagescope.yml:2:17: web.max_requests: expected an integer, got \"lots\"");
  EXPECT_EQ(ErrorOf({}, "log:\n  level: loud\n"),
            "pagescope.yml:2:10: log.level: expected debug, info, warn or error");
  EXPECT_EQ(ErrorOf({}, "collectors:\n  nosuch: {}\n")
                .rfind("pagescope.yml:2:3: collectors.nosuch: unknown collector", 0),
            0u);
  EXPECT_EQ(
      ErrorOf({}, "collectors:\n  meminfo:\n    enabled: maybe\n"),
      "pagescope.yml:3:14: collectors.meminfo.enabled: expected true or false, got \"maybe\"");
  EXPECT_EQ(ErrorOf({}, "bogus: 1\n"),
            "pagescope.yml:1:1: bogus: unknown key (known: collectors, log, path, web)");
  EXPECT_EQ(ErrorOf({}, "web: [1, 2\n").rfind("pagescope.yml:", 0), 0u);
  EXPECT_EQ(ErrorOf({}, "- a\n- b\n"), "pagescope.yml:1:1: (top level): expected a mapping");
}

TEST(Config, ScrapeTimeouts) {
  using std::chrono::milliseconds;
  Config c = LoadConfigFromText(ParseCommandLine({}), "", "");
  EXPECT_EQ(c.scrape_timeout, milliseconds(10000));
  EXPECT_EQ(c.scrape_timeout_offset, milliseconds(500));
  c = LoadConfigFromText(
      ParseCommandLine({"--web.scrape-timeout=1m30s", "--web.scrape-timeout-offset=250ms"}), "",
      "");
  EXPECT_EQ(c.scrape_timeout, milliseconds(90000));
  EXPECT_EQ(c.scrape_timeout_offset, milliseconds(250));
  c = LoadConfigFromText(ParseCommandLine({}), "web:\n  scrape_timeout: 0\n", "x.yml");
  EXPECT_EQ(c.scrape_timeout, milliseconds(0));
  EXPECT_EQ(ParseDuration("1h2m3s4ms"), milliseconds(3723004));
  EXPECT_EQ(ParseDuration("1d"), milliseconds(86400000));
  for (const char* bad :
       {"", "10", "1.5s", "s", "1x", "5ms1s", "1s1s", "-1s", "2d", "1m ", "999999999999s"}) {
    EXPECT_EQ(ParseDuration(bad), std::nullopt) << bad;
  }
  try {
    LoadConfigFromText(ParseCommandLine({}), "web:\n  scrape_timeout_offset: soon\n", "x.yml");
    ADD_FAILURE() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("x.yml:2:"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("web.scrape_timeout_offset"), std::string::npos);
  }
}

TEST(Config, FlagErrors) {
  EXPECT_EQ(ErrorOf({"--web.listen-adress=:1"}), "unknown flag --web.listen-adress (see --help)");
  EXPECT_EQ(ErrorOf({"--collector.nosuch"}), "unknown flag --collector.nosuch (see --help)");
  EXPECT_EQ(ErrorOf({"--web.max-requests=0"}),
            "flag --web.max-requests: web.max_requests: must be between 1 and 1024");
  EXPECT_EQ(ErrorOf({"--web.telemetry-path"}), "flag --web.telemetry-path needs a value");
  EXPECT_EQ(ErrorOf({"--collector.meminfo=maybe"}),
            "flag --collector.meminfo: expected true or false, got \"maybe\"");
  EXPECT_EQ(ErrorOf({"stray"}), "unexpected argument \"stray\" (flags start with --; see --help)");
  EXPECT_EQ(ErrorOf({"--web.telemetry-path=/-/x"}),
            "flag --web.telemetry-path: web.telemetry_path: must start with / and not be / or "
            "under /-/");
}

TEST(Config, HelpListsEveryCollectorAndSetting) {
  std::string help = HelpText();
  for (const auto& spec : AllCollectors()) {
    EXPECT_NE(help.find("--collector." + spec.name), std::string::npos) << spec.name;
  }
  for (const char* flag :
       {"--web.listen-address", "--web.telemetry-path", "--web.config.file", "--config.file",
        "--path.procfs", "--path.sysfs", "--path.rootfs", "--log.level", "--log.format",
        "--collector.disable-defaults", "--version"}) {
    EXPECT_NE(help.find(flag), std::string::npos) << flag;
  }
}

}  // namespace
}  // namespace pagescope
