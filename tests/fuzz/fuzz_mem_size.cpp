// seeds:
#include "kernel/parse.h"
#include "kernel/proc_pid.h"
#include "tests/fuzz/fuzz.h"

// Memory sizes: QEMU and sysfs units (ParseSize, with bytes and MiB as the bare unit) and the
// kernel command line form (parse::MemSize).
static int MemSize(std::string_view text) {
  (void)pagescope::ParseSize(text);
  (void)pagescope::ParseSize(text, 1024 * 1024);
  (void)pagescope::parse::MemSize(text);
  return 0;
}
PAGESCOPE_FUZZ_TEXT(MemSize(text))
