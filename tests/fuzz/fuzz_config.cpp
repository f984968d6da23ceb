// seeds: pagescope.yml
#include <string>

#include "exporter/config.h"
#include "tests/fuzz/fuzz.h"

// The --config.file parser with every collector's options.
PAGESCOPE_FUZZ_TEXT(pagescope::LoadConfigFromText({}, std::string(text), "fuzz.yml"))
