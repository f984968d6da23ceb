// seeds:
#include "collectors/ksm.h"
#include "collectors/thp.h"
#include "collectors/vmstat.h"
#include "kernel/sysfs.h"
#include "tests/fuzz/fuzz.h"

// File and field names a newer kernel may add, turned into metric names: ksm, khugepaged and
// per-size THP stats files, unknown sysfs files, vmstat fields.
static int FileNames(std::string_view text) {
  (void)pagescope::KsmFileMetric(text);
  (void)pagescope::KhugepagedFileMetric(text);
  (void)pagescope::ThpSizeStatMetric(text);
  (void)pagescope::UnknownFileMetric("pagescope_fuzz_", text, "/sys/fuzz");
  (void)pagescope::VmstatFieldIsGauge(text);
  return 0;
}
PAGESCOPE_FUZZ_TEXT(FileNames(text))
