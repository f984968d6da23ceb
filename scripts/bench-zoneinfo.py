#!/usr/bin/env python3
"""What reading /proc/zoneinfo costs, next to /proc/pagetypeinfo and /proc/buddyinfo (issue 12:
"reading it must be cheap on a large host").

The kernel prints zoneinfo zone by zone (zoneinfo_show_print in mm/vmstat.c): counters it keeps
per zone plus one short block per online CPU (the per-CPU pagesets), under each zone's lock only
while printing them. pagetypeinfo walks every free list of every order and migrate type under the
zone lock. So zoneinfo grows with CPUs x zones, pagetypeinfo with free memory.

Prints, per file, the size and the median and minimum time of one open/read/close, and the
zoneinfo collector's own duration in pagescope (pagescope_scrape_collector_duration_seconds, median
of a few scrapes). pagetypeinfo needs root.

usage: scripts/bench-zoneinfo.py [--build build] [--reads 500]
"""

import argparse
import os
import statistics
import sys
import time

SOURCE_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(SOURCE_DIR, "tests", "e2e"))


def read_cost(path, reads):
    times = []
    size = 0
    for _ in range(reads):
        t = time.perf_counter()
        with open(path, "rb") as f:
            size = len(f.read())
        times.append(time.perf_counter() - t)
    return size, statistics.median(times), min(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(SOURCE_DIR, "build"))
    ap.add_argument("--reads", type=int, default=500)
    args = ap.parse_args()
    print("online CPUs: %d" % os.cpu_count())
    for path in ("/proc/zoneinfo", "/proc/pagetypeinfo", "/proc/buddyinfo"):
        try:
            n = args.reads if "pagetype" not in path else max(20, args.reads // 10)
            size, med, low = read_cost(path, n)
        except PermissionError:
            print("%-20s not readable (root only)" % path)
            continue
        print("%-20s %7d bytes  median %9.1f us  min %9.1f us  (%d reads)"
              % (path, size, med * 1e6, low * 1e6, n))

    os.environ.setdefault("PAGESCOPE_BINARY", os.path.join(args.build, "pagescope"))
    from pagescope_test import Exporter, value  # noqa: E402
    with Exporter(["--collector.disable-defaults", "--collector.zoneinfo"]) as e:
        durations = []
        for _ in range(20):
            durations.append(value(e.metrics(), "pagescope_scrape_collector_duration_seconds",
                                   collector="zoneinfo"))
        print("zoneinfo collector in pagescope: median %.1f us per scrape (read, parse, emit)"
              % (statistics.median(durations) * 1e6))


if __name__ == "__main__":
    main()
