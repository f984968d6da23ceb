// seeds: proc/*/cmdline
#include "kernel/proc_pid.h"
#include "proctable/qemu_cmdline.h"
#include "tests/fuzz/fuzz.h"

// A QEMU command line as /proc/PID/cmdline gives it: -m, -mem-path, -object (key=value and
// JSON), -numa, -machine; then the guest RAM backends.
static int QemuCmdline(std::string_view text) {
  auto cmdline = pagescope::ParseQemuCmdline(pagescope::SplitCmdline(text));
  (void)cmdline.RamBackends();
  return 0;
}
PAGESCOPE_FUZZ_TEXT(QemuCmdline(text))
