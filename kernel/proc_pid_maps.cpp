#include "kernel/proc_pid_maps.h"

#include <charconv>

#include "framework/errors.h"
#include "kernel/parse.h"

namespace pagescope {
namespace {

template <typename T>
T Hex(std::string_view token, std::size_t line, const char* what) {
  T v = 0;
  auto [ptr, ec] = std::from_chars(token.data(), token.data() + token.size(), v, 16);
  if (token.empty() || ec != std::errc() || ptr != token.data() + token.size()) {
    throw ParseError(line, std::string("bad ") + what + " \"" + std::string(token) + "\"");
  }
  return v;
}

// The next blank-separated token of `rest`, which loses it and the blanks before it.
std::string_view NextField(std::string_view& rest) {
  std::size_t b = rest.find_first_not_of(" \t");
  if (b == std::string_view::npos) {
    rest = {};
    return {};
  }
  rest.remove_prefix(b);
  std::size_t e = rest.find_first_of(" \t");
  std::string_view field = rest.substr(0, e);
  rest.remove_prefix(e == std::string_view::npos ? rest.size() : e);
  return field;
}

}  // namespace

std::vector<ProcPidMapsEntry> ParseProcPidMaps(std::string_view text) {
  std::vector<ProcPidMapsEntry> out;
  parse::ForEachLine(text, [&](std::size_t n, std::string_view line) {
    if (parse::Trim(line).empty()) return;
    std::string_view rest = line;
    std::string_view range = NextField(rest);
    std::string_view perms = NextField(rest);
    std::string_view offset = NextField(rest);
    std::string_view dev = NextField(rest);
    std::string_view inode = NextField(rest);
    if (inode.empty()) {
      throw ParseError(n, "expected \"START-END PERMS OFFSET MAJ:MIN INODE [PATHNAME]\"");
    }
    ProcPidMapsEntry e;
    std::size_t dash = range.find('-');
    if (dash == std::string_view::npos) {
      throw ParseError(n, "bad address range \"" + std::string(range) + "\"");
    }
    e.start = Hex<std::uint64_t>(range.substr(0, dash), n, "start address");
    e.end = Hex<std::uint64_t>(range.substr(dash + 1), n, "end address");
    if (e.end <= e.start) {
      throw ParseError(n, "empty or reversed address range \"" + std::string(range) + "\"");
    }
    if (perms.size() != 4 || (perms[0] != 'r' && perms[0] != '-') ||
        (perms[1] != 'w' && perms[1] != '-') || (perms[2] != 'x' && perms[2] != '-') ||
        (perms[3] != 's' && perms[3] != 'p')) {
      throw ParseError(n, "bad perms \"" + std::string(perms) + "\" (expected [r-][w-][x-][sp])");
    }
    e.read = perms[0] == 'r';
    e.write = perms[1] == 'w';
    e.exec = perms[2] == 'x';
    e.shared = perms[3] == 's';
    e.offset = Hex<std::uint64_t>(offset, n, "offset");
    std::size_t colon = dev.find(':');
    if (colon == std::string_view::npos) {
      throw ParseError(n, "bad device \"" + std::string(dev) + "\" (expected MAJOR:MINOR)");
    }
    e.dev_major = Hex<std::uint32_t>(dev.substr(0, colon), n, "device major");
    e.dev_minor = Hex<std::uint32_t>(dev.substr(colon + 1), n, "device minor");
    e.inode = parse::U64(inode, n);
    // The pathname is the rest after the padding; it may hold blanks itself.
    std::size_t b = rest.find_first_not_of(" \t");
    if (b != std::string_view::npos) e.name = std::string(rest.substr(b));
    out.push_back(std::move(e));
  });
  return out;
}

}  // namespace pagescope
