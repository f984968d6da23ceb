// seeds: proc/buddyinfo
#include "collectors/buddyinfo.h"
#include "tests/fuzz/fuzz.h"

PAGESCOPE_FUZZ_TEXT(pagescope::ParseBuddyinfo(text))
