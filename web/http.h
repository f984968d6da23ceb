#pragma once
// The parts of HTTP the server reads or writes itself (libevent parses the request line and
// headers): the query string and its collect[]/exclude[] selection, Accept-Encoding and gzip.
// Pure functions of their text, tested and fuzzed on their own.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace pagescope {

// %XX escapes; '+' is a space only in query strings (`plus`), a plus sign in paths.
std::string UrlDecode(std::string_view s, bool plus = true);

// The decoded, non-empty values of `name` in a URL query string ("a=1&collect%5B%5D=x").
std::vector<std::string> QueryValues(std::string_view query, std::string_view name);

// The collectors a scrape asks for: those in `collect` (every enabled one when empty) that are
// not in `exclude`.
struct Selection {
  std::vector<std::string> collect;
  std::vector<std::string> exclude;
};
// A request the server answers 400, and why.
struct BadRequest {
  std::string message;
};
// Reads collect[] and exclude[] from a query string; a name that is not in `enabled` makes it a
// BadRequest naming the first such collector.
std::variant<Selection, BadRequest> ParseSelection(std::string_view query,
                                                   const std::vector<std::string>& enabled);

// The scraper's timeout from an X-Prometheus-Scrape-Timeout-Seconds value: decimal seconds as
// Prometheus, vmagent and the Prometheus agent write them (Go's strconv.FormatFloat(s, 'f', -1,
// 64): "10", "0.5", "2.25"), spaces around allowed. Nullopt for anything else (a sign, an
// exponent, inf, nan, other text), for zero and for more than a day.
std::optional<std::chrono::nanoseconds> ParseScrapeTimeoutHeader(std::string_view value);

// How long a scrape may take for a scraper with this timeout: the timeout less the offset, where
// the offset counts at most half the timeout (a timeout shorter than twice the offset still gets
// half of it). Nullopt for a zero timeout: no deadline.
std::optional<std::chrono::nanoseconds> ScrapeBudget(std::chrono::nanoseconds timeout,
                                                     std::chrono::nanoseconds offset);

// True when an Accept-Encoding header value accepts gzip (q=0 refuses it).
bool AcceptsGzip(std::string_view accept_encoding);
// gzip-compresses `data` (RFC 1952).
std::string Gzip(std::string_view data);

}  // namespace pagescope
