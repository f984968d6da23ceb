// seeds:
#include <map>
#include <stdexcept>
#include <string>

#include "collectors/processes.h"
#include "tests/fuzz/fuzz.h"

// Named groups of --collector.processes patterns; std::invalid_argument is its documented
// answer to a malformed group name.
static int Pattern(std::string_view text) {
  std::map<std::string, std::size_t> names;
  try {
    (void)pagescope::StripNamedGroups(text, &names);
  } catch (const std::invalid_argument&) {
  }
  return 0;
}
PAGESCOPE_FUZZ_TEXT(Pattern(text))
