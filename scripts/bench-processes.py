#!/usr/bin/env python3
"""Speed of per-process collection, in one run on loopback, against the peers and the floor.

Measures, with 200, 2,000 and 10,000 extra idle processes (tests/tools/idle_procs):
  - pagescope with its default collectors (the processes collector reads status of a process
    whose stat is unchanged at most every 60 s: status-interval-seconds),
  - pagescope-interval0: the same with --collector.processes.status-interval-seconds=0 (stat
    and status of every process at every scrape),
  - pagescope-bpf: --collector.processes.source=bpf (the BPF task iterator; only as root in a
    build with BPF, else left out with a message),
  - Debian's prometheus-process-exporter grouping every process by comm ({{.Comm}}, its own
    defaults otherwise: smaps and threads on),
  - prometheus-node-exporter with meminfo, meminfo_numa, vmstat, ksmd, buddyinfo, pressure,
  - the floor: tests/tools/proc_floor, which only walks /proc and reads stat and status.
For each: CPU time per scrape (utime+stime of the exporter over K scrapes, from
/proc/PID/stat), median and p99 scrape latency, resident memory after the scrapes (VmRSS),
response size. Prints a table and the ratios the targets are about.

Side by side: for every count, R rounds; in each round every exporter and the floor run one
batch of K/R scrapes (walks), in an order that alternates from round to round, so load from
other work on the machine falls on all alike; CPU per scrape is the median batch.

usage: scripts/bench-processes.py [--build build] [--scrapes K] [--rounds R]
                                  [--counts 200,2000,10000] [--no-peers] [--baseline BINARY]
                                  [--write-readme]
--write-readme replaces the README's benchmark table (between the bench-processes markers) with
this run's, with the date, the load average and the command that reproduces it.
Needs the build (pagescope, tools) and the peers installed (scripts/install-deps.sh).
Children are killed by PID at the end, even on failure.
"""

import argparse
import datetime
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
from pagescope_test import stop_process  # noqa: E402

SOURCE_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
TICK = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime (14), stime (15)


def rss_bytes(pid):
    with open("/proc/%d/status" % pid) as f:
        m = re.search(r"^VmRSS:\s+(\d+) kB", f.read(), re.M)
    return int(m.group(1)) * 1024


def wait_http(url, proc, timeout=180):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("%s exited early" % proc.args[0])
        try:
            urllib.request.urlopen(url, timeout=60).read()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("no answer from " + url)


class Target:
    def __init__(self, name, cmd, port):
        self.name = name
        self.url = "http://127.0.0.1:%d/metrics" % port
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT)
        try:
            wait_http(self.url, self.proc)
        except Exception:
            self.stop()
            raise

    def warm_up(self):
        for _ in range(2):  # first sight of new processes, caches
            urllib.request.urlopen(self.url, timeout=120).read()
        self.cpu, self.lat, self.size = [], [], 0

    def batch(self, scrapes):
        """One batch of scrapes: CPU per scrape (appended), latencies, response size."""
        c0 = cpu_seconds(self.proc.pid)
        for _ in range(scrapes):
            t0 = time.perf_counter()
            body = urllib.request.urlopen(self.url, timeout=120).read()
            self.lat.append(time.perf_counter() - t0)
            self.size = len(body)
        c1 = cpu_seconds(self.proc.pid)
        self.cpu.append((c1 - c0) / scrapes)

    def result(self):
        lat = sorted(self.lat)
        return {"cpu": statistics.median(self.cpu), "p50": statistics.median(lat),
                "p99": lat[min(len(lat) - 1, int(round(0.99 * (len(lat) - 1))))],
                "rss": rss_bytes(self.proc.pid), "size": self.size}

    def stop(self):
        stop_process(self.proc)


def floor(tool, scrapes):
    out = subprocess.run([tool, str(scrapes)], check=True, capture_output=True, text=True).stdout
    kv = dict(item.split("=") for item in out.split())
    return {"cpu": float(kv["cpu_seconds_per_iteration"]),
            "p50": float(kv["wall_seconds_per_iteration"]), "p99": None,
            "rss": int(kv["rss_kib"]) * 1024, "size": None, "processes": int(kv["processes"])}


