// seeds:
#include <string>

#include "kernel/parse.h"
#include "tests/fuzz/fuzz.h"

// Directory names: hugepages-<size>kB and node<N>, and the page size label of what they give.
static int DirNames(std::string_view text) {
  if (auto bytes = pagescope::parse::HugepageDirBytes(text)) {
    (void)pagescope::parse::PageSizeLabel(*bytes);
  }
  (void)pagescope::parse::NodeDirId(text);
  return 0;
}
PAGESCOPE_FUZZ_TEXT(DirNames(text))
