#include "kernel/proc_pid_limits.h"

#include "framework/errors.h"
#include "kernel/parse.h"

namespace pagescope {

std::map<std::string, ProcPidLimit> ParseProcPidLimits(std::string_view text) {
  constexpr std::size_t kNameWidth = 25;  // "%-25s %-20s %-20s %-10s"
  std::map<std::string, ProcPidLimit> out;
  parse::ForEachLine(text, [&](std::size_t n, std::string_view line) {
    if (n == 1) {
      if (!line.starts_with("Limit ")) throw ParseError(n, "expected the header line \"Limit …\"");
      return;
    }
    if (parse::Trim(line).empty()) return;
    if (line.size() <= kNameWidth || line[kNameWidth] != ' ') {
      throw ParseError(n, "expected a resource name in 25 columns, then the limits");
    }
    std::string name(parse::Trim(line.substr(0, kNameWidth)));
    auto fields = parse::Fields(line.substr(kNameWidth));
    if (name.empty() || fields.size() < 2 || fields.size() > 3) {
      throw ParseError(n, "expected a resource name, soft and hard limits and a unit");
    }
    auto limit = [&](std::string_view token) -> std::optional<std::uint64_t> {
      if (token == "unlimited") return std::nullopt;
      return parse::U64(token, n);
    };
    out[name] = ProcPidLimit{limit(fields[0]), limit(fields[1])};
  });
  return out;
}

}  // namespace pagescope
