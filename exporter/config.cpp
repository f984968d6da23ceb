#include "exporter/config.h"

#include <algorithm>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "collectors/registry.h"
#include "framework/yaml_errors.h"

namespace pagescope {
namespace {

std::string Known(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

// Checks that a node has the shape its type asks for.
void CheckType(const std::string& origin, const std::string& key, OptionType type,
               const YAML::Node& node) {
  auto fail = [&](const std::string& msg) { throw ConfigError(origin + ": " + key + ": " + msg); };
  std::string scalar = node.IsScalar() ? node.Scalar() : "";
  switch (type) {
    case OptionType::kInt:
      try {
        (void)node.as<long long>();
      } catch (const YAML::Exception&) {
        fail("expected an integer, got \"" + scalar + "\"");
      }
      break;
    case OptionType::kBool:
      try {
        (void)node.as<bool>();
      } catch (const YAML::Exception&) {
        fail("expected true or false, got \"" + scalar + "\"");
      }
      break;
    case OptionType::kString:
      if (!node.IsScalar() && !node.IsNull()) fail("expected a string");
      break;
    case OptionType::kRegex:
      if (!node.IsScalar()) fail("expected a regular expression string");
      try {
        std::regex re(node.Scalar(), std::regex::ECMAScript);
      } catch (const std::regex_error& e) {
        fail("invalid regular expression \"" + scalar + "\": " + e.what());
      }
      break;
    case OptionType::kStringList:
      if (node.IsSequence()) {
        for (const auto& item : node) {
          if (!item.IsScalar()) fail("expected a list of strings");
        }
      } else if (!node.IsScalar() && !node.IsNull()) {
        fail("expected a string or a list of strings");
      }
      break;
    case OptionType::kYaml:
      break;
  }
}

struct Layered {
  // key -> value, after defaults, file and flags.
  std::map<std::string, OptionValue> values;
};

void Put(Layered& l, const std::string& key, YAML::Node node, std::string origin) {
  l.values[key] = OptionValue{std::move(node), std::move(origin)};
}

YAML::Node ParseDefault(const std::string& text) {
  if (text.empty()) return YAML::Node();
  return YAML::Load(text);
}

void ApplyDefaults(Layered& l) {
  for (const auto& s : GlobalSettings()) Put(l, s.key, ParseDefault(s.default_value), "default");
  Put(l, "collectors.disable_defaults", YAML::Node(false), "default");
  for (const auto& c : AllCollectors()) {
    Put(l, "collectors." + c.name + ".enabled", YAML::Node(c.default_enabled), "default");
    for (const auto& o : c.options) {
      Put(l, "collectors." + c.name + "." + o.name, ParseDefault(o.default_value), "default");
    }
  }
}

// Walks one mapping section whose keys are known; `types` maps key -> type.
void ApplySection(Layered& l, const std::string& file, const YAML::Node& section,
                  const std::string& prefix, const std::map<std::string, OptionType>& types) {
  if (!section.IsMap()) {
    if (section.IsNull()) return;
    FailNode(file, section, prefix, "expected a mapping");
  }
  for (const auto& kv : section) {
    std::string name = kv.first.Scalar();
    std::string key = prefix + "." + name;
    auto it = types.find(name);
    if (it == types.end()) {
      std::vector<std::string> known;
      for (const auto& [k, t] : types) known.push_back(k);
      FailNode(file, kv.first, key, "unknown key (known: " + Known(known) + ")");
    }
    std::string origin = MarkText(file, kv.second.Mark());
    CheckType(origin, key, it->second, kv.second);
    Put(l, key, kv.second, origin);
  }
}

void ApplyFile(Layered& l, const std::string& file, const std::string& text) {
  YAML::Node root = LoadYaml(text, file);
  if (root.IsNull() || !root.IsDefined()) return;  // an empty file is a valid, empty config
  if (!root.IsMap()) FailNode(file, root, "(top level)", "expected a mapping");

  std::map<std::string, std::map<std::string, OptionType>> sections;
  for (const auto& s : GlobalSettings()) {
    auto dot = s.key.find('.');
    sections[s.key.substr(0, dot)][s.key.substr(dot + 1)] = s.type;
  }
  for (const auto& kv : root) {
    std::string name = kv.first.Scalar();
    if (sections.count(name)) {
      ApplySection(l, file, kv.second, name, sections[name]);
      continue;
    }
    if (name != "collectors") {
      FailNode(file, kv.first, name, "unknown key (known: collectors, log, path, web)");
    }
    const YAML::Node& cs = kv.second;
    if (cs.IsNull()) continue;
    if (!cs.IsMap()) FailNode(file, cs, "collectors", "expected a mapping");
    for (const auto& ckv : cs) {
      std::string cname = ckv.first.Scalar();
      if (cname == "disable_defaults") {
        std::string origin = MarkText(file, ckv.second.Mark());
        CheckType(origin, "collectors.disable_defaults", OptionType::kBool, ckv.second);
        Put(l, "collectors.disable_defaults", ckv.second, origin);
        continue;
      }
      const CollectorSpec* spec = FindCollector(AllCollectors(), cname);
      if (spec == nullptr) {
        std::vector<std::string> known{"disable_defaults"};
        for (const auto& c : AllCollectors()) known.push_back(c.name);
        FailNode(file, ckv.first, "collectors." + cname,
                 "unknown collector (known: " + Known(known) + ")");
      }
      std::map<std::string, OptionType> types{{"enabled", OptionType::kBool}};
      for (const auto& o : spec->options) types[o.name] = o.type;
      // `collectors: {vmstat: true}` is shorthand for enabled: true.
      if (ckv.second.IsScalar()) {
        std::string origin = MarkText(file, ckv.second.Mark());
        CheckType(origin, "collectors." + cname, OptionType::kBool, ckv.second);
        Put(l, "collectors." + cname + ".enabled", ckv.second, origin);
        continue;
      }
      ApplySection(l, file, ckv.second, "collectors." + cname, types);
    }
  }
}

OptionType TypeOfKey(const std::string& key) {
  for (const auto& s : GlobalSettings()) {
    if (s.key == key) return s.type;
  }
  if (key == "collectors.disable_defaults" || key.ends_with(".enabled")) return OptionType::kBool;
  auto dot = key.rfind('.');
  auto cdot = key.find('.');
  const CollectorSpec* spec = FindCollector(AllCollectors(), key.substr(cdot + 1, dot - cdot - 1));
  if (spec != nullptr) {
    for (const auto& o : spec->options) {
      if (o.name == key.substr(dot + 1)) return o.type;
    }
  }
  return OptionType::kString;
}

void ApplyFlags(Layered& l, const CommandLine& cl) {
  for (const auto& [key, values] : cl.values) {
    OptionType type = TypeOfKey(key);
    YAML::Node node;
    if (type == OptionType::kStringList) {
      node = YAML::Node(YAML::NodeType::Sequence);
      for (const auto& v : values) {
        std::stringstream ss(v);
        std::string item;
        while (std::getline(ss, item, ',')) {
          if (!item.empty()) node.push_back(item);
        }
      }
    } else {
      node = YAML::Node(values.back());
    }
    std::string origin = "flag " + FlagForKey(key);
    CheckType(origin, key, type, node);
    Put(l, key, node, origin);
  }
}

Config Resolve(const Layered& l, const std::string& config_file) {
  std::map<std::string, OptionValue> globals;
  for (const auto& [k, v] : l.values) {
    if (!k.starts_with("collectors.")) globals[k] = v;
  }
  CollectorOptions g("", globals);
  Config c;
  c.config_file = config_file;
  c.listen_addresses = g.StringList("web.listen_address");
  if (c.listen_addresses.empty()) g.Fail("web.listen_address", "at least one address is needed");
  for (const auto& a : c.listen_addresses) {
    auto colon = a.rfind(':');
    if (colon == std::string::npos || colon + 1 == a.size()) {
      g.Fail("web.listen_address", "expected [host]:port, got \"" + a + "\"");
    }
  }
  c.telemetry_path = g.String("web.telemetry_path");
  if (c.telemetry_path.empty() || c.telemetry_path[0] != '/' || c.telemetry_path == "/" ||
      c.telemetry_path.starts_with("/-/")) {
    g.Fail("web.telemetry_path", "must start with / and not be / or under /-/");
  }
  c.web_config_file = g.String("web.config_file");
  long long max_requests = g.Int("web.max_requests");
  if (max_requests < 1 || max_requests > 1024) {
    g.Fail("web.max_requests", "must be between 1 and 1024");
  }
  c.max_requests = static_cast<int>(max_requests);
  auto timeout = ParseDuration(g.String("web.scrape_timeout"));
  if (!timeout) {
    g.Fail("web.scrape_timeout", "expected a duration such as 10s, 500ms or 1m30s (0: none)");
  }
  c.scrape_timeout = *timeout;
  auto offset = ParseDuration(g.String("web.scrape_timeout_offset"));
  if (!offset) {
    g.Fail("web.scrape_timeout_offset", "expected a duration such as 500ms or 1s (0: none)");
  }
  c.scrape_timeout_offset = *offset;
  c.drop_privileges_to = g.String("web.drop_privileges_to");
  c.procfs = g.String("path.procfs");
  c.sysfs = g.String("path.sysfs");
  c.rootfs = g.String("path.rootfs");
  for (const char* k : {"path.procfs", "path.sysfs", "path.rootfs"}) {
    if (g.String(k).empty()) g.Fail(k, "must not be empty");
  }
  if (!log::ParseLevel(g.String("log.level"), &c.log_level)) {
    g.Fail("log.level", "expected debug, info, warn or error");
  }
  if (!log::ParseFormat(g.String("log.format"), &c.log_format)) {
    g.Fail("log.format", "expected logfmt or json");
  }
  const auto& dd = l.values.at("collectors.disable_defaults");
  c.disable_defaults = dd.node.as<bool>();
  for (const auto& spec : AllCollectors()) {
    const std::string prefix = "collectors." + spec.name + ".";
    const auto& en = l.values.at(prefix + "enabled");
    CollectorConfig cc;
    bool explicit_setting = en.origin != "default";
    cc.enabled =
        explicit_setting ? en.node.as<bool>() : (c.disable_defaults ? false : spec.default_enabled);
    for (const auto& o : spec.options) cc.options[o.name] = l.values.at(prefix + o.name);
    c.collectors[spec.name] = std::move(cc);
  }
  return c;
}

}  // namespace

std::optional<std::chrono::milliseconds> ParseDuration(std::string_view text) {
  if (text == "0") return std::chrono::milliseconds(0);
  // Units from the largest; each at most once, in this order (Prometheus' model.ParseDuration).
  static constexpr std::pair<std::string_view, long long> kUnits[] = {
      {"d", 86400000}, {"h", 3600000}, {"m", 60000}, {"s", 1000}, {"ms", 1}};
  long long total = 0;
  std::size_t next_unit = 0;
  if (text.empty()) return std::nullopt;
  while (!text.empty()) {
    std::size_t digits = 0;
    long long n = 0;
    while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') {
      if (n > 100000000) return std::nullopt;
      n = n * 10 + (text[digits] - '0');
      ++digits;
    }
    if (digits == 0) return std::nullopt;
    text.remove_prefix(digits);
    std::size_t u = next_unit;
    // "ms" before "m": the longer unit name that matches.
    auto matches = [&](std::size_t i) {
      const auto name = kUnits[i].first;
      if (!text.starts_with(name)) return false;
      // "m" must not be the start of "ms".
      return !(name == "m" && text.size() > 1 && text[1] == 's');
    };
    while (u < std::size(kUnits) && !matches(u)) ++u;
    if (u == std::size(kUnits)) return std::nullopt;
    text.remove_prefix(kUnits[u].first.size());
    total += n * kUnits[u].second;
    if (total > 86400000) return std::nullopt;
    next_unit = u + 1;
  }
  return std::chrono::milliseconds(total);
}

std::string FlagForKey(const std::string& key) {
  auto dashed = [](std::string s) {
    std::replace(s.begin(), s.end(), '_', '-');
    return s;
  };
  if (key == "web.config_file") return "--web.config.file";
  if (key == "collectors.disable_defaults") return "--collector.disable-defaults";
  if (key.starts_with("collectors.")) {
    std::string rest = key.substr(11);
    auto dot = rest.find('.');
    std::string name = rest.substr(0, dot);
    std::string opt = dot == std::string::npos ? "enabled" : rest.substr(dot + 1);
    if (opt == "enabled") return "--collector." + name;
    return "--collector." + name + "." + dashed(opt);
  }
  return "--" + dashed(key);
}

const std::vector<SettingSpec>& GlobalSettings() {
  static const std::vector<SettingSpec> kSettings = {
      {"web.listen_address", OptionType::kStringList, "\":" + std::to_string(kDefaultPort) + "\"",
       "Address to listen on, [host]:port; :port listens on every address (IPv6 and IPv4), a host "
       "name on one of its addresses (IPv4 first).",
       true},
      {"web.telemetry_path", OptionType::kString, "/metrics", "Path under which to serve metrics.",
       false},
      {"web.config_file", OptionType::kString, "",
       "Exporter-toolkit web configuration file (TLS, basic auth, headers).", false},
      {"web.max_requests", OptionType::kInt, "40",
       "Maximum number of parallel scrape requests; more are answered 503.", false},
      {"web.scrape_timeout", OptionType::kString, "10s",
       "Timeout of a scrape whose request does not say its scraper's timeout in the "
       "X-Prometheus-Scrape-Timeout-Seconds header (Prometheus always does; curl, other "
       "scrapers may not); 0: no timeout, wait for every collector. A duration: 10s, 1m30s.",
       false},
      {"web.scrape_timeout_offset", OptionType::kString, "500ms",
       "Answer this long before the scraper's timeout (the header's or web.scrape_timeout), "
       "at most half of it, so the answer arrives before the scraper gives up. Collectors still "
       "running then are cut: they fail for that scrape (docs/performance.md).",
       false},
      {"web.drop_privileges_to", OptionType::kString, "",
       "When started as root, switch to this user before serving, keeping only CAP_SYS_PTRACE "
       "and CAP_DAC_READ_SEARCH (and CAP_NET_BIND_SERVICE for ports below 1024, CAP_PERFMON "
       "with the tlb collector).",
       false},
      {"path.procfs", OptionType::kString, "/proc", "procfs mount point.", false},
      {"path.sysfs", OptionType::kString, "/sys", "sysfs mount point.", false},
      {"path.rootfs", OptionType::kString, "/",
       "Root of the host filesystem (for mount tables and statfs of mounts).", false},
      {"log.level", OptionType::kString, "info", "Log level: debug, info, warn, error.", false},
      {"log.format", OptionType::kString, "logfmt", "Log format: logfmt or json.", false},
  };
  return kSettings;
}

Config LoadConfigFromText(const CommandLine& cmdline, const std::string& yaml_text,
                          const std::string& file_name) {
  Layered l;
  ApplyDefaults(l);
  if (!file_name.empty()) ApplyFile(l, file_name, yaml_text);
  ApplyFlags(l, cmdline);
  return Resolve(l, file_name);
}

Config LoadConfig(const CommandLine& cmdline) {
  if (cmdline.config_file.empty()) return LoadConfigFromText(cmdline, "", "");
  std::ifstream in(cmdline.config_file);
  if (!in) throw ConfigError(cmdline.config_file + ": cannot open configuration file");
  std::stringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw ConfigError(cmdline.config_file + ": cannot read configuration file");
  return LoadConfigFromText(cmdline, ss.str(), cmdline.config_file);
}

}  // namespace pagescope
