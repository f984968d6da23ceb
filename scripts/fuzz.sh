#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz/fuzz_*.cpp) with clang in build-fuzz/ and runs each
# for PAGESCOPE_FUZZ_SECONDS (default 20) on a corpus seeded from the fixtures. The corpus grows
# in build-fuzz/fuzz/work/<name>/corpus across runs; crash reproducers land next to it.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${PAGESCOPE_FUZZ_SECONDS:-20}
CC=clang CXX=clang++ cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPAGESCOPE_FUZZ=ON \
  -DPAGESCOPE_BUILD_TESTS=OFF -DPAGESCOPE_WERROR=OFF -DPAGESCOPE_FUZZ_SECONDS="$seconds" >/dev/null
cmake --build build-fuzz -j"$(nproc)" --target pagescope_fuzz_all
(cd build-fuzz && ctest --output-on-failure -L fuzz "$@")
