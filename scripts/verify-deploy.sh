#!/usr/bin/env bash
# Slow deployment checks (the fast ones are tests/e2e/test_deploy.py). As root, on a Debian 12
# host without a Docker engine:
#   1. makes the debian:bookworm base image with debootstrap --variant=minbase from the mirror
#      apt already uses, and imports it into podman (base images cannot be pulled here);
#   2. builds docker/Dockerfile with podman (runc, explicit ulimits, via CONTAINERS_CONF), checks
#      the runtime image has no compiler and runs as a non-root user;
#   3. runs the image with the host's /proc, /sys and / mounted read-only, as its default
#      non-root user and as root with only CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH, scrapes it and
#      compares the HugeTLB pools it reports with /sys/kernel/mm/hugepages (a 2 MiB pool of 4
#      pages is set for the comparison, under the kernel-test lock, and restored); runs the
#      image's HEALTHCHECK command;
#      has Debian's Prometheus scrape the running image through the shipped ServiceMonitor's
#      relabelings as the Prometheus Operator applies them (tests/e2e/servicemonitor.py):
#      instance must be the Kubernetes node's name and the operator's pod/container labels gone;
#   4. takes the .deb CPack made in the image's build stage, installs it with dpkg -i into a
#      debootstrap chroot (its Depends installed there with apt first), runs `pagescope
#      --version`, starts it with the packaged /etc/pagescope/pagescope.yml and scrapes it.
# Usage: sudo scripts/verify-deploy.sh [--rebuild-base]     Takes some minutes; uses both cores.
# Work files: $PAGESCOPE_VERIFY_DIR (default /var/tmp/pagescope-verify), kept as a cache.
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$PWD

[[ $(id -u) -eq 0 ]] || { echo "verify-deploy: needs root (podman, debootstrap, chroot)" >&2; exit 1; }
bash scripts/install-deps.sh deploy

WORK=${PAGESCOPE_VERIFY_DIR:-/var/tmp/pagescope-verify}
BASE_IMAGE=docker.io/library/debian:bookworm   # what FROM debian:bookworm resolves to
IMAGE=localhost/pagescope:verify
BUILD_IMAGE=localhost/pagescope-build:verify
mkdir -p "$WORK"

# podman with runc (crun refuses this host's hybrid cgroup layout) and explicit ulimits.
cat >"$WORK/containers.conf" <<'EOF'
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=4096:4096"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF
export CONTAINERS_CONF=$WORK/containers.conf

pass=0
fail=0
ok() { echo "PASS: $*"; pass=$((pass + 1)); }
bad() { echo "FAIL: $*"; fail=$((fail + 1)); }
step() { echo; echo "== $*"; }

containers=()
mounts=()
pids=()
lockfd=
pool=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
old_pool=
restore_pool() {
  if [[ -n $old_pool ]]; then echo "$old_pool" >"$pool"; old_pool=; fi
  if [[ -n $lockfd ]]; then flock -u "$lockfd"; exec {lockfd}>&-; lockfd=; fi
}
cleanup() {
  set +e
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  for c in "${containers[@]}"; do podman rm -f "$c" >/dev/null 2>>"$WORK/podman.log"; done
  for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do umount -l "${mounts[i]}" 2>/dev/null; done
  restore_pool
}
trap cleanup EXIT

