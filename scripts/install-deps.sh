#!/usr/bin/env bash
# Installs every Debian package pagescope needs to build, test and benchmark.
# Idempotent: packages already present are not touched, apt is not called when nothing is missing.
set -euo pipefail

BUILD_PKGS=(
  build-essential cmake pkg-config git clang-format
  prometheus-cpp-dev libevent-dev zlib1g-dev libcurl4-openssl-dev libssl-dev
  libnuma-dev libyaml-cpp-dev libspdlog-dev libfmt-dev libcrypt-dev
  file dpkg-dev
)
TEST_PKGS=(
  googletest libgtest-dev libgmock-dev libbenchmark-dev
  prometheus curl python3 python3-yaml jsonnet procps util-linux openssl
  docker-compose systemd victoria-metrics
)
EXTRA_PKGS=(
  prometheus-node-exporter prometheus-process-exporter qemu-system-x86 stress-ng wrk
  clang libclang-rt-14-dev linux-perf
)
# Only scripts/verify-deploy.sh needs these (container image build, .deb in a chroot).
DEPLOY_PKGS=(podman runc debootstrap)

want=("${BUILD_PKGS[@]}")
case "${1:-all}" in
  build) ;;
  test) want+=("${TEST_PKGS[@]}") ;;
  all) want+=("${TEST_PKGS[@]}" "${EXTRA_PKGS[@]}") ;;
  deploy) want+=("${TEST_PKGS[@]}" "${EXTRA_PKGS[@]}" "${DEPLOY_PKGS[@]}") ;;
  *) echo "usage: $0 [build|test|all|deploy]" >&2; exit 2 ;;
esac

# The dashboard schema test (tests/grafana-schema) needs node and npm. Debian's `npm` package
# depends on Debian's `nodejs` and conflicts with a node installed another way (NodeSource,
# a distribution image), so Debian's are asked for only when there is no `node` at all.
if [[ ${1:-all} != build ]] && ! command -v node >/dev/null; then
  want+=(nodejs npm)
fi

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "install-deps: missing packages (${missing[*]}); run as root or install them" >&2
    exit 1
  fi
  echo "install-deps: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # Installing prometheus/node-exporter starts their services on a systemd host; we never rely on that.
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# @grafana/schema and typescript, at the versions pinned in package-lock.json.
if [[ ${1:-all} != build ]]; then
  schema_dir=$(cd "$(dirname "$0")/.." && pwd)/tests/grafana-schema
  if [[ ! -d $schema_dir/node_modules ]]; then
    if ! command -v npm >/dev/null; then
      echo "install-deps: node is installed without npm; install npm for that node" \
        "(Debian's npm package only works with Debian's nodejs)" >&2
      exit 1
    fi
    echo "install-deps: npm ci in $schema_dir" >&2
    (cd "$schema_dir" && npm ci --no-audit --no-fund --loglevel=error)
  fi
fi
