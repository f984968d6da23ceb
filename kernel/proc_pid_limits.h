#pragma once
// /proc/<pid>/limits (proc(5); fs/proc/base.c proc_pid_limits): a header line, then one line per
// resource: its name left-aligned in 25 columns, a space, the soft and the hard limit
// ("unlimited" or a number), and the unit where it has one.
//   Limit                     Soft Limit           Hard Limit           Units
//   Max open files            1024                 524288               files

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace pagescope {

struct ProcPidLimit {
  std::optional<std::uint64_t> soft;  // nullopt: unlimited
  std::optional<std::uint64_t> hard;
};

// Resource name ("Max open files") -> limits. Throws ParseError on a malformed line.
std::map<std::string, ProcPidLimit> ParseProcPidLimits(std::string_view text);

}  // namespace pagescope