# The mirror apt uses (first deb URI of the main archive).
mirror=$( (grep -rhoE '^(URIs:|deb) +https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list \
           /etc/apt/sources.list.d/ 2>/dev/null || true) | head -1 | awk '{print $2}')
mirror=${mirror:-http://deb.debian.org/debian}

make_rootfs() { # DIR: a minbase bookworm tree
  local dir=$1
  rm -rf "$dir"
  debootstrap --variant=minbase bookworm "$dir" "$mirror" >"$dir.log" 2>&1 ||
    { tail -20 "$dir.log"; return 1; }
}

step "1. base image $BASE_IMAGE (debootstrap --variant=minbase bookworm from $mirror)"
if [[ ${1:-} == --rebuild-base ]] || ! podman image exists "$BASE_IMAGE"; then
  make_rootfs "$WORK/base"
  tar -C "$WORK/base" -c . | podman import --change 'CMD ["bash"]' - "$BASE_IMAGE" >/dev/null
fi
podman image exists "$BASE_IMAGE" && ok "base image $BASE_IMAGE" || bad "base image"

step "2. podman build -f docker/Dockerfile"
rev=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
t0=$(date +%s)
if podman build --pull=never --format docker --network host --build-arg PAGESCOPE_REVISION="$rev" \
     -f docker/Dockerfile -t "$IMAGE" . >"$WORK/build.log" 2>&1 &&
   podman build --pull=never --format docker --network host --build-arg PAGESCOPE_REVISION="$rev" \
     --target build -f docker/Dockerfile -t "$BUILD_IMAGE" . >>"$WORK/build.log" 2>&1; then
  ok "image built in $(($(date +%s) - t0)) s ($(podman image inspect -f '{{.Size}}' "$IMAGE" |
        awk '{printf "%.0f MB", $1 / 1e6}'))"
else
  tail -30 "$WORK/build.log"
  bad "image build (log: $WORK/build.log)"
  echo "passed $pass, failed $fail"
  exit 1
fi
user=$(podman image inspect -f '{{.Config.User}}' "$IMAGE")
[[ $user == 9724:9724 ]] && ok "runs as non-root user $user" || bad "image user '$user'"
if podman run --rm --network none --entrypoint /bin/sh "$IMAGE" -c \
     'command -v gcc || command -v c++ || command -v cmake || ls /usr/include/prometheus' >/dev/null 2>&1; then
  bad "runtime image contains build tools or headers"
else
  ok "runtime image has no compiler, cmake or -dev headers"
fi
hc=$(podman image inspect -f '{{json .Config.Healthcheck.Test}}' "$IMAGE")
[[ $hc == *pagescope-healthcheck* ]] && ok "HEALTHCHECK $hc" || bad "no HEALTHCHECK ($hc)"
podman run --rm --network none --no-healthcheck "$IMAGE" --version | head -1 | sed 's/^/  /'

# A known, nonzero 2 MiB pool while comparing (kernel-test lock held; restored after).
compare_pools() { # URL: pools reported == pools in /sys/kernel/mm/hugepages
  local rc=0
  exec {lockfd}>/run/lock/pagescope-kernel-tests.lock
  flock "$lockfd"
  if [[ -w $pool ]]; then
    old_pool=$(cat "$pool")
    echo 4 >"$pool"
  fi
  compare_pools_now "$1" || rc=$?
  restore_pool
  return $rc
}
compare_pools_now() {
  python3 - "$1" <<'EOF'
import glob, os, re, sys, urllib.request
body = urllib.request.urlopen(sys.argv[1], timeout=10).read().decode()
metrics = {}
for line in body.splitlines():
    m = re.match(r'^(pagescope_hugepages_\w+)\{([^}]*)\} (\S+)$', line)
    if m:
        labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2)))
        metrics[(m.group(1), labels.get("page_size"))] = float(m.group(3))
size_label = {int(v): ps for (n, ps), v in metrics.items()
              if n == "pagescope_hugepages_page_size_bytes"}
files = {"pool_pages": "nr_hugepages", "free_pages": "free_hugepages",
         "reserved_pages": "resv_hugepages", "surplus_pages": "surplus_hugepages",
         "overcommit_limit_pages": "nr_overcommit_hugepages"}
dirs = sorted(glob.glob("/sys/kernel/mm/hugepages/hugepages-*kB"))
errors, seen = [], []
for d in dirs:
    size = int(re.search(r"(\d+)kB$", d).group(1)) * 1024
    ps = size_label.get(size)
    if ps is None:
        errors.append(f"no page_size label for {d}")
        continue
    for metric, f in files.items():
        want = int(open(os.path.join(d, f)).read())
        got = metrics.get((f"pagescope_hugepages_{metric}", ps))
        if got != want:
            errors.append(f"{metric}{{page_size={ps}}}: exporter {got}, {d}/{f} {want}")
    seen.append(f"{ps}: pool {int(metrics[('pagescope_hugepages_pool_pages', ps)])}"
                f" free {int(metrics[('pagescope_hugepages_free_pages', ps)])}")
if len(size_label) != len(dirs):
    errors.append(f"exporter reports {len(size_label)} sizes, the host has {len(dirs)}")
print("  " + "; ".join(seen))
for e in errors:
    print("  " + e)
sys.exit(1 if errors else 0)
EOF
}

wait_http() { # URL
  for _ in $(seq 100); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.1; done
  return 1
}

