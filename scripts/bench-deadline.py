#!/usr/bin/env python3
"""How close to its deadline a cut scrape answers: the time from the deadline (the request's
arrival plus the scraper's timeout less the offset) to the complete answer at the client, and what
is left of the scraper's timeout.

Each run starts a fresh pagescope (every collector but tlb) on a procfs stand-in whose
pressure/memory read blocks (tests/tools/blocking_fs.py on the two_nodes fixture), so its first
scrape always waits for a stuck collector until the deadline, then answers without it. The client
sends X-Prometheus-Scrape-Timeout-Seconds and measures from sending the request to the last byte
of the answer. The exporters stay up until the end (a process cannot exit while its FUSE read
waits), then the read is released and they stop.

usage: scripts/bench-deadline.py [--runs 10] [--timeouts 1,10] [--build build]
Needs root (FUSE mount) and python3-fusepy (scripts/install-deps.sh test).
"""

import argparse
import gzip
import os
import statistics
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "e2e"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--timeouts", default="1,10")
    ap.add_argument("--offset", default="500ms")
    ap.add_argument("--build", default=os.path.join(HERE, "..", "build"))
    args = ap.parse_args()
    os.environ.setdefault("PAGESCOPE_BINARY", os.path.join(args.build, "pagescope"))
    os.environ.setdefault("PAGESCOPE_BUILD_DIR", args.build)
    from pagescope_test import Exporter
    from test_deadline import blocking_procfs, collectors_but_tlb, fixture_paths
    offset = float(args.offset[:-2]) / 1000 if args.offset.endswith("ms") else float(args.offset[:-1])
    rows = []
    with blocking_procfs() as (mnt, release):
        exporters = []
        try:
            for timeout in [float(t) for t in args.timeouts.split(",")]:
                budget = timeout - min(offset, timeout / 2)
                for gz in (False, True):
                    past, size = [], 0
                    for _ in range(args.runs):
                        exp = Exporter(fixture_paths(mnt) + collectors_but_tlb()
                                       + ["--web.scrape-timeout-offset=" + args.offset])
                        exporters.append(exp)
                        headers = {"X-Prometheus-Scrape-Timeout-Seconds": "%g" % timeout}
                        if gz:
                            headers["Accept-Encoding"] = "gzip"
                        req = urllib.request.Request(exp.url(), headers=headers)
                        start = time.monotonic()
                        with urllib.request.urlopen(req, timeout=timeout + 5) as r:
                            body = r.read()
                        past.append(time.monotonic() - start - budget)
                        size = len(gzip.decompress(body) if gz else body)
                    rows.append((timeout, gz, size, past))
        finally:
            release()
            for exp in exporters:
                exp.stop()
    print("| scraper timeout | offset | answer | deadline after | answered after the deadline "
          "(median / max of %d) | left of the timeout (min) |" % args.runs)
    print("|---:|---:|---|---:|---:|---:|")
    for timeout, gz, size, past in rows:
        budget = timeout - min(offset, timeout / 2)
        print("| %g s | %s | %s, %d KB | %.3f s | %.1f / %.1f ms | %.0f ms |"
              % (timeout, args.offset, "gzip" if gz else "identity", size // 1000, budget,
                 statistics.median(past) * 1000, max(past) * 1000,
                 (timeout - budget - max(past)) * 1000))
    print("\n%s, %s; scripts/bench-deadline.py --runs %d --timeouts %s --offset %s"
          % (time.strftime("%Y-%m-%d"), os.uname().nodename, args.runs, args.timeouts,
             args.offset))


if __name__ == "__main__":
    main()
