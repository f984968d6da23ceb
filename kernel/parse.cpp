#include "kernel/parse.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <string>

#include "framework/errors.h"

namespace pagescope::parse {

std::vector<std::string_view> Fields(std::string_view line) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    std::size_t start = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
    if (i > start) out.push_back(line.substr(start, i - start));
  }
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() &&
         (s.front() == ' ' || s.front() == '\t' || s.front() == '\n' || s.front() == '\r')) {
    s.remove_prefix(1);
  }
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\n' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

namespace {
std::string Quote(std::string_view token) {
  constexpr std::size_t kMax = 64;
  std::string t(token.substr(0, kMax));
  if (token.size() > kMax) t += "…";
  return "\"" + t + "\"";
}
}  // namespace

std::uint64_t U64(std::string_view token, std::size_t line) {
  std::uint64_t v = 0;
  auto [ptr, ec] = std::from_chars(token.data(), token.data() + token.size(), v);
  if (token.empty() || ec != std::errc() || ptr != token.data() + token.size()) {
    throw ParseError(line, "expected an unsigned integer, got " + Quote(token));
  }
  return v;
}

std::int64_t I64(std::string_view token, std::size_t line) {
  std::int64_t v = 0;
  auto [ptr, ec] = std::from_chars(token.data(), token.data() + token.size(), v);
  if (token.empty() || ec != std::errc() || ptr != token.data() + token.size()) {
    throw ParseError(line, "expected an integer, got " + Quote(token));
  }
  return v;
}

double Double(std::string_view token, std::size_t line) {
  std::string t(token);
  char* end = nullptr;
  errno = 0;
  double v = std::strtod(t.c_str(), &end);
  if (t.empty() || end != t.c_str() + t.size() || errno == ERANGE) {
    throw ParseError(line, "expected a number, got " + Quote(token));
  }
  return v;
}

std::uint64_t SingleU64(std::string_view text) {
  std::string_view t = Trim(text);
  if (t.find('\n') != std::string_view::npos) {
    throw ParseError(2, "expected a single value, got more lines");
  }
  return U64(t, 1);
}

std::int64_t SingleI64(std::string_view text) {
  std::string_view t = Trim(text);
  if (t.find('\n') != std::string_view::npos) {
    throw ParseError(2, "expected a single value, got more lines");
  }
  return I64(t, 1);
}

Choice BracketChoice(std::string_view text) {
  std::string_view t = Trim(text);
  if (t.find('\n') != std::string_view::npos) {
    throw ParseError(2, "expected a single line of choices");
  }
  Choice c;
  int active_count = 0;
  for (std::string_view f : Fields(t)) {
    if (f.size() >= 2 && f.front() == '[' && f.back() == ']') {
      f = f.substr(1, f.size() - 2);
      if (f.empty()) throw ParseError(1, "empty choice \"[]\"");
      c.active = std::string(f);
      ++active_count;
    } else if (f.find_first_of("[]") != std::string_view::npos) {
      throw ParseError(1, "malformed choice " + Quote(f));
    }
    for (const auto& seen : c.states) {
      if (seen == f) throw ParseError(1, "choice " + Quote(f) + " given twice");
    }
    c.states.emplace_back(f);
  }
  if (c.states.empty() || active_count != 1) {
    throw ParseError(1, "expected exactly one [selected] choice, got " + Quote(t));
  }
  return c;
}

bool MetricNamePartOk(std::string_view part) {
  if (part.empty() || part.front() < 'a' || part.front() > 'z') return false;
  for (char c : part) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
    if (!ok) return false;
  }
  for (std::string_view reserved : {"_total", "_count", "_sum", "_bucket", "_created", "_info"}) {
    if (part.ends_with(reserved)) return false;
  }
  static constexpr std::string_view kFlagged[] = {
      "b",
      "d",
      "gb",
      "h",
      "kb",
      "m",
      "mb",
      "ms",
      "ns",
      "pb",
      "s",
      "tb",
      "us",
      "sec",
      "minutes",
      "hours",
      "days",
      "weeks",
      "milliseconds",
      "microseconds",
      "nanoseconds",
  };
  std::string_view rest = part;
  while (!rest.empty()) {
    auto us = rest.find('_');
    std::string_view seg = rest.substr(0, us);
    for (auto f : kFlagged) {
      if (seg == f) return false;
    }
    if (us == std::string_view::npos) break;
    rest.remove_prefix(us + 1);
  }
  return true;
}

