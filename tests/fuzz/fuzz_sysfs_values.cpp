// seeds: sys/kernel/mm/hugepages/*/* sys/devices/system/node/node*/hugepages/*/*
#include "kernel/parse.h"
#include "tests/fuzz/fuzz.h"

// One-value sysfs files, signed and unsigned.
static int SysfsValues(std::string_view text) {
  try {
    (void)pagescope::parse::SingleU64(text);
  } catch (const pagescope::ParseError&) {
  }
  (void)pagescope::parse::SingleI64(text);
  return 0;
}
PAGESCOPE_FUZZ_TEXT(SysfsValues(text))
