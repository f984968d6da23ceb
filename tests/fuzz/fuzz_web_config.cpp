// seeds:
#include <string>

#include "exporter/web_config.h"
#include "tests/fuzz/fuzz.h"

// The --web.config.file parser (TLS file paths are opened if named: harmless reads).
PAGESCOPE_FUZZ_TEXT(pagescope::ParseWebConfig(std::string(text), "/nonexistent/web.yml"))
