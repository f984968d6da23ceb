#include "kernel/proc_stat.h"

#include "framework/errors.h"
#include "kernel/parse.h"

namespace pagescope {

std::optional<std::uint64_t> ParseProcStatBootTime(std::string_view text) {
  std::optional<std::uint64_t> btime;
  parse::ForEachLine(text, [&](std::size_t n, std::string_view line) {
    if (btime || !line.starts_with("btime")) return;
    auto fields = parse::Fields(line);
    if (fields.size() != 2 || fields[0] != "btime") {
      throw ParseError(n, "expected \"btime <seconds>\"");
    }
    btime = parse::U64(fields[1], n);
  });
  return btime;
}

}  // namespace pagescope
