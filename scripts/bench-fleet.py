#!/usr/bin/env python3
"""Benchmark of the fleet path (docs/fleet.md): a simulated fleet of --hosts pagescope instances
(generated fixture roots, tests/e2e/fleet_stack.py) scraped by --shards Prometheus agents (or
vmagents) into VictoriaMetrics, vmalert evaluating alerts/pagescope-rules.yml into Alertmanager,
for --duration seconds. Prints:

- series per host by collector (a generated host and this machine's own /proc),
- samples per second at the scrape interval (expected, and measured in VictoriaMetrics),
- agent CPU (share of one core) and resident memory, per agent and per 100 hosts,
- VictoriaMetrics bytes per sample after the run (vm_data_size_bytes / vm_rows, after a flush).

Not a test: it asserts nothing about speed. Needs a build (build/pagescope) and the Debian
packages of scripts/install-deps.sh.
"""

import argparse
import collections
import os
import re
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "e2e"))

import fleet_stack  # noqa: E402
from pagescope_test import Exporter, SOURCE_DIR, parse_exposition  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_bytes(pid):
    with open("/proc/%d/status" % pid) as f:
        m = re.search(r"^VmRSS:\s+(\d+) kB", f.read(), re.M)
    return int(m.group(1)) * 1024


def series_by_collector(base_url):
    """{collector: series} from /metrics?collect[]=NAME (the scrape's own series left out)."""
    text = urllib.request.urlopen(base_url + "/metrics", timeout=30).read().decode()
    collectors = [dict(labels)["collector"] for (name, labels) in parse_exposition(text)
                  if name == "pagescope_scrape_collector_success"]
    out = {}
    for c in sorted(collectors):
        body = urllib.request.urlopen(base_url + "/metrics?collect[]=" + c, timeout=30).read()
        out[c] = sum(1 for (name, _) in parse_exposition(body.decode())
                     if not name.startswith(("pagescope_scrape_", "pagescope_build_info")))
    out["(total, whole scrape)"] = len(parse_exposition(text))
    return out


def vm_counters(stack):
    """(data bytes, rows) summed over VictoriaMetrics' storage parts."""
    text = stack.vm_metrics()
    size = rows = 0.0
    for line in text.splitlines():
        if line.startswith("vm_data_size_bytes{") and 'type="storage/' in line:
            size += float(line.rsplit(" ", 1)[1])
        elif line.startswith("vm_rows{") and 'type="storage/' in line:
            rows += float(line.rsplit(" ", 1)[1])
    return size, rows


def vm_rows_inserted(stack):
    return sum(float(line.rsplit(" ", 1)[1]) for line in stack.vm_metrics().splitlines()
               if line.startswith("vm_rows_inserted_total{"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hosts", type=int, default=200)
    ap.add_argument("--shards", type=int, default=2)
    ap.add_argument("--agents", choices=["prometheus", "vmagent"], default="prometheus")
    ap.add_argument("--interval", type=int, default=10, help="scrape interval, seconds")
    ap.add_argument("--duration", type=int, default=300, help="measured run, seconds")
    args = ap.parse_args()

    print("# bench-fleet: %d hosts, %d %s agents, scrape every %d s, %d s measured (%s UTC)"
          % (args.hosts, args.shards, args.agents, args.interval, args.duration,
             time.strftime("%Y-%m-%d %H:%M", time.gmtime())))
    with Exporter([]) as local:
        print("\n## series by collector, this machine (/proc, defaults)")
        for c, n in series_by_collector(local.url("")).items():
            print("  %-24s %5d" % (c, n))

    workdir = tempfile.mkdtemp(prefix="pagescope-bench-fleet-")
    hosts = stack = None
    try:
        specs = fleet_stack.random_specs(args.hosts, ["cluster-a", "cluster-b", "cluster-c"])
        hosts = fleet_stack.FleetHosts(workdir, specs)
        print("\n## series by collector, generated host %s (nodes %s, sizes %s, %d guests)"
              % (specs[0].name, specs[0].nodes, sorted(specs[0].pools), specs[0].guests))
        for c, n in series_by_collector("http://" + hosts.instance(0)).items():
            print("  %-24s %5d" % (c, n))
        rules = os.path.join(SOURCE_DIR, "alerts", "pagescope-rules.yml")
        every = "%ds" % args.interval
        stack = fleet_stack.Stack(workdir, hosts, rules, shards=args.shards, interval=every,
                                  eval_interval=every, agents=args.agents)
        fleet_stack.wait_for("every host in VictoriaMetrics",
                             lambda: len(stack.query('up{job="pagescope"} == 1')) >= args.hosts,
                             timeout=120 + args.hosts)
        per_host = len(stack.query('{job="pagescope", __name__!~".*:.*"}')) / args.hosts
        cpu0 = {a.name: cpu_seconds(a.pid) for a in stack.agents}
        vm_cpu0 = cpu_seconds(stack.vm.pid)
        rows0, t0 = vm_rows_inserted(stack), time.time()
        time.sleep(args.duration)
        elapsed = time.time() - t0
        rows1 = vm_rows_inserted(stack)
        cpu = {a.name: (cpu_seconds(a.pid) - cpu0[a.name]) / elapsed for a in stack.agents}
        rss = {a.name: rss_bytes(a.pid) for a in stack.agents}
        vm_cpu = (cpu_seconds(stack.vm.pid) - vm_cpu0) / elapsed
        vm_rss = rss_bytes(stack.vm.pid)
        fleet_stack.http_get(stack._url(stack.vm_port, "/internal/force_flush"))
        fleet_stack.wait_for("VictoriaMetrics parts after the flush",
                             lambda: vm_counters(stack)[1] > 0, timeout=30)
        size, rows = vm_counters(stack)

        shard_hosts = collections.Counter(
            r["metric"]["agent"] for r in stack.query('up{job="pagescope"}'))
        print("\n## ingestion")
        print("  series per host in VictoriaMetrics (after agent relabeling): %.0f" % per_host)
        print("  expected samples/s: %.0f (%d hosts x %.0f series / %d s)"
              % (args.hosts * per_host / args.interval, args.hosts, per_host, args.interval))
        print("  measured samples/s into VictoriaMetrics (recording rules included): %.0f"
              % ((rows1 - rows0) / elapsed))
        print("\n## agents")
        for a in stack.agents:
            n = shard_hosts.get(a.name.replace("agent-", "shard-"), 0) or \
                shard_hosts.get(a.name, 0)
            print("  %-10s %4d hosts  CPU %5.1f%% of a core  RSS %6.1f MiB   per 100 hosts: "
                  "CPU %5.1f%%  RSS %6.1f MiB"
                  % (a.name, n, 100 * cpu[a.name], rss[a.name] / 2**20,
                     100 * cpu[a.name] * 100 / max(n, 1), rss[a.name] / 2**20 * 100 / max(n, 1)))
        print("\n## VictoriaMetrics")
        print("  CPU %.1f%% of a core, RSS %.1f MiB" % (100 * vm_cpu, vm_rss / 2**20))
        print("  %.0f rows, %.0f bytes on disk: %.2f bytes per sample" % (rows, size,
                                                                        size / rows))
    finally:
        if stack:
            stack.stop()
        if hosts:
            hosts.stop()
        fleet_stack.cleanup(workdir)


if __name__ == "__main__":
    main()
