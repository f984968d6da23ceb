// seeds: sys/module/zswap/parameters/*
#include "kernel/sys_module_zswap.h"
#include "tests/fuzz/fuzz.h"

// Module parameter booleans (Y/N/1/0).
PAGESCOPE_FUZZ_TEXT(pagescope::ParseModuleBool(text))