step "3. run the image with the host's /proc, /sys and / read-only"
host_mounts=(-v /proc:/host/proc:ro -v /sys:/host/sys:ro -v /:/host:ro,rslave)
run_image() { # NAME PORT EXTRA-PODMAN-ARGS...
  local name=$1 port=$2
  shift 2
  podman rm -f "$name" >/dev/null 2>&1 || true
  containers+=("$name")
  # (podman logs that it cannot reach systemd for healthcheck timers: kept in podman.log)
  podman run -d --name "$name" --network host --pid host "${host_mounts[@]}" \
    -e PAGESCOPE_HEALTHCHECK_PORT="$port" "$@" "$IMAGE" \
    --path.procfs=/host/proc --path.sysfs=/host/sys --path.rootfs=/host \
    --web.listen-address=127.0.0.1:"$port" >/dev/null 2>>"$WORK/podman.log"
}
check_container() { # NAME PORT WHAT
  local name=$1 port=$2 what=$3
  if wait_http "http://127.0.0.1:$port/-/healthy"; then
    ok "$what: serving on 127.0.0.1:$port"
  else
    podman logs "$name" | tail -5
    bad "$what: not serving"
    return
  fi
  compare_pools "http://127.0.0.1:$port/metrics" && ok "$what: reports this host's pools" ||
    bad "$what: pools differ from /sys/kernel/mm/hugepages"
  local failed
  failed=$(curl -fsS "http://127.0.0.1:$port/metrics" |
             grep -E '^pagescope_scrape_collector_success\{[^}]*\} 0' || true)
  [[ -z $failed ]] && ok "$what: every collector succeeds" || bad "$what: $failed"
  # The image's HEALTHCHECK, run once by hand (podman's timers need systemd as init).
  if podman healthcheck run "$name" &&
     [[ $(podman inspect -f '{{.State.Health.Status}}' "$name") == healthy ]]; then
    ok "$what: HEALTHCHECK passes, container healthy"
  else
    bad "$what: HEALTHCHECK fails"
  fi
  podman logs "$name" 2>&1 | grep -E 'level=(warn|error)' | head -3 | sed 's/^/  log: /' || true
}
run_image pagescope-verify-user 39724 --read-only --security-opt no-new-privileges
check_container pagescope-verify-user 39724 "default user 9724"
run_image pagescope-verify-caps 39725 --user 0 --cap-drop ALL --cap-add SYS_PTRACE \
  --cap-add DAC_READ_SEARCH --read-only --security-opt no-new-privileges
check_container pagescope-verify-caps 39725 "root with SYS_PTRACE,DAC_READ_SEARCH only"
caps=$(podman exec pagescope-verify-caps sh -c 'grep CapEff /proc/self/status' | awk '{print $2}')
[[ $caps == 0000000000080004 ]] && ok "effective capabilities $caps (SYS_PTRACE|DAC_READ_SEARCH)" ||
  bad "effective capabilities $caps"
# An unhealthy answer fails the check: point it at a closed port.
podman exec -e PAGESCOPE_HEALTHCHECK_PORT=1 pagescope-verify-user /usr/local/bin/pagescope-healthcheck \
  2>/dev/null && bad "HEALTHCHECK passes on a closed port" || ok "HEALTHCHECK fails on a closed port"

step "3b. the ServiceMonitor's relabeling in a real Prometheus, scraping the image"
# The operator's scrape configuration for a pod of the DaemonSet on node "verify-node".
prom_dir=$WORK/prometheus
rm -rf "$prom_dir" && mkdir -p "$prom_dir"
prom_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
python3 - "$prom_dir/prometheus.yml" <<'EOF'
import sys
import yaml
sys.path.insert(0, "tests/e2e")
import servicemonitor
cfg = {"global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
       "scrape_configs": [servicemonitor.scrape_config("127.0.0.1:39724", "verify-node")]}
with open(sys.argv[1], "w") as f:
    yaml.safe_dump(cfg, f)
EOF
prometheus --config.file="$prom_dir/prometheus.yml" --storage.tsdb.path="$prom_dir/data" \
  --web.listen-address=127.0.0.1:"$prom_port" --log.level=warn >"$prom_dir/log" 2>&1 &
