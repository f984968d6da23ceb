// seeds: proc/buddyinfo
#include "collectors/proc_buddyinfo.h"
#include "tests/fuzz/fuzz.h"

PAGESCOPE_FUZZ_TEXT(pagescope::ParseBuddyinfo(text))
