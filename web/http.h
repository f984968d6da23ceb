#pragma once
// The parts of HTTP the server reads or writes itself (libevent parses the request line and
// headers): the query string and its collect[]/exclude[] selection, Accept-Encoding and gzip.
// Pure functions of their text, tested and fuzzed on their own.

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

// True when an Accept-Encoding header value accepts gzip (q=0 refuses it).
bool AcceptsGzip(std::string_view accept_encoding);
// gzip-compresses `data` (RFC 1952).
std::string Gzip(std::string_view data);

}  // namespace pagescope
