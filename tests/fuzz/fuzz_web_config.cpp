// seeds:
#include <string>

#include "tests/fuzz/fuzz.h"
#include "web/web_config.h"

// The --web.config.file parser (TLS file paths are opened if named: harmless reads).
PAGESCOPE_FUZZ_TEXT(pagescope::ParseWebConfig(std::string(text), "/nonexistent/web.yml"))