class Floor:
    """tests/tools/proc_floor run once per round, like a target's batch."""

    def __init__(self, tool):
        self.name = "floor"
        self.tool = tool
        self.runs = []

    def warm_up(self):
        self.runs = []

    def batch(self, scrapes):
        self.runs.append(floor(self.tool, scrapes))

    def result(self):
        r = dict(self.runs[-1])
        r["cpu"] = statistics.median(x["cpu"] for x in self.runs)
        r["p50"] = statistics.median(x["p50"] for x in self.runs)
        return r


def fmt_ms(v):
    return "-" if v is None else "%.2f" % (v * 1000)


def fmt_mib(v):
    return "-" if v is None else "%.1f" % (v / 2**20)


def fmt_kib(v):
    return "-" if v is None else "%.0f" % (v / 1024)


VARIANTS = ("pagescope", "pagescope-interval0", "pagescope-bpf")
README_BEGIN = "<!-- bench-processes:begin -->"
README_END = "<!-- bench-processes:end -->"


def fmt_ms_table(v):
    return "%s ms" % ("{:,.0f}".format(v * 1e3) if v >= 0.1 else "%.1f" % (v * 1e3))


def write_readme(rows, command, load, extrapolated):
    """Replaces the README's table between README_BEGIN and README_END with this run's."""
    path = os.path.join(SOURCE_DIR, "README.md")
    with open(path) as f:
        text = f.read()
    begin, end = text.find(README_BEGIN), text.find(README_END)
    if begin < 0 or end < begin:
        sys.exit("%s: no %s ... %s markers" % (path, README_BEGIN, README_END))
    names = [v for v in VARIANTS if v in rows[0][1]]
    has_pe = "process-exporter" in rows[0][1]
    lines = [README_BEGIN,
             "Measured by `%s` (generated by its `--write-readme`) on %s, on the 2-core "
             "development VM shared with other work, load average %.1f before and %.1f after "
             "the run; all exporters and the floor side by side in alternating rounds; the "
             "floor is a C program that only opens and reads `stat` and `status` of every "
             "process; CPU per scrape; RSS after the scrapes. pagescope: the default (status "
             "re-read at most every 60 s while stat is unchanged); interval 0: "
             "`--collector.processes.status-interval-seconds=0`; bpf: "
             "`--collector.processes.source=bpf`."
             % (command, datetime.date.today().isoformat(), load[0], load[1]), ""]
    head = ["extra processes"]
    for v in names:
        head += ["%s CPU" % v, "%s / floor" % v]
    head += ["floor CPU"]
    if has_pe:
        head += ["process-exporter CPU", "pagescope / process-exporter"]
    head += ["pagescope p99 latency", "pagescope RSS"]
    if has_pe:
        head += ["process-exporter RSS"]
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|" + "---:|" * len(head))
    for n, r in rows:
        fl = r["floor"]
        cells = ["{:,}".format(n)]
        for v in names:
            cells += [fmt_ms_table(r[v]["cpu"]), "%.2f" % (r[v]["cpu"] / fl["cpu"])]
        cells += [fmt_ms_table(fl["cpu"])]
        if has_pe:
            pe = r["process-exporter"]
            cells += [fmt_ms_table(pe["cpu"]), "%.3f" % (r["pagescope"]["cpu"] / pe["cpu"])]
        cells += [fmt_ms_table(r["pagescope"]["p99"]), "%.1f MiB" % (r["pagescope"]["rss"] / 2**20)]
        if has_pe:
            cells += ["%.1f MiB" % (r["process-exporter"]["rss"] / 2**20)]
        lines.append("| " + " | ".join(cells) + " |")
    if extrapolated:
        slope, at = extrapolated
        lines += ["", "p99 of a default scrape grows by %.1f µs per process in this run: about "
                  "%.2f s at 10,000 and %.2f s at 50,000 processes, against Prometheus' default "
                  "10 s scrape timeout." % (slope * 1e6, at[10000], at[50000])]
    lines.append(README_END)
    text = text[:begin] + "\n".join(lines) + text[end + len(README_END):]
    with open(path, "w") as f:
        f.write(text)
    print("wrote the benchmark table of %s" % path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(SOURCE_DIR, "build"))
    ap.add_argument("--scrapes", type=int, default=20)
    ap.add_argument("--counts", default="200,2000,10000")
    ap.add_argument("--rounds", type=int, default=5,
                    help="rounds per count; each round runs one batch of every target, in an "
                         "order that alternates from round to round; CPU is the median batch")
    ap.add_argument("--no-peers", action="store_true",
                    help="only pagescope and the floor (no process-exporter, node_exporter)")
    ap.add_argument("--baseline", help="another pagescope binary, measured alongside")
    ap.add_argument("--no-bpf", action="store_true", help="leave out pagescope-bpf")
    ap.add_argument("--write-readme", action="store_true",
                    help="replace the README's benchmark table with this run's")
    args = ap.parse_args()
    load_before = os.getloadavg()
    counts = [int(c) for c in args.counts.split(",")]
    pagescope = os.path.join(args.build, "pagescope")
    tools = os.path.join(args.build, "tools")
    for exe in (pagescope, os.path.join(tools, "proc_floor"), os.path.join(tools, "idle_procs")):
        if not os.access(exe, os.X_OK):
            sys.exit("missing %s: build first (cmake --build build)" % exe)
    pe_bin = shutil.which("prometheus-process-exporter")
    ne_bin = shutil.which("prometheus-node-exporter")
    if not args.no_peers and (not pe_bin or not ne_bin):
        sys.exit("prometheus-process-exporter and prometheus-node-exporter are needed "
                 "(scripts/install-deps.sh)")

    tmp = tempfile.mkdtemp(prefix="pagescope-bench-")
    pe_conf = os.path.join(tmp, "process-exporter.yml")
    with open(pe_conf, "w") as f:
        f.write('process_names:\n  - name: "{{.Comm}}"\n    cmdline:\n      - ".*"\n')

    targets = []
    idle = None
    rows = []
    try:
        p = free_port()
        targets.append(Target("pagescope", [pagescope, "--web.listen-address=127.0.0.1:%d" % p,
                                            "--log.level=warn"], p))
        p = free_port()
        targets.append(Target("pagescope-interval0", [
            pagescope, "--web.listen-address=127.0.0.1:%d" % p, "--log.level=warn",
            "--collector.processes.status-interval-seconds=0"], p))
        if not args.no_bpf:
            p = free_port()
            try:
                targets.append(Target("pagescope-bpf", [
                    pagescope, "--web.listen-address=127.0.0.1:%d" % p, "--log.level=warn",
                    "--collector.processes.source=bpf"], p))
            except RuntimeError as e:
                print("pagescope-bpf left out (needs root and a build with BPF): %s" % e,
                      file=sys.stderr)
        if args.baseline:
            p = free_port()
            targets.append(Target("baseline", [args.baseline,
                                               "--web.listen-address=127.0.0.1:%d" % p,
                                               "--log.level=warn"], p))
        if not args.no_peers:
            p = free_port()
            targets.append(Target("process-exporter", [
                pe_bin, "-config.path", pe_conf, "-web.listen-address", "127.0.0.1:%d" % p], p))
            p = free_port()
            targets.append(Target("node-exporter", [
                ne_bin, "--web.listen-address=127.0.0.1:%d" % p, "--collector.disable-defaults",
                "--collector.meminfo", "--collector.meminfo_numa", "--collector.vmstat",
                "--collector.ksmd", "--collector.buddyinfo", "--collector.pressure"], p))
        fl = Floor(os.path.join(tools, "proc_floor"))
        for n in counts:
            idle = subprocess.Popen([os.path.join(tools, "idle_procs"), str(n)],
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            if idle.stdout.readline().strip() != "ready":
                raise RuntimeError("idle_procs %d did not start" % n)
            scrapes = args.scrapes if n < 10000 else max(5, args.scrapes // 2)
            batch = max(1, scrapes // args.rounds)
            everyone = targets + [fl]
            for t in everyone:
                t.warm_up()
            for r in range(args.rounds):
                for t in (everyone if r % 2 == 0 else list(reversed(everyone))):
                    t.batch(batch)
            rows.append((n, {t.name: t.result() for t in everyone}))
            idle.stdin.close()
            idle.wait(timeout=60)
            idle = None
    finally:
        if idle is not None:
            idle.terminate()
            idle.wait(timeout=60)
        for t in targets:
            t.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    print("| extra procs | exporter | CPU ms/scrape | p50 ms | p99 ms | RSS MiB | response KiB |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    for n, result in rows:
        for name in VARIANTS + ("baseline", "process-exporter", "node-exporter", "floor"):
            if name not in result:
                continue
            r = result[name]
            print("| %d | %s | %s | %s | %s | %s | %s |" % (
                n, name, fmt_ms(r["cpu"]), fmt_ms(r["p50"]), fmt_ms(r["p99"]),
                fmt_mib(r["rss"]), fmt_kib(r["size"])))
    print()
    print("| extra procs | processes seen | variant | / process-exporter CPU | / floor CPU "
          "| CPU µs per process |")
    print("|---:|---:|---|---:|---:|---:|")
    for n, result in rows:
        fl = result["floor"]
        pe = result.get("process-exporter", {"cpu": 0})
        for name in VARIANTS:
            if name not in result:
                continue
            ps = result[name]
            print("| %d | %d | %s | %.3f | %.2f | %.1f |" % (
                n, fl["processes"], name, ps["cpu"] / pe["cpu"] if pe["cpu"] else float("nan"),
                ps["cpu"] / fl["cpu"] if fl["cpu"] else float("nan"),
                ps["cpu"] * 1e6 / max(1, fl["processes"])))
    # Scrape latency against Prometheus' default 10 s scrape timeout: p99 at the measured
    # counts, and a straight line through the two largest counts beyond them.
    extrapolated = None
    if len(rows) >= 2:
        (n1, r1), (n2, r2) = rows[-2], rows[-1]
        p1 = r1["pagescope"]["p99"]
        p2 = r2["pagescope"]["p99"]
        procs1, procs2 = r1["floor"]["processes"], r2["floor"]["processes"]
        slope = (p2 - p1) / max(1, procs2 - procs1)
        print()
        print("pagescope p99 scrape latency: %s" % ", ".join(
            "%.1f ms at %d processes" % (r["pagescope"]["p99"] * 1e3, r["floor"]["processes"])
            for _, r in rows))
        extrapolated = (slope, {n: p2 + slope * (n - procs2) for n in (10000, 50000)})
        print("per additional process: %.1f µs of p99 latency; extrapolated p99: %s "
              "(Prometheus' default scrape timeout: 10 s)" % (slope * 1e6, ", ".join(
                  "%.2f s at %d processes" % (v, n) for n, v in extrapolated[1].items())))
    if "baseline" in rows[0][1]:
        print()
        for n, result in rows:
            print("%d: pagescope / baseline CPU %.2f, baseline / floor CPU %.2f" % (
                n, result["pagescope"]["cpu"] / result["baseline"]["cpu"],
                result["baseline"]["cpu"] / result["floor"]["cpu"]))
    load_after = os.getloadavg()
    print("\nload average (1 min) %.1f before, %.1f after the run; %d CPUs"
          % (load_before[0], load_after[0], os.cpu_count()))
    command = ("scripts/bench-processes.py --counts %s --scrapes %d --rounds %d"
               % (args.counts, args.scrapes, args.rounds))
    if args.write_readme:
        write_readme(rows, command, (load_before[0], load_after[0]), extrapolated)
    print("\nCPU: median over %d rounds of the per-scrape utime+stime of a batch (clock-tick "
          "resolution, %d Hz); in each round every exporter and the floor run one batch, in an "
          "order that alternates from round to round. Latency percentiles over all scrapes; the "
          "floor's latency is its wall time per walk, without HTTP. Reproduce: %s"
          % (args.rounds, TICK, command))


if __name__ == "__main__":
    main()
