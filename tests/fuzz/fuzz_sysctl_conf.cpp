// seeds: root/etc/sysctl.conf root/etc/sysctl.d/* root/usr/lib/sysctl.d/*
#include <vector>

#include "collectors/hugepages_config.h"
#include "tests/fuzz/fuzz.h"

// sysctl.d files, in both error modes: collecting the bad lines, and throwing on the first.
static int SysctlConf(std::string_view text) {
  std::vector<pagescope::ParseError> errors;
  (void)pagescope::ParseSysctlConf(text, &errors);
  (void)pagescope::ParseSysctlConf(text);
  return 0;
}
PAGESCOPE_FUZZ_TEXT(SysctlConf(text))