std::optional<std::uint64_t> HugepageDirBytes(std::string_view dir_name) {
  constexpr std::string_view kPrefix = "hugepages-";
  constexpr std::string_view kSuffix = "kB";
  if (dir_name.size() <= kPrefix.size() + kSuffix.size() || !dir_name.starts_with(kPrefix) ||
      !dir_name.ends_with(kSuffix)) {
    return std::nullopt;
  }
  std::string_view num = dir_name.substr(kPrefix.size(), dir_name.size() - kPrefix.size() - 2);
  std::uint64_t kb = 0;
  auto [ptr, ec] = std::from_chars(num.data(), num.data() + num.size(), kb);
  if (ec != std::errc() || ptr != num.data() + num.size() || kb == 0 || kb > (UINT64_MAX >> 10)) {
    return std::nullopt;
  }
  return kb << 10;
}

std::string PageSizeLabel(std::uint64_t bytes) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  int unit = 0;
  while (bytes >= 1024 && bytes % 1024 == 0 && unit < 6) {
    bytes /= 1024;
    ++unit;
  }
  return std::to_string(bytes) + kUnits[unit];
}

std::optional<std::uint64_t> MemSize(std::string_view token) {
  int base = 10;
  if (token.size() > 2 && token[0] == '0' && (token[1] == 'x' || token[1] == 'X')) {
    base = 16;
    token.remove_prefix(2);
  }
  std::uint64_t v = 0;
  auto [ptr, ec] = std::from_chars(token.data(), token.data() + token.size(), v, base);
  if (ec != std::errc() || ptr == token.data()) return std::nullopt;
  std::string_view rest(ptr, static_cast<std::size_t>(token.data() + token.size() - ptr));
  if (rest.empty()) return v;
  if (rest.size() != 1) return std::nullopt;
  int shift = 0;
  switch (rest[0]) {
    case 'k':
    case 'K':
      shift = 10;
      break;
    case 'm':
    case 'M':
      shift = 20;
      break;
    case 'g':
    case 'G':
      shift = 30;
      break;
    case 't':
    case 'T':
      shift = 40;
      break;
    case 'p':
    case 'P':
      shift = 50;
      break;
    case 'e':
    case 'E':
      shift = 60;
      break;
    default:
      return std::nullopt;
  }
  if (v > (UINT64_MAX >> shift)) return std::nullopt;
  return v << shift;
}

std::optional<int> NodeDirId(std::string_view dir_name) {
  if (!dir_name.starts_with("node") || dir_name.size() == 4) return std::nullopt;
  std::string_view num = dir_name.substr(4);
  int id = 0;
  auto [ptr, ec] = std::from_chars(num.data(), num.data() + num.size(), id);
  if (ec != std::errc() || ptr != num.data() + num.size() || id < 0) return std::nullopt;
  return id;
}

std::vector<int> IdList(std::string_view text, std::size_t max_ids) {
  std::string_view t = Trim(text);
  std::vector<int> ids;
  if (t.empty()) return ids;
  if (t.find('\n') != std::string_view::npos) throw ParseError(2, "expected a single line");
  const std::string_view whole = t;
  auto number = [&](std::string_view token) {
    int v = 0;
    auto [ptr, ec] = std::from_chars(token.data(), token.data() + token.size(), v);
    if (token.empty() || ec != std::errc() || ptr != token.data() + token.size() || v < 0) {
      throw ParseError(1, "expected an id list like \"0-3,8\", got " + Quote(whole));
    }
    return v;
  };
  while (true) {
    std::size_t comma = t.find(',');
    std::string_view item = t.substr(0, comma);
    std::size_t dash = item.find('-');
    int first = number(item.substr(0, dash));
    int last = dash == std::string_view::npos ? first : number(item.substr(dash + 1));
    if (last < first) throw ParseError(1, "range " + Quote(item) + " runs backwards");
    if (static_cast<std::size_t>(last - first) >= max_ids ||
        ids.size() + static_cast<std::size_t>(last - first) >= max_ids) {
      throw ParseError(1, "id list " + Quote(whole) + " is implausibly long");
    }
    for (int i = first; i <= last; ++i) ids.push_back(i);
    if (comma == std::string_view::npos) break;
    t.remove_prefix(comma + 1);
  }
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

std::string UnescapeOctal(std::string_view text) {
  auto octal = [](char c) { return c >= '0' && c <= '7'; };
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\\' && i + 3 < text.size() && octal(text[i + 1]) && octal(text[i + 2]) &&
        octal(text[i + 3])) {
      int v = (text[i + 1] - '0') * 64 + (text[i + 2] - '0') * 8 + (text[i + 3] - '0');
      if (v <= 255) {
        out.push_back(static_cast<char>(v));
        i += 3;
        continue;
      }
    }
    out.push_back(text[i]);
  }
  return out;
}

}  // namespace pagescope::parse
