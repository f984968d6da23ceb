// seeds:
#include <string>

#include "exporter/server.h"
#include "exporter/web_config.h"
#include "tests/fuzz/fuzz.h"

// Request header values the server parses itself: Authorization and Accept-Encoding.
static int Headers(std::string_view text) {
  std::string user, password;
  (void)pagescope::ParseBasicAuthorization(text, &user, &password);
  (void)pagescope::AcceptsGzip(text);
  return 0;
}
PAGESCOPE_FUZZ_TEXT(Headers(text))
