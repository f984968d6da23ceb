#pragma once
// pagescope's configuration: defaults, then the YAML file (--config.file), then the command
// line, which wins. Every setting has one YAML key and one flag derived from it
// (web.listen_address <-> --web.listen-address; collectors.vmstat.fields <->
// --collector.vmstat.fields; collectors.vmstat.enabled <-> --collector.vmstat /
// --no-collector.vmstat).

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "framework/collector.h"
#include "framework/log.h"

namespace pagescope {

inline constexpr int kDefaultPort = 9724;

// A global (non-collector) setting.
struct SettingSpec {
  std::string key;  // YAML path: "web.listen_address"
  OptionType type = OptionType::kString;
  std::string default_value;
  std::string help;
  bool repeatable = false;  // the flag may be given several times (a list)
};
const std::vector<SettingSpec>& GlobalSettings();
// The flag that sets a YAML key: "web.listen_address" -> "--web.listen-address",
// "collectors.vmstat.enabled" -> "--collector.vmstat", "collectors.vmstat.fields" ->
// "--collector.vmstat.fields" (collector names keep their underscores, as in node_exporter).
std::string FlagForKey(const std::string& key);

// The command line as given, kept so a SIGHUP reload can apply it over the new file again.
struct CommandLine {
  // YAML key -> values in order ("collectors.vmstat.enabled" -> {"true"}).
  std::map<std::string, std::vector<std::string>> values;
  std::string config_file;
  bool help = false;
  bool version = false;
};

// Throws ConfigError naming the flag for an unknown flag or a missing value.
CommandLine ParseCommandLine(const std::vector<std::string>& args);
std::string HelpText();

struct CollectorConfig {
  bool enabled = false;
  std::map<std::string, OptionValue> options;  // every declared option, resolved
};

struct Config {
  std::string config_file;
  std::vector<std::string> listen_addresses;
  std::string telemetry_path;
  std::string web_config_file;
  int max_requests = 40;
  // A scrape must answer by its scraper's timeout (X-Prometheus-Scrape-Timeout-Seconds, else
  // scrape_timeout; zero: none) less scrape_timeout_offset (at most half the timeout).
  std::chrono::milliseconds scrape_timeout{10000};
  std::chrono::milliseconds scrape_timeout_offset{500};
  std::string drop_privileges_to;  // user name; empty: stay as started
  std::string procfs, sysfs, rootfs;
  log::Level log_level = log::Level::kInfo;
  log::Format log_format = log::Format::kLogfmt;
  bool disable_defaults = false;
  std::map<std::string, CollectorConfig> collectors;  // every collector
};

// A duration as Prometheus writes one: one or more <integer><unit> with the units ms, s, m, h, d
// in that order from the largest ("10s", "500ms", "1m30s"), or "0". Nullopt when malformed or
// longer than a day.
std::optional<std::chrono::milliseconds> ParseDuration(std::string_view text);

// Loads the file named on the command line (if any) and applies the flags. Throws ConfigError
// whose message names the file, line and key, or the flag.
Config LoadConfig(const CommandLine& cmdline);
// The same from YAML text (tests); `file_name` is used in messages.
Config LoadConfigFromText(const CommandLine& cmdline, const std::string& yaml_text,
                          const std::string& file_name);

}  // namespace pagescope
