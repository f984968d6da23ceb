// seeds: proc/pressure/*
#include "collectors/pressure.h"
#include "tests/fuzz/fuzz.h"

PAGESCOPE_FUZZ_TEXT(pagescope::ParsePressure(text))
