#!/usr/bin/env python3
"""CPU per scrape of pagescope's default kernel-wide collectors against node_exporter.

pagescope runs with its default collectors except processes and qemu (the per-process ones,
measured by scripts/bench-processes.py); Debian's prometheus-node-exporter runs with only
meminfo, meminfo_numa, vmstat, ksmd, buddyinfo and pressure. Both listen on loopback. The
targets are scraped side by side: in every round each target gets a batch of scrapes, in an
order that alternates from round to round, so that load from other work on the machine falls
on all of them alike. CPU per scrape is the exporter's utime+stime delta over a batch
(/proc/PID/stat, clock ticks) divided by the batch size; the script prints the median over
the rounds and the ratio of the medians. It also prints the median time of each pagescope
collector from pagescope_scrape_collector_duration_seconds over all scrapes.

Extra targets for comparison (same rounds):
  - "pagescope, pagetypeinfo every scrape": --collector.buddyinfo.pagetypeinfo-interval-seconds=0
    (what every scrape cost before the interval),
  - --baseline BINARY: another pagescope build (e.g. the one before a change), same flags.

usage: scripts/bench-kernelwide.py [--build build] [--rounds 15] [--batch 40]
                                   [--baseline path/to/pagescope]
Run as root to include /proc/pagetypeinfo. Needs the build and prometheus-node-exporter
(scripts/install-deps.sh). Children are killed by PID at the end, even on failure.
"""

import argparse
import os
import re
import shutil
import statistics
import sys
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import importlib.util  # noqa: E402

_spec = importlib.util.spec_from_file_location(
    "bench_processes", os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                    "bench-processes.py"))
bp = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bp)

SOURCE_DIR = bp.SOURCE_DIR
NODE_EXPORTER_COLLECTORS = ["meminfo", "meminfo_numa", "vmstat", "ksmd", "buddyinfo", "pressure"]
DURATION = re.compile(
    r'^pagescope_scrape_collector_duration_seconds\{collector="([a-z0-9_]+)"\} (\S+)$', re.M)


class Bench(bp.Target):
    """A running exporter with per-batch CPU and, for pagescope, per-collector durations."""

    def __init__(self, name, cmd, port):
        super().__init__(name, cmd, port)
        self.cpu = []          # CPU seconds per scrape, one value per batch
        self.collectors = {}   # collector -> durations (s), one per scrape

    def batch(self, n):
        c0 = bp.cpu_seconds(self.proc.pid)
        bodies = [urllib.request.urlopen(self.url, timeout=120).read() for _ in range(n)]
        c1 = bp.cpu_seconds(self.proc.pid)
        self.cpu.append((c1 - c0) / n)
        for body in bodies:
            for name, v in DURATION.findall(body.decode()):
                self.collectors.setdefault(name, []).append(float(v))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(SOURCE_DIR, "build"))
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--batch", type=int, default=40)
    ap.add_argument("--baseline", help="another pagescope binary, measured alongside")
    args = ap.parse_args()
    pagescope = os.path.join(args.build, "pagescope")
    if not os.access(pagescope, os.X_OK):
        sys.exit("missing %s: build first (cmake --build build)" % pagescope)
    ne_bin = shutil.which("prometheus-node-exporter")
    if not ne_bin:
        sys.exit("prometheus-node-exporter is needed (scripts/install-deps.sh)")
    flags = ["--no-collector.processes", "--no-collector.qemu", "--log.level=warn"]

    targets = []
    try:
        p = bp.free_port()
        targets.append(Bench("pagescope", [pagescope, "--web.listen-address=127.0.0.1:%d" % p]
                             + flags, p))
        p = bp.free_port()
        targets.append(Bench("pagescope, pagetypeinfo every scrape", [
            pagescope, "--web.listen-address=127.0.0.1:%d" % p,
            "--collector.buddyinfo.pagetypeinfo-interval-seconds=0"] + flags, p))
        if args.baseline:
            p = bp.free_port()
            targets.append(Bench("baseline (%s)" % args.baseline, [
                args.baseline, "--web.listen-address=127.0.0.1:%d" % p] + flags, p))
        p = bp.free_port()
        targets.append(Bench("node-exporter", [
            ne_bin, "--web.listen-address=127.0.0.1:%d" % p, "--collector.disable-defaults"]
            + ["--collector." + c for c in NODE_EXPORTER_COLLECTORS], p))
        for t in targets:  # warm up
            t.batch(3)
            t.cpu.clear()
            t.collectors.clear()
        for r in range(args.rounds):
            order = targets if r % 2 == 0 else list(reversed(targets))
            for t in order:
                t.batch(args.batch)
    finally:
        for t in targets:
            t.stop()

    ne = targets[-1]
    ne_cpu = statistics.median(ne.cpu)
    print("| exporter | CPU ms/scrape (median of %d batches of %d) | mean | / node-exporter |"
          % (args.rounds, args.batch))
    print("|---|---:|---:|---:|")
    for t in targets:
        med = statistics.median(t.cpu)
        print("| %s | %.2f | %.2f | %s |" % (
            t.name, med * 1e3, statistics.mean(t.cpu) * 1e3,
            "%.2f" % (med / ne_cpu) if ne_cpu else "n/a"))
    print()
    for t in targets[:-1]:
        print("%s, median time per collector over %d scrapes (ms):" % (
            t.name, args.rounds * args.batch))
        for name, v in sorted(t.collectors.items(), key=lambda kv: -statistics.median(kv[1])):
            print("  %-18s %.3f" % (name, statistics.median(v) * 1e3))
    print("\nCPU from utime+stime at clock-tick resolution (%d Hz) over each batch. "
          "Reproduce: scripts/bench-kernelwide.py --rounds %d --batch %d (as root)."
          % (bp.TICK, args.rounds, args.batch))


if __name__ == "__main__":
    main()
