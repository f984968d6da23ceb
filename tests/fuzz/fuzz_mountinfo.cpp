// seeds: proc/self/mountinfo proc/*/mountinfo
#include "kernel/parse.h"
#include "kernel/proc_mountinfo.h"
#include "tests/fuzz/fuzz.h"

// /proc/PID/mountinfo, and the octal unescape of its paths.
static int Mountinfo(std::string_view text) {
  (void)pagescope::parse::UnescapeOctal(text);
  auto mounts = pagescope::ParseMountinfo(text);
  (void)pagescope::FsTypeOf(mounts, "/dev/hugepages");
  return 0;
}
PAGESCOPE_FUZZ_TEXT(Mountinfo(text))
