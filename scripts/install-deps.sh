#!/usr/bin/env bash
# Installs every Debian package pagescope needs to build, test and benchmark.
# Idempotent: packages already present are not touched, apt is not called when nothing is missing.
set -euo pipefail

# Every package, with why it is here. prometheus-cpp-dev itself pulls in libcivetweb-dev,
# libcurl4-openssl-dev and zlib1g-dev: its CMake package (prometheus-cpp-config.cmake) calls
# find_dependency(civetweb), (ZLIB) and (CURL) because Debian builds its pull and push parts,
# even though pagescope links only prometheus-cpp::core.
BUILD_PKGS=(
  build-essential cmake pkg-config git   # compiler, build system, pkg-config for libevent/libnuma/libcrypt; git for the revision in build_info
  clang-format                           # the format and format_check targets
  prometheus-cpp-dev                     # prometheus-cpp core: metric families and the text exposition serializer
  zlib1g-dev                             # gzip responses (ZLIB::ZLIB), and asked for by prometheus-cpp's CMake package
  libcurl4-openssl-dev                   # only because prometheus-cpp's CMake package asks for CURL (push part; unused)
  libevent-dev                           # the HTTP server (evhttp) and its TLS bufferevents
  libssl-dev                             # OpenSSL 3: TLS of --web.config.file (loaded only with it, lib/pagescope/pagescope-web.so)
  libcrypt-dev                           # bcrypt password check of basic auth (libxcrypt crypt_r)
  libnuma-dev                            # the test tools that bind memory to NUMA nodes (tests/tools/numa_*.c); not the exporter
  libyaml-cpp-dev                        # the configuration file and web configuration (YAML)
  libspdlog-dev libfmt-dev               # logging (logfmt and JSON lines); spdlog is built against the external fmt
  file dpkg-dev                          # cpack -G DEB: dpkg-shlibdeps (and file) compute the package's dependencies
)
TEST_PKGS=(
  googletest libgtest-dev libgmock-dev   # unit and golden tests (GoogleTest, gmock)
  prometheus                             # promtool check metrics / test rules, and a real Prometheus for the alert tests
  curl                                   # scripts/verify-deploy.sh probes
  python3 python3-yaml                   # end-to-end tests and generators (mixin, PrometheusRule)
  python3-fusepy                         # a procfs stand-in whose one file's read blocks (tests/tools/blocking_fs.py, test_deadline)
  ccache                                 # test_contributing_recipe builds a copy of the tree; later runs reuse its objects
  jsonnet                                # mixin/build.sh renders the alerts and dashboards
  procps util-linux                      # ps/sysctl, mount and prlimit used by live tests
  openssl                                # certificates for the TLS tests
  docker-compose systemd                 # test_deploy checks the compose file and the systemd unit (systemd-analyze verify)
  victoria-metrics prometheus-alertmanager  # test_fleet (VictoriaMetrics, vmagent, vmalert, Alertmanager) and
                                         # test_fleet_dashboard (the fleet rules under MetricsQL); their packages start
                                         # services on a systemd host, which the tests never use (own instances on loopback)
)
EXTRA_PKGS=(
  prometheus-node-exporter prometheus-process-exporter   # load benchmarks compare against them
  wrk                                    # load benchmark (tests/e2e/test_bench_load.py)
  qemu-system-x86                        # QEMU guests the qemu collector's live tests watch, and the guest lab
                                         # (tests/lab, test_lab_*): Debian's kernel with two NUMA nodes and
                                         # 1 GiB pages under TCG; its kernel and busybox-static are fetched by the lab
                                         # itself with `apt-get download` (never installed on this host)
  clang libclang-rt-14-dev               # libFuzzer runs of the parsers (scripts/fuzz.sh); clang's bpf target compiles
                                         # the BPF task source (proctable/task_iter.bpf.c, -DPAGESCOPE_BPF=AUTO)
  libbpf-dev libelf-dev bpftool          # the BPF task source: libbpf (with libelf) in lib/pagescope/pagescope-bpf.so,
                                         # bpftool embeds the program (gen skeleton); without them the build leaves it out
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
