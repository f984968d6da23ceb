#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz/fuzz_*.cpp) with clang in build-fuzz/ and runs each
# for PAGESCOPE_FUZZ_SECONDS (default 6) on a corpus seeded from the fixtures, as many at a time
# as there are cores (PAGESCOPE_FUZZ_JOBS): with 32 targets the runs take about 2.5 minutes on 2
# cores. The corpus grows in build-fuzz/fuzz/work/<name>/corpus across runs; crash reproducers
# land next to it. Longer runs for one parser:
#   PAGESCOPE_FUZZ_SECONDS=30 scripts/fuzz.sh -R fuzz.<name>
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${PAGESCOPE_FUZZ_SECONDS:-6}
jobs=${PAGESCOPE_FUZZ_JOBS:-$(nproc)}
CC=clang CXX=clang++ cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPAGESCOPE_FUZZ=ON \
  -DPAGESCOPE_BUILD_TESTS=OFF -DPAGESCOPE_WERROR=OFF -DPAGESCOPE_FUZZ_SECONDS="$seconds" >/dev/null
cmake --build build-fuzz -j"$(nproc)" --target pagescope_fuzz_all
(cd build-fuzz && ctest --output-on-failure -j"$jobs" -L fuzz "$@")
