#pragma once
// /proc/stat (proc(5)): kernel and system statistics. Only the boot time is read here:
//   btime 1796527799      seconds since the epoch at which the system booted

#include <cstdint>
#include <optional>
#include <string_view>

namespace pagescope {

// The btime line's value; nullopt when there is none. Throws ParseError when it is malformed.
std::optional<std::uint64_t> ParseProcStatBootTime(std::string_view text);

}  // namespace pagescope