pids+=($!)
relabeled=
for _ in $(seq 1 60); do
  relabeled=$(curl -fsS "http://127.0.0.1:$prom_port/api/v1/query" \
                --data-urlencode 'query=up{job="pagescope"} == 1' 2>/dev/null |
              python3 -c 'import json, sys
r = json.load(sys.stdin)["data"]["result"]
print(" ".join("%s=%s" % kv for kv in sorted(r[0]["metric"].items())) if r else "")' \
              2>/dev/null) || true
  [[ -n $relabeled ]] && break
  sleep 1
done
if [[ $relabeled == *instance=verify-node* && $relabeled != *pod=* &&
      $relabeled != *container=* ]]; then
  ok "ServiceMonitor relabeling: up{$relabeled}"
else
  tail -5 "$prom_dir/log"
  bad "ServiceMonitor relabeling: up{$relabeled}"
fi

step "4. the CPack .deb in a debootstrap chroot"
deb_dir=$WORK/deb
rm -rf "$deb_dir" && mkdir -p "$deb_dir"
podman run --rm --network none -v "$deb_dir":/mnt "$BUILD_IMAGE" cp /out/pagescope.deb /mnt/
deb=$deb_dir/pagescope.deb
dpkg-deb -I "$deb" | sed -n 's/^ \(Package\|Version\|Depends\|Installed-Size\):/  \1:/p'
dpkg-deb -c "$deb" | awk '{print $6}' >"$deb_dir/contents"
for f in ./usr/bin/pagescope ./usr/lib/systemd/system/pagescope.service \
         ./etc/pagescope/pagescope.yml ./usr/share/doc/pagescope/README.Debian; do
  grep -qx "$f" "$deb_dir/contents" && ok "package has $f" || bad "package lacks $f"
done
for d in alerts dashboards; do
  for f in "$SRC/$d"/*.yml "$SRC/$d"/*.json; do
    [[ -e $f ]] || continue
    grep -qx "./usr/share/pagescope/$d/$(basename "$f")" "$deb_dir/contents" &&
      ok "package has $d/$(basename "$f")" || bad "package lacks $d/$(basename "$f")"
  done
done
dpkg-deb -e "$deb" "$deb_dir/control"
grep -qx /etc/pagescope/pagescope.yml "$deb_dir/control/conffiles" && ok "config is a conffile" ||
  bad "config is not a conffile"

root=$WORK/chroot
if [[ ! -x $root/usr/bin/apt-get || ${1:-} == --rebuild-base ]]; then
  if [[ -d $WORK/base ]]; then rm -rf "$root"; cp -a "$WORK/base" "$root"; else make_rootfs "$root"; fi
fi
dpkg --root="$root" -r pagescope >/dev/null 2>&1 || true
cp /etc/resolv.conf "$root/etc/resolv.conf"
for m in proc sys; do mount --bind "/$m" "$root/$m"; mounts+=("$root/$m"); done
deps=$(dpkg-deb -f "$deb" Depends | tr ',' '\n' | sed -E 's/\(.*\)//; s/\|.*//; s/ //g' | grep .)
echo "  Depends: $(echo $deps)"
cp "$deb" "$root/tmp/pagescope.deb"
if chroot "$root" sh -c "apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
     apt-get install -y -qq --no-install-recommends $(echo $deps)" >"$deb_dir/apt.log" 2>&1 &&
   chroot "$root" dpkg -i /tmp/pagescope.deb >"$deb_dir/dpkg.log" 2>&1; then
  ok "dpkg -i into the chroot"
else
  tail -20 "$deb_dir/apt.log" "$deb_dir/dpkg.log"
  bad "dpkg -i into the chroot"
fi
if version=$(chroot "$root" pagescope --version 2>&1); then
  ok "chroot pagescope --version: $(echo "$version" | head -1)"
else
  bad "chroot pagescope --version: $version"
fi
chroot "$root" pagescope --config.file=/etc/pagescope/pagescope.yml \
  --web.listen-address=127.0.0.1:39726 >"$deb_dir/run.log" 2>&1 &
pids+=($!)
if wait_http http://127.0.0.1:39726/-/healthy; then
  ok "packaged pagescope with /etc/pagescope/pagescope.yml serves"
  compare_pools http://127.0.0.1:39726/metrics && ok "packaged pagescope reports this host's pools" ||
    bad "packaged pagescope: pools differ"
else
  tail -5 "$deb_dir/run.log"
  bad "packaged pagescope does not serve"
fi
# TLS from the package: the web module (lib/pagescope/pagescope-web.so) and its OpenSSL
# dependencies must have come with it.
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost \
  -keyout "$root/tmp/tls.key" -out "$root/tmp/tls.crt" >/dev/null 2>&1
printf 'tls_server_config:\n  cert_file: /tmp/tls.crt\n  key_file: /tmp/tls.key\n' >"$root/tmp/web.yml"
chroot "$root" pagescope --config.file=/etc/pagescope/pagescope.yml --web.config.file=/tmp/web.yml \
  --web.listen-address=127.0.0.1:39727 >"$deb_dir/tls.log" 2>&1 &
pids+=($!)
tls_ok=
for _ in $(seq 1 100); do
  if curl -sfk https://127.0.0.1:39727/-/healthy >/dev/null 2>&1; then tls_ok=1; break; fi
  sleep 0.1
done
if [[ -n $tls_ok ]]; then
  ok "packaged pagescope serves HTTPS (web module from the package)"
else
  tail -5 "$deb_dir/tls.log"
  bad "packaged pagescope does not serve HTTPS"
fi
chroot "$root" dpkg -r pagescope >/dev/null 2>&1 && [[ ! -e $root/usr/bin/pagescope ]] &&
  ok "dpkg -r removes it" || bad "dpkg -r"

echo
echo "verify-deploy: passed $pass, failed $fail"
((fail == 0))
