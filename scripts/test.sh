#!/usr/bin/env bash
# Runs every test: installs what is missing, builds, checks formatting, runs the unit, golden,
# end-to-end and live-kernel tests (live ones skip with a message unless root), then the unit
# and end-to-end tests again under AddressSanitizer and UndefinedBehaviorSanitizer (not the guest
# lab, label lab: a sanitizer build of pagescope inside a TCG guest adds minutes, not findings;
# nor the contributing recipe, label recipe, which builds its own copy of the tree).
# PAGESCOPE_SKIP_SANITIZE=1 skips the sanitizer pass (for quick local runs); then a bounded libFuzzer
# run of every parser (scripts/fuzz.sh; PAGESCOPE_FUZZ_SECONDS per target, PAGESCOPE_SKIP_FUZZ=1
# skips it).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)

bash scripts/install-deps.sh all

echo "== build"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$jobs"

echo "== format check"
cmake --build build --target format_check

echo "== tests"
# Benchmarks (label bench) print figures and take minutes: run them with `ctest -L bench`. The
# 200-host simulated fleet (label fleet_large) likewise: `ctest -L fleet_large`; its 20-host
# version (e2e.test_fleet) runs here every time.
(cd build && ctest --output-on-failure --timeout 900 -LE "bench|fleet_large")

if [[ "${PAGESCOPE_SKIP_SANITIZE:-0}" != 1 ]]; then
  echo "== tests under AddressSanitizer and UndefinedBehaviorSanitizer"
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DPAGESCOPE_SANITIZE=ON >/dev/null
  cmake --build build-asan -j"$jobs"
  (cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --output-on-failure --timeout 900 -LE "live|bench|lab|fleet_large|recipe")
fi

if [[ "${PAGESCOPE_SKIP_FUZZ:-0}" != 1 ]]; then
  echo "== fuzzing every parser (${PAGESCOPE_FUZZ_SECONDS:-6} s each)"
  bash scripts/fuzz.sh
fi
