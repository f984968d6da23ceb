// seeds:
#include "kernel/parse.h"
#include "tests/fuzz/fuzz.h"

// Memory sizes (parse::Size): QEMU and sysfs units, with bytes and MiB as the bare unit, and
// the kernel command line form (memparse).
static int MemSize(std::string_view text) {
  using pagescope::parse::SizeSyntax;
  (void)pagescope::parse::Size(text, SizeSyntax::kUnits);
  (void)pagescope::parse::Size(text, SizeSyntax::kUnits, 1024 * 1024);
  (void)pagescope::parse::Size(text, SizeSyntax::kMemparse);
  return 0;
}
PAGESCOPE_FUZZ_TEXT(MemSize(text))
