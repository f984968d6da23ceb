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
  docker-compose systemd
  # The fleet test (tests/e2e/test_fleet.py): VictoriaMetrics with vmagent and vmalert, and
  # Alertmanager. Their packages start services on a systemd host; the tests never use those
  # (their own instances on 127.77.x.x addresses).
  victoria-metrics prometheus-alertmanager
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

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "install-deps: missing packages (${missing[*]}); run as root or install them" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# Installing prometheus/node-exporter starts their services on a systemd host; we never rely on that.
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
