#!/usr/bin/env bash
# Quick start: install what is missing, build, and run pagescope with its default configuration
# (http://localhost:9724/metrics). Extra arguments are passed to pagescope.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh build
cmake -S . -B build-run -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPAGESCOPE_BUILD_TESTS=OFF >/dev/null
cmake --build build-run --target pagescope -j"$(nproc)"
exec ./build-run/pagescope "$@"
