// seeds: proc/pagetypeinfo
#include "kernel/proc_pagetypeinfo.h"
#include "tests/fuzz/fuzz.h"

PAGESCOPE_FUZZ_TEXT(pagescope::ParsePagetypeinfo(text))
