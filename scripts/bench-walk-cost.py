#!/usr/bin/env python3
"""The kernel's cost per page-table entry of a walk of /proc/<pid>/numa_maps and smaps_rollup,
on this machine: the figures behind the walk rule (proctable/walk_cost.h, docs/performance.md
"Page-table walks").

For each file it reads the file of a child holding N resident 4 KiB pages (tests/tools/
touch_pages, transparent hugepages off for it) and of one holding M 2 MiB hugetlb pages
(tests/tools/hugetlb_hold; the 2 MiB pool is raised by M for the run and restored), REPEAT times
each, and of a child holding almost nothing (the floor: opening the file, the mappings' lines).
The cost per entry is (median time - median floor time) / entries. Needs root for the hugetlb
part (skipped with a message without it); holds the kernel-test lock while the pool is raised.

    sudo python3 scripts/bench-walk-cost.py [--pages 1048576] [--huge 1024] [--repeat 15]
"""

import argparse
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "e2e"))
from pagescope_test import (POOL_2M, SysfsRestorer, is_root, kernel_lock,  # noqa: E402
                            start_child, stop_process, tool)

FILES = ("numa_maps", "smaps_rollup")


def read_seconds(pid, name):
    t0 = time.perf_counter()
    with open("/proc/%d/%s" % (pid, name), "rb", buffering=0) as f:
        while f.read(1 << 20):
            pass
    return time.perf_counter() - t0


def medians(pid, repeat):
    return {name: statistics.median(read_seconds(pid, name) for _ in range(repeat))
            for name in FILES}


def stop(child):
    child.stdin.close()
    stop_process(child, timeout=60)
    child.stdout.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pages", type=int, default=1 << 20, help="4 KiB pages (default 4 GiB)")
    ap.add_argument("--huge", type=int, default=1024, help="2 MiB hugetlb pages (default 2 GiB)")
    ap.add_argument("--repeat", type=int, default=15)
    args = ap.parse_args()
    print("# %s, kernel %s, %d CPUs, load %s" % (time.strftime("%Y-%m-%d %H:%M"),
                                                 os.uname().release, os.cpu_count(),
                                                 open("/proc/loadavg").read().split()[0]))
    floor_child = start_child([tool("touch_pages"), "1"], "touched", send=("mapped", "go"))
    try:
        floor = medians(floor_child.pid, args.repeat)
    finally:
        stop(floor_child)
    rows = []
    child = start_child([tool("touch_pages"), str(args.pages)], "touched", send=("mapped", "go"))
    try:
        t = medians(child.pid, args.repeat)
    finally:
        stop(child)
    for name in FILES:
        rows.append((name, "4 KiB page", args.pages, t[name], floor[name]))
    if not is_root() or not os.path.exists(POOL_2M):
        print("# hugetlb part skipped: needs root and a 2 MiB pool (%s)" % POOL_2M)
    else:
        with kernel_lock(), SysfsRestorer() as sysfs:
            nr = int(sysfs.read(POOL_2M + "/nr_hugepages"))
            sysfs.set(POOL_2M + "/nr_hugepages", nr + args.huge)
            got = int(sysfs.read(POOL_2M + "/nr_hugepages")) - nr
            child = start_child([tool("hugetlb_hold"), "2048", str(got), str(got)], "ready")
            try:
                t = medians(child.pid, args.repeat)
            finally:
                stop(child)
        for name in FILES:
            rows.append((name, "2 MiB hugetlb page", got, t[name], floor[name]))
    print("%-13s %-19s %9s %11s %11s %9s" % ("file", "entry", "entries", "median ms",
                                               "floor ms", "ns/entry"))
    for name, entry, n, t, f in rows:
        print("%-13s %-19s %9d %11.3f %11.3f %9.1f" % (name, entry, n, t * 1e3, f * 1e3,
                                                        (t - f) / n * 1e9))


if __name__ == "__main__":
    main()
