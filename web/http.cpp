#include "web/http.h"

#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <stdexcept>

#include "web/ascii.h"

namespace pagescope {

std::string UrlDecode(std::string_view s, bool plus) {
  std::string out;
  out.reserve(s.size());
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+' && plus) {
      out += ' ';
    } else if (s[i] == '%' && i + 2 < s.size() && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
      out += static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::vector<std::string> QueryValues(std::string_view query, std::string_view name) {
  std::vector<std::string> out;
  while (!query.empty()) {
    auto amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    auto eq = pair.find('=');
    if (eq == std::string_view::npos) continue;
    if (UrlDecode(pair.substr(0, eq)) != name) continue;
    std::string value = UrlDecode(pair.substr(eq + 1));
    if (!value.empty()) out.push_back(std::move(value));
  }
  return out;
}

std::variant<Selection, BadRequest> ParseSelection(std::string_view query,
                                                   const std::vector<std::string>& enabled) {
  Selection s{QueryValues(query, "collect[]"), QueryValues(query, "exclude[]")};
  for (const auto* names : {&s.collect, &s.exclude}) {
    for (const auto& n : *names) {
      if (std::find(enabled.begin(), enabled.end(), n) == enabled.end()) {
        return BadRequest{"collector \"" + n + "\" is unknown or not enabled"};
      }
    }
  }
  return s;
}

namespace {

std::string_view TrimSpaces(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// True for an explicit q=0 (q=0, q=0.0, q=0.000) in one Accept-Encoding entry.
bool RefusedByQuality(std::string_view entry) {
  auto q = entry.find("q=");
  if (q == std::string_view::npos) return false;
  std::string_view qv = entry.substr(q + 2);
  bool zero = !qv.empty() && qv[0] == '0';
  for (std::size_t i = 1; zero && i < qv.size() && qv[i] != ' '; ++i) {
    if (qv[i] != '.' && qv[i] != '0') zero = false;
  }
  return zero;
}

}  // namespace

std::optional<std::chrono::nanoseconds> ParseScrapeTimeoutHeader(std::string_view value) {
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  constexpr long long kMaxSeconds = 86400;
  long long seconds = 0;
  std::size_t i = 0;
  for (; i < value.size() && value[i] >= '0' && value[i] <= '9'; ++i) {
    seconds = seconds * 10 + (value[i] - '0');
    if (seconds > kMaxSeconds) return std::nullopt;
  }
  const std::size_t int_digits = i;
  long long nanos = 0;
  std::size_t frac_digits = 0;
  if (i < value.size() && value[i] == '.') {
    for (++i; i < value.size() && value[i] >= '0' && value[i] <= '9'; ++i, ++frac_digits) {
      if (frac_digits < 9) nanos = nanos * 10 + (value[i] - '0');
    }
    for (std::size_t d = frac_digits; d < 9; ++d) nanos *= 10;
  }
  if (i != value.size() || int_digits + frac_digits == 0) return std::nullopt;
  auto t = std::chrono::seconds(seconds) + std::chrono::nanoseconds(nanos);
  if (t <= std::chrono::nanoseconds::zero() || t > std::chrono::seconds(kMaxSeconds)) {
    return std::nullopt;
  }
  return t;
}

std::optional<std::chrono::nanoseconds> ScrapeBudget(std::chrono::nanoseconds timeout,
                                                     std::chrono::nanoseconds offset) {
  if (timeout <= std::chrono::nanoseconds::zero()) return std::nullopt;
  return timeout - std::min(offset, timeout / 2);
}

bool AcceptsGzip(std::string_view header) {
  std::size_t start = 0;
  while (start <= header.size()) {
    std::size_t comma = header.find(',', start);
    std::string_view entry = header.substr(
        start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    std::string_view coding = TrimSpaces(entry.substr(0, entry.find(';')));
    if (EqualsIgnoreCase(coding, "gzip") || EqualsIgnoreCase(coding, "x-gzip")) {
      return !RefusedByQuality(entry);
    }
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return false;
}

std::string Gzip(std::string_view data) {
  z_stream zs{};
  if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) !=
      Z_OK) {
    throw std::runtime_error("deflateInit2 failed");
  }
  std::string out;
  out.resize(deflateBound(&zs, static_cast<uLong>(data.size())));
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  int rc = deflate(&zs, Z_FINISH);
  deflateEnd(&zs);
  if (rc != Z_STREAM_END) throw std::runtime_error("deflate failed");
  out.resize(zs.total_out);
  return out;
}

}  // namespace pagescope
