// Command-line parsing and --help, in node_exporter's conventions.

#include <algorithm>
#include <sstream>

#include "collectors/registry.h"
#include "exporter/config.h"

namespace pagescope {
namespace {

std::string FlagToKeyPart(std::string s) {
  std::replace(s.begin(), s.end(), '-', '_');
  return s;
}

bool IsBoolType(OptionType t) { return t == OptionType::kBool; }

struct FlagTarget {
  std::string key;
  OptionType type;
  bool repeatable;
};

// Finds what a flag name (without leading dashes) sets.
bool LookupFlag(const std::string& flag, FlagTarget* target) {
  for (const auto& s : GlobalSettings()) {
    if (FlagForKey(s.key) == "--" + flag) {
      *target = {s.key, s.type, s.repeatable};
      return true;
    }
  }
  if (flag == "collector.disable-defaults") {
    *target = {"collectors.disable_defaults", OptionType::kBool, false};
    return true;
  }
  constexpr std::string_view kPrefix = "collector.";
  if (!flag.starts_with(kPrefix)) return false;
  std::string rest = flag.substr(kPrefix.size());
  auto dot = rest.find('.');
  std::string name = FlagToKeyPart(rest.substr(0, dot));
  const CollectorSpec* spec = FindCollector(AllCollectors(), name);
  if (spec == nullptr) return false;
  if (dot == std::string::npos) {
    *target = {"collectors." + name + ".enabled", OptionType::kBool, false};
    return true;
  }
  std::string opt = FlagToKeyPart(rest.substr(dot + 1));
  for (const auto& o : spec->options) {
    if (o.name == opt && o.type != OptionType::kYaml) {
      *target = {"collectors." + name + "." + opt, o.type, o.type == OptionType::kStringList};
      return true;
    }
  }
  return false;
}

const char* TypeHint(OptionType t) {
  switch (t) {
    case OptionType::kInt:
      return "=INT";
    case OptionType::kBool:
      return "";
    case OptionType::kRegex:
      return "=REGEX";
    case OptionType::kStringList:
      return "=LIST";
    default:
      return "=STRING";
  }
}

}  // namespace

CommandLine ParseCommandLine(const std::vector<std::string>& args) {
  CommandLine cl;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "-h" || arg == "--help") {
      cl.help = true;
      continue;
    }
    if (arg == "--version") {
      cl.version = true;
      continue;
    }
    if (!arg.starts_with("--")) {
      throw ConfigError("unexpected argument \"" + arg + "\" (flags start with --; see --help)");
    }
    std::string body = arg.substr(2);
    std::optional<std::string> value;
    if (auto eq = body.find('='); eq != std::string::npos) {
      value = body.substr(eq + 1);
      body = body.substr(0, eq);
    }
    bool negated = false;
    FlagTarget target;
    bool found = LookupFlag(body, &target);
    if (!found && body.starts_with("no-")) {
      found = LookupFlag(body.substr(3), &target) && IsBoolType(target.type);
      negated = found;
    }
    if (body == "config.file") {
      if (!value) {
        if (i + 1 >= args.size()) throw ConfigError("flag --config.file needs a value");
        value = args[++i];
      }
      cl.config_file = *value;
      continue;
    }
    if (!found) throw ConfigError("unknown flag --" + body + " (see --help)");
    if (IsBoolType(target.type)) {
      if (negated && value) throw ConfigError("flag --" + body + " takes no value");
      std::string v = negated ? "false" : value.value_or("true");
      if (v != "true" && v != "false") {
        throw ConfigError("flag --" + body + ": expected true or false, got \"" + v + "\"");
      }
      cl.values[target.key] = {v};
      continue;
    }
    if (!value) {
      if (i + 1 >= args.size()) throw ConfigError("flag --" + body + " needs a value");
      value = args[++i];
    }
    auto& slot = cl.values[target.key];
    if (target.repeatable) {
      slot.push_back(*value);
    } else {
      slot = {*value};
    }
  }
  return cl;
}

std::string HelpText() {
  std::ostringstream out;
  out << "usage: pagescope [flags]\n\n"
         "Prometheus exporter for Linux memory paging: HugeTLB pools per size and NUMA node,\n"
         "THP, KSM, NUMA locality, faults and swap, per process group and QEMU guest.\n\n"
         "Flags (every flag can also be set in the --config.file YAML; flags win):\n"
         "  -h, --help                      Show this help and exit.\n"
         "  --version                       Print the version and exit.\n"
         "  --config.file=PATH              YAML configuration file. SIGHUP reloads it.\n";
  auto line = [&](const std::string& flag, const std::string& help, const std::string& def) {
    std::string f = "  " + flag;
    if (f.size() < 34)
      f.resize(34, ' ');
    else
      f += "  ";
    out << f << help;
    if (!def.empty()) out << " (default: " << def << ")";
    out << "\n";
  };
  for (const auto& s : GlobalSettings()) {
    line(FlagForKey(s.key) + TypeHint(s.type), s.help + (s.repeatable ? " Repeatable." : ""),
         s.default_value);
  }
  line("--collector.disable-defaults", "Disable every collector not enabled explicitly.", "");
  out << "\nCollectors (--collector.NAME to enable, --no-collector.NAME to disable):\n";
  for (const auto& c : AllCollectors()) {
    line(FlagForKey("collectors." + c.name + ".enabled"),
         c.help + " [" + (c.default_enabled ? "enabled" : "disabled") + "]", "");
    if (!c.sources.empty()) line("", "reads " + c.sources, "");
    for (const auto& o : c.options) {
      if (o.type == OptionType::kYaml) {
        line("  collectors." + c.name + "." + o.name, o.help + " (YAML only)", "");
      } else {
        line(FlagForKey("collectors." + c.name + "." + o.name) + TypeHint(o.type), o.help,
             o.default_value);
      }
    }
  }
  out << "\nPer scrape: /metrics?collect[]=NAME&exclude[]=NAME limits the collectors run.\n";
  return out.str();
}

}  // namespace pagescope
