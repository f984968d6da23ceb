// seeds:
#include <stdexcept>
#include <string>

#include "tests/fuzz/fuzz.h"
#include "web/basic_auth.h"
#include "web/http.h"
#include "web/listen.h"

// Request parts the server parses itself: Authorization, Accept-Encoding and
// X-Prometheus-Scrape-Timeout-Seconds header values and
// the query string (collect[]/exclude[]); libevent parses the request line and headers.
// Also the listen addresses of the configuration.
static int Headers(std::string_view text) {
  std::string user, password;
  (void)pagescope::ParseBasicAuthorization(text, &user, &password);
  (void)pagescope::DecodeBase64(text);
  (void)pagescope::AcceptsGzip(text);
  (void)pagescope::ParseScrapeTimeoutHeader(text);
  (void)pagescope::QueryValues(text, "collect[]");
  (void)pagescope::ParseSelection(text, {"meminfo", "thp"});
  try {
    (void)pagescope::SplitListenAddress(text);
  } catch (const std::invalid_argument&) {
  }
  return 0;
}
PAGESCOPE_FUZZ_TEXT(Headers(text))
