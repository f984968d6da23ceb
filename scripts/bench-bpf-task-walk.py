#!/usr/bin/env python3
"""The BPF task source (proctable/bpf_tasks.h) against the /proc floor, side by side.

For each count of extra idle processes (tests/tools/idle_procs), R rounds; in each round the
floor (tests/tools/proc_floor: open and read stat and status of every process), the BPF source
(tests/tools/bpf_tasks bench: BpfTaskSource::Read, one iter/task pass handing back every
process's TaskFigures, threads' faults summed, per-CPU counters summed) and the table the
processes collector gets from it (bpf_tasks bench-table: BpfProcessTable::Fill, the same pass
plus /proc/loadavg read twice and the processes the kernel keeps from the iterator read from
/proc, with a listing of /proc when the task counts differ) each walk K times, in an order that
rotates from round to round. Prints the median CPU per walk of each and their ratios to the
floor. All count the CPU of the reading process (getrusage: user + system, which includes the
kernel's work in the iterator and in procfs).

usage: scripts/bench-bpf-task-walk.py [--build build] [--counts 2000,10000] [--rounds 5]
                                      [--walks 10]
Root (or CAP_BPF + CAP_PERFMON). Needs a build with the BPF source (-DPAGESCOPE_BPF=AUTO/ON:
clang, bpftool, libbpf-dev from scripts/install-deps.sh), which builds tools/bpf_tasks.
"""

import argparse
import os
import statistics
import subprocess
import sys

SOURCE_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


def run(cmd):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    kv = dict(item.split("=") for item in out.split())
    return float(kv["cpu_seconds_per_iteration"]), int(kv["processes"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(SOURCE_DIR, "build"))
    ap.add_argument("--counts", default="2000,10000")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--walks", type=int, default=10)
    args = ap.parse_args()
    tools = os.path.join(args.build, "tools")
    walk = os.path.join(tools, "bpf_tasks")
    if not os.path.exists(walk):
        sys.exit("%s missing: build with -DPAGESCOPE_BPF=ON (clang, bpftool, libbpf-dev)" % walk)
    rows = []
    for n in [int(c) for c in args.counts.split(",")]:
        idle = subprocess.Popen([os.path.join(tools, "idle_procs"), str(n)],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            if idle.stdout.readline().strip() != "ready":
                raise RuntimeError("idle_procs %d did not start" % n)
            floor, bpf, table, procs = [], [], [], 0
            tools_of = {"floor": [os.path.join(tools, "proc_floor")], "bpf": [walk, "bench"],
                        "table": [walk, "bench-table"]}
            for r in range(args.rounds):
                order = [("floor", floor), ("bpf", bpf), ("table", table)]
                order = order[r % 3:] + order[:r % 3]
                for name, acc in order:
                    cpu, got = run(tools_of[name] + [str(args.walks)])
                    if name == "floor":
                        procs = got
                    acc.append(cpu)
            rows.append((n, procs, statistics.median(floor), statistics.median(bpf),
                         statistics.median(table)))
        finally:
            idle.stdin.close()
            idle.wait(timeout=120)
    print("| extra procs | processes | /proc floor CPU ms/walk | BpfTaskSource::Read CPU ms/walk "
          "| BPF / floor | BpfProcessTable::Fill CPU ms/walk | table / floor |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for n, procs, fl, bp, tb in rows:
        print("| %d | %d | %.2f | %.2f | %.3f | %.2f | %.3f |"
              % (n, procs, fl * 1e3, bp * 1e3, bp / fl, tb * 1e3, tb / fl))
    print("\nMedian over %d rounds of %d walks each (getrusage of each tool). Reproduce: "
          "scripts/bench-bpf-task-walk.py --counts %s --rounds %d --walks %d (as root)."
          % (args.rounds, args.walks, args.counts, args.rounds, args.walks))


if __name__ == "__main__":
    sys.exit(main())
