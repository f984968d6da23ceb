#!/usr/bin/env bash
# Generates the Prometheus rules (alerts/pagescope-rules.yml) and the Grafana dashboards
# (dashboards/*.json) from the jsonnet sources in mixin/.
#   mixin/build.sh                      write them into the repository
#   mixin/build.sh --out DIR            write them under DIR instead (tests compare the two)
#   mixin/build.sh --config JSON        merge JSON over the mixin's _config, e.g.
#                                       '{"selector": "job=\"node\"", "forOverride": "1s"}'
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=$(dirname "$here")
config='{}'
while (($#)); do
  case "$1" in
    --out) out=$2; shift 2 ;;
    --config) config=$2; shift 2 ;;
    *) echo "usage: $0 [--out DIR] [--config JSON]" >&2; exit 2 ;;
  esac
done
command -v jsonnet >/dev/null || { echo "build.sh: jsonnet missing (scripts/install-deps.sh)" >&2; exit 1; }
jsonnet -J "$here" --tla-str config="$config" "$here/build.jsonnet" | python3 "$here/render.py" "$out"
