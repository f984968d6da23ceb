#!/usr/bin/env python3
"""What a scrape does to the processes it watches: the stall of stand-in QEMU guests while
pagescope (and, beside it, process-exporter with -gather-smaps) scrapes them once a second
(issue 21, "Measure it, side by side").

Guests (tests/tools/standin_guest: comm qemu-system-x86, a QEMU-like command line with
-name guest=NAME, -m and a memory backend, so the qemu collector identifies them), one at a
time so that the collectors' time per scrape is the cost of that guest alone and at most one
guest's memory is held:
  - 4k-<N>G: N GiB of anonymous 4 KiB pages, touched (MADV_NOHUGEPAGE), for each --sizes N;
  - hugetlb-2M: --small-gib GiB of 2 MiB hugetlb pages (a hugetlb memfd, as
    memory-backend-memfd,hugetlb=on); the 2 MiB pool is raised for it and restored after;
  - thp: --small-gib GiB of anonymous memory with MADV_HUGEPAGE (THP mode madvise or always).
Each guest has one thread that maps, touches and unmaps a page in a loop (1 ms apart) and prints
its worst round every second: mmap and munmap take the mmap_lock for writing, so that thread
waits for as long as a reader walks the guest's page tables (numa_maps, smaps, smaps_rollup).

For each guest, phases of --seconds each: idle (nothing scrapes), then pagescope scraped once a
second with the default configuration and with each option that reads smaps or numa_maps
(processes smaps, hugetlb_numa, numa_locality; qemu smaps, numa_locality, numa_detail), then
Debian's prometheus-process-exporter -gather-smaps=true tracking the guest by name, scraped the
same way. Per phase: the worst stall (the longest round of any second) and the median of the
seconds' worst rounds, and per scrape the time of the qemu and processes collectors
(pagescope_scrape_collector_duration_seconds, median and max) and the whole scrape's wall time.
An exporter is started per phase and stopped after it; the phases are 2 s apart.

  --walk-cost   instead: the cost of one read of numa_maps and of smaps_rollup per resident
                4 KiB page and per 2 MiB hugetlb page (ns per entry: the slope between a 1 and a
                4 GiB guest of each kind, median of --reads reads each), of listing mappings
                (maps text and PROCMAP_QUERY, per mapping: a 1 GiB guest with and without 20,000
                extra one-page mappings, and 1 against 4 GiB to show the size does not matter),
                and of the placement sampler (proctable/page_sample.h) on each guest.
  --lock-check  instead: counts, with the mmap_lock trace events (tracefs; mounted on a temporary
                directory when it is not mounted), how often listing a guest's mappings
                (PROCMAP_QUERY, maps text), reading its numa_maps and one move_pages(2) query of
                64 pages take the guest's mmap_lock.
  --lab         instead: stand-in guests of 1 GiB pages (which this host cannot hold), 2 MiB and
                4 KiB pages inside the guest lab (tests/lab, two nodes, Debian's 6.1 under TCG),
                idle and scraped once a second by the lab's pagescope (default configuration).
  --smoke       one 256 MiB 4 KiB guest, 3 s phases, idle and the default configuration only, no
                process-exporter (the default test run checks the table's shape with it).

usage: scripts/bench-harm.py [--build build] [--sizes 1,4] [--seconds 15] [--small-gib 1]
                             [--configs default,qemu_smaps,...] [--no-huge] [--no-peers]
                             [--write-docs] | --walk-cost [--reads 7] | --lock-check | --lab
                             | --smoke
The 16 GiB size is opt-in (--sizes 1,4,16): with it this needs about 17 GiB free. --write-docs
replaces the harm table in docs/performance.md (between the bench-harm markers) with this run's,
with the date and the command. Root (the hugepage pool, the tracefs); holds kernel_lock() (tests/e2e/
pagescope_test.py) while any guest exists; every process it starts is stopped by PID, and the
pool is restored, also on failure.
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
import threading
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
from pagescope_test import POOL_2M, SysfsRestorer, kernel_lock, stop_process  # noqa: E402

SOURCE_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
DOCS = os.path.join(SOURCE_DIR, "docs", "performance.md")
DOCS_BEGIN = "<!-- bench-harm:begin -->"
DOCS_END = "<!-- bench-harm:end -->"
GAP = 2.0  # seconds between phases, nobody scraping

# (name, flags, YAML configuration or None). Names are also the --configs keys.
CONFIGS = [
    ("default", [], None),
    ("processes_smaps", ["--collector.processes.smaps"], None),
    ("processes_hugetlb_numa", ["--collector.processes.hugetlb-numa"], None),
    ("processes_numa_locality", [],
     "collectors:\n  processes:\n    numa_locality:\n      - {group: qemu-system-x86}\n"),
    ("qemu_smaps", ["--collector.qemu.smaps"], None),
    ("qemu_numa_locality", ["--collector.qemu.numa-locality"], None),
    ("qemu_numa_detail", ["--collector.qemu.numa-detail"], None),
]
PEER = "process_exporter_smaps"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port, proc, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("%s exited early (%d)" % (proc.args[0], proc.returncode))
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("%s does not listen on %d" % (proc.args[0], port))


class Guest:
    """A stand-in guest; `stalls` collects (monotonic time read, worst µs) of each second.
    `cgroups`: cgroup directories it joins before it execs (so its memory is charged there)."""

    def __init__(self, tools, name, backing, mib, extra=(), cgroups=()):
        self.name = name
        self.mib = mib
        cmd = ["qemu-system-x86_64", "-name", "guest=%s,debug-threads=on" % name, "-m", str(mib)]
        if backing == "hugetlb":
            cmd += ["-object", "memory-backend-memfd,id=pc.ram,size=%dM,hugetlb=on,"
                    "hugetlbsize=2M,share=on" % mib]
        else:
            cmd += ["-object", "memory-backend-ram,id=pc.ram,size=%dM" % mib]
        cmd += ["-machine", "pc,memory-backend=pc.ram", "-standin-backing", backing] + list(extra)
        if os.geteuid() == 0:
            cmd.append("-standin-rt")  # rounds wait for the lock, not for a CPU
        def join():
            for d in cgroups:
                with open(os.path.join(d, "cgroup.procs"), "w") as f:
                    f.write(str(os.getpid()))
        self.proc = subprocess.Popen(cmd, executable=os.path.join(tools, "standin_guest"),
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                     preexec_fn=join if cgroups else None)
        self.stalls = []
        try:
            line = self.proc.stdout.readline().strip()
            if line != "ready":
                raise RuntimeError("stand-in guest %s (%s, %d MiB) did not start: %r, exit %s"
                                   % (name, backing, mib, line, self.proc.poll()))
        except BaseException:
            self.stop()
            raise
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            m = re.match(r"stall worst_us=(\d+)", line)
            if m:
                self.stalls.append((time.monotonic(), int(m.group(1))))

    def between(self, t0, t1):
        return [us for t, us in self.stalls if t0 < t <= t1]

    def status(self, key):
        with open("/proc/%d/status" % self.proc.pid) as f:
            m = re.search(r"^%s:\s+(\d+) kB" % key, f.read(), re.M)
        return int(m.group(1)) * 1024 if m else 0

    def stop(self):
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        stop_process(self.proc, timeout=60)
        self.proc.stdout.close()


def collector_durations(text):
    out = {}
    for m in re.finditer(r'^pagescope_scrape_collector_duration_seconds\{collector="([^"]+)"\} '
                         r'(\S+)$', text, re.M):
        out[m.group(1)] = float(m.group(2))
    return out


def scrape_phase(url, seconds, durations=True):
    """Scrapes once a second for `seconds`; returns (per-collector lists, wall times)."""
    per, walls = {}, []
    start = time.monotonic()
    n = 0
    while time.monotonic() - start < seconds:
        t0 = time.monotonic()
        body = urllib.request.urlopen(url, timeout=120).read().decode()
        walls.append(time.monotonic() - t0)
        if durations:
            for c, v in collector_durations(body).items():
                per.setdefault(c, []).append(v)
        n += 1
        time.sleep(max(0.0, start + n - time.monotonic()))
    return per, walls


def known_flags(pagescope):
    out = subprocess.run([pagescope, "--help"], capture_output=True, text=True).stdout
    return set(re.findall(r"^\s+(--[a-z0-9_.-]+)", out, re.M))


def run_exporter(cmd, port, seconds, durations):
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_listening(port, proc)
        t0 = time.monotonic()
        per, walls = scrape_phase("http://127.0.0.1:%d/metrics" % port, seconds, durations)
        return t0, time.monotonic(), per, walls
    finally:
        stop_process(proc)
        log.close()


def phase_row(guest, t0, t1, per=None, walls=None):
    stalls = guest.between(t0, t1 + 1.2)  # the line of the last second comes up to 1 s later
    row = {"worst": max(stalls) / 1000 if stalls else None,
           "median": statistics.median(stalls) / 1000 if stalls else None,
           "seconds": len(stalls), "collectors": {}, "wall": None}
    for c, v in (per or {}).items():
        row["collectors"][c] = (statistics.median(v) * 1000, max(v) * 1000)
    if walls:
        row["wall"] = (statistics.median(walls) * 1000, max(walls) * 1000)
    return row


def measure_guest(args, guest, configs, pagescope, pe_bin, tmp):
    rows = []
    time.sleep(GAP)
    t0 = time.monotonic()
    time.sleep(args.seconds)
    rows.append(("idle", phase_row(guest, t0, time.monotonic())))
    time.sleep(GAP)
    for name, flags, yaml in configs:
        port = free_port()
        cmd = [pagescope, "--web.listen-address=127.0.0.1:%d" % port, "--log.level=warn"] + flags
        if yaml:
            path = os.path.join(tmp, name + ".yml")
            with open(path, "w") as f:
                f.write(yaml)
            cmd.append("--config.file=" + path)
        t0, t1, per, walls = run_exporter(cmd, port, args.seconds, True)
        rows.append((name, phase_row(guest, t0, t1, per, walls)))
        time.sleep(GAP)
    if pe_bin:
        port = free_port()
        cmd = [pe_bin, "-procnames", "qemu-system-x86", "-gather-smaps=true",
               "-web.listen-address", "127.0.0.1:%d" % port]
        t0, t1, per, walls = run_exporter(cmd, port, args.seconds, False)
        rows.append((PEER, phase_row(guest, t0, t1, None, walls)))
        time.sleep(GAP)
    return rows


def fmt(v, spec="%.1f"):
    return "-" if v is None else spec % v


def table(results):
    head = ["guest", "scraped by", "worst stall ms", "median stall ms", "qemu ms (median / max)",
            "processes ms (median / max)", "scrape ms (median / max)"]
    lines = ["| " + " | ".join(head) + " |", "|---|---|" + "---:|" * (len(head) - 2)]
    for gname, rows in results:
        for name, r in rows:
            cells = [gname, name.replace("_", " ") if name != PEER else
                     "process-exporter -gather-smaps", fmt(r["worst"], "%.2f"),
                     fmt(r["median"], "%.2f")]
            for c in ("qemu", "processes"):
                v = r["collectors"].get(c)
                cells.append("-" if v is None else "%.1f / %.1f" % v)
            cells.append("-" if r["wall"] is None else "%.1f / %.1f" % r["wall"])
            lines.append("| " + " | ".join(cells) + " |")
    return lines


def write_docs(lines, command, load):
    with open(DOCS) as f:
        text = f.read()
    begin, end = text.find(DOCS_BEGIN), text.find(DOCS_END)
    if begin < 0 or end < begin:
        sys.exit("%s: no %s ... %s markers" % (DOCS, DOCS_BEGIN, DOCS_END))
    out = [DOCS_BEGIN,
           "Measured by `%s` (generated by its `--write-docs`) on %s, as root (the guests' "
           "mapping thread under SCHED_FIFO) on the 2-core development VM shared with other "
           "work, load average %.1f before and %.1f after the run:"
           % (command, datetime.date.today().isoformat(), load[0], load[1]), ""]
    out += lines
    out.append(DOCS_END)
    text = text[:begin] + "\n".join(out) + text[end + len(DOCS_END):]
    with open(DOCS, "w") as f:
        f.write(text)
    print("wrote the harm table of %s" % DOCS)


def harm(args, pagescope, tools):
    load_before = os.getloadavg()
    flags = known_flags(pagescope)
    wanted = args.configs.split(",") if args.configs else [c[0] for c in CONFIGS]
    configs = []
    for name, fl, yaml in CONFIGS:
        if name not in wanted:
            continue
        missing = [f for f in fl if f.split("=")[0] not in flags]
        if missing:
            print("configuration %s left out: this pagescope has no %s" % (name, missing[0]),
                  file=sys.stderr)
            continue
        configs.append((name, fl, yaml))
    pe_bin = None if args.no_peers else shutil.which("prometheus-process-exporter")
    if not args.no_peers and not pe_bin:
        sys.exit("prometheus-process-exporter is needed (scripts/install-deps.sh) or --no-peers")
    guests = [("4k-%sG" % s, "4k", int(float(s) * 1024)) for s in args.sizes.split(",")]
    if not args.no_huge:
        guests += [("hugetlb-2M", "hugetlb", args.small_gib * 1024),
                   ("thp", "thp", args.small_gib * 1024)]
    results = []
    tmp = tempfile.mkdtemp(prefix="pagescope-bench-harm-")
    with kernel_lock(), SysfsRestorer() as sysfs:
        for gname, backing, mib in guests:
            if backing == "hugetlb":
                if not os.path.exists(POOL_2M):
                    print("no 2 MiB pool: %s left out" % gname, file=sys.stderr)
                    continue
                with open(POOL_2M + "/nr_hugepages") as f:
                    have = int(f.read())
                sysfs.set(POOL_2M + "/nr_hugepages", have + mib // 2)
            print("guest %s: starting (%d MiB, %s)" % (gname, mib, backing), flush=True)
            guest = Guest(tools, gname, backing, mib)
            try:
                rows = measure_guest(args, guest, configs, pagescope, pe_bin, tmp)
            finally:
                guest.stop()
            sysfs.restore()
            results.append((gname, rows))
            for line in table([(gname, rows)])[2:]:
                print(line, flush=True)
    shutil.rmtree(tmp, ignore_errors=True)
    load_after = os.getloadavg()
    lines = table(results)
    print()
    print("\n".join(lines))
    print("\nload average (1 min): %.1f before, %.1f after" % (load_before[0], load_after[0]))
    if args.write_docs:
        command = "scripts/bench-harm.py " + " ".join(sys.argv[1:]).replace(
            "--write-docs", "").strip()
        write_docs(lines, command.strip(), (load_before[0], load_after[0]))


def timed_read(path, reads):
    times = []
    for _ in range(reads):
        t0 = time.perf_counter()
        with open(path, "rb") as f:
            while f.read(1 << 20):
                pass
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def sampler(tools, pid, reads, *extra):
    out = subprocess.run([os.path.join(tools, "page_sample"), "--repeat", str(reads)] +
                         list(extra) + [str(pid)], check=True, capture_output=True,
                         text=True).stdout
    secs = [float(x) for x in re.findall(r"^path=\S+ seconds=(\S+)", out, re.M)]
    calls = [float(x) for x in re.findall(r"max_call_seconds=(\S+)", out)]
    return statistics.median(secs), statistics.median(calls)


def lab_guests(args):
    """Stand-in guests inside the guest lab (tests/lab: Debian's 6.1 kernel under QEMU, two nodes,
    1 GiB pages), scraped by the lab's own pagescope (default configuration) from the host: the
    1 GiB-page case this host cannot hold. Under TCG every figure is that of an emulated CPU,
    many times the host's: compare idle with scraped, not with the host's table."""
    sys.path.insert(0, os.path.join(SOURCE_DIR, "tests", "lab"))
    import guest as lab
    cases = [("hugetlb-1G", "hugetlb", 1024, 1048576), ("hugetlb-2M", "hugetlb", 64, 2048),
             ("4k-0.25G", "4k", 256, 0)]
    results = []
    with lab.Guest(tools=["standin_guest"]) as g:
        g.run("ln -s /bin/standin_guest /tmp/qemu-system-x86_64")
        for gname, backing, mib, kb in cases:
            obj = ("memory-backend-memfd,id=pc.ram,size=%dM,hugetlb=on,hugetlbsize=%dK,share=on"
                   % (mib, kb) if backing == "hugetlb" else
                   "memory-backend-ram,id=pc.ram,size=%dM" % mib)
            out = "/tmp/%s.out" % gname
            g.run("(sleep 100000 | /tmp/qemu-system-x86_64 -name guest=%s -m %d -object %s "
                  "-machine pc,memory-backend=pc.ram -standin-backing %s -standin-hugetlb-kb "
                  "%d -standin-rt > %s 2>&1) &" % (gname, mib, obj, backing, kb or 2048, out))
            deadline = time.monotonic() + 300
            while "ready" not in g.run("cat %s" % out):
                if time.monotonic() > deadline:
                    sys.exit("%s did not start in the lab: %s" % (gname, g.run("cat " + out)))
                time.sleep(1)

            def lines():
                return int(g.run("grep -c stall %s || true" % out).strip() or 0)

            def stalls(a, b):
                got = [int(x) for x in re.findall(r"worst_us=(\d+)", g.run("cat " + out))]
                return [us / 1000 for us in got[a:b]]

            time.sleep(2)
            a = lines()
            time.sleep(args.seconds)
            idle = stalls(a, lines())
            time.sleep(2)
            a = lines()
            per, walls = {}, []
            start = time.monotonic()
            for n in range(int(args.seconds)):
                t0 = time.monotonic()
                body = g.scrape(timeout=120)
                walls.append(time.monotonic() - t0)
                for c, v in collector_durations(body).items():
                    per.setdefault(c, []).append(v)
                time.sleep(max(0.0, start + n + 1 - time.monotonic()))
            time.sleep(1.2)
            scraped = stalls(a, lines())
            g.run("kill $(pidof sleep) 2>/dev/null || true")
            for name, st, p, w in (("idle", idle, None, None), ("default", scraped, per, walls)):
                row = {"worst": max(st) if st else None,
                       "median": statistics.median(st) if st else None, "collectors": {},
                       "wall": (statistics.median(w) * 1000, max(w) * 1000) if w else None}
                for c, v in (p or {}).items():
                    row["collectors"][c] = (statistics.median(v) * 1000, max(v) * 1000)
                results.append(("lab " + gname, [(name, row)]))
                print("| lab %s | %s | %s |" % (gname, name, fmt(row["worst"])), flush=True)
    print()
    print("\n".join(table(results)))


def walk_cost(args, tools):
    print("cost per entry of one read (median of %d reads), %s" % (
        args.reads, datetime.date.today().isoformat()))
    rows = {}
    with kernel_lock(), SysfsRestorer() as sysfs:
        for backing, page in (("4k", 4096), ("hugetlb", 2 << 20)):
            for gib in (1, 4):
                if backing == "hugetlb":
                    with open(POOL_2M + "/nr_hugepages") as f:
                        have = int(f.read())
                    sysfs.set(POOL_2M + "/nr_hugepages", have + gib * 512)
                g = Guest(tools, "cost", backing, gib * 1024)
                try:
                    pid = g.proc.pid
                    entries = (g.status("HugetlbPages") if backing == "hugetlb"
                               else g.status("RssAnon")) // page
                    r = {"entries": entries,
                         "numa_maps": timed_read("/proc/%d/numa_maps" % pid, args.reads),
                         "smaps_rollup": timed_read("/proc/%d/smaps_rollup" % pid, args.reads),
                         "maps": timed_read("/proc/%d/maps" % pid, args.reads),
                         "list_procmap": sampler(tools, pid, args.reads, "--max-pages", "1")[0],
                         "list_text": sampler(tools, pid, args.reads, "--max-pages", "1",
                                              "--maps-text")[0],
                         "sample": sampler(tools, pid, args.reads)}
                finally:
                    g.stop()
                sysfs.restore()
                rows[(backing, gib)] = r
                print("  %s %d GiB: %d entries: numa_maps %.2f ms, smaps_rollup %.2f ms, maps "
                      "%.3f ms, listing by PROCMAP_QUERY %.3f ms, by maps text %.3f ms; sampler "
                      "(4096 addresses) %.2f ms, longest move_pages call %.1f µs" % (
                          backing, gib, entries, r["numa_maps"] * 1e3, r["smaps_rollup"] * 1e3,
                          r["maps"] * 1e3, r["list_procmap"] * 1e3, r["list_text"] * 1e3,
                          r["sample"][0] * 1e3, r["sample"][1] * 1e6), flush=True)
        for backing, label in (("4k", "resident 4 KiB page"), ("hugetlb", "2 MiB hugetlb page")):
            a, b = rows[(backing, 1)], rows[(backing, 4)]
            for f in ("numa_maps", "smaps_rollup"):
                slope = (b[f] - a[f]) / (b["entries"] - a["entries"]) * 1e9
                print("%s per %s: %.1f ns (slope 1 -> 4 GiB); %.1f and %.1f ns at 1 and 4 GiB "
                      "(whole read / entries)" % (f, label, slope, a[f] / a["entries"] * 1e9,
                                                   b[f] / b["entries"] * 1e9))
        # Listing mappings costs per mapping: 20,000 extra one-page mappings.
        extra = 20000
        g = Guest(tools, "vmas", "4k", 1024, ["-standin-vmas", str(extra)])
        try:
            pid = g.proc.pid
            many = {"maps": timed_read("/proc/%d/maps" % pid, args.reads),
                    "list_procmap": sampler(tools, pid, args.reads, "--max-pages", "1")[0],
                    "list_text": sampler(tools, pid, args.reads, "--max-pages", "1",
                                         "--maps-text")[0]}
        finally:
            g.stop()
        base = rows[("4k", 1)]
        for f, label in (("maps", "reading maps"), ("list_procmap", "listing by PROCMAP_QUERY"),
                         ("list_text", "listing by the maps text (read and parse)")):
            print("%s: %.3f ms with 1 GiB, %.3f ms with 4 GiB, %.3f ms with 1 GiB and %d more "
                  "mappings: %.0f ns per mapping" % (
                      label, base[f] * 1e3, rows[("4k", 4)][f] * 1e3, many[f] * 1e3, extra,
                      (many[f] - base[f]) / extra * 1e9))


def lock_check(tools):
    """mmap_lock acquisitions of the reading thread, from the mmap_lock trace events."""
    import ctypes
    import fcntl
    import struct
    root = "/sys/kernel/tracing"
    mounted = None
    if not os.path.isdir(os.path.join(root, "events", "mmap_lock")):
        mounted = tempfile.mkdtemp(prefix="pagescope-tracefs-")
        subprocess.run(["mount", "-t", "tracefs", "nodev", mounted], check=True)
        root = mounted
    inst = os.path.join(root, "instances", "pagescope-lock-check-%d" % os.getpid())
    g = None
    try:
        if not os.path.isdir(os.path.join(root, "events", "mmap_lock")):
            sys.exit("this kernel has no mmap_lock trace events")
        os.mkdir(inst)

        def w(p, v):
            with open(os.path.join(inst, p), "w") as f:
                f.write(v)

        def count(what, fn):
            w("trace", "")
            w("events/mmap_lock/filter", "common_pid == %d" % os.getpid())
            w("events/mmap_lock/enable", "1")
            w("tracing_on", "1")
            result = fn()
            w("tracing_on", "0")
            w("events/mmap_lock/enable", "0")
            with open(os.path.join(inst, "trace")) as f:
                n = sum(1 for line in f if "mmap_lock_acquire_returned" in line)
            print("%-44s %s: mmap_lock taken %d times" % (what, result, n))

        g = Guest(tools, "lock", "4k", 256)
        pid = g.proc.pid
        query = 0xC0686611  # _IOWR('f', 17, struct procmap_query), 104 bytes

        def procmap():
            fd = os.open("/proc/%d/maps" % pid, os.O_RDONLY)
            n, addr = 0, 0
            try:
                while True:
                    buf = bytearray(struct.pack("9Q4I2Q", 104, 0x10, addr, *([0] * 12)))
                    try:
                        fcntl.ioctl(fd, query, buf)
                    except OSError as e:
                        return "%d mappings (then %s)" % (n, os.strerror(e.errno))
                    addr = struct.unpack("9Q4I2Q", buf)[4]
                    n += 1
            finally:
                os.close(fd)

        def read(name):
            with open("/proc/%d/%s" % (pid, name), "rb") as f:
                return "%d bytes" % len(f.read())

        libc = ctypes.CDLL(None, use_errno=True)
        libc.syscall.restype = ctypes.c_long
        with open("/proc/%d/maps" % pid) as f:
            ranges = [[int(x, 16) for x in line.split()[0].split("-")] for line in f]
        start, end = max(ranges, key=lambda r: r[1] - r[0])  # the guest's RAM
        stride = (end - start) // 64 // 4096 * 4096
        pages = (ctypes.c_void_p * 64)(*[start + i * stride for i in range(64)])
        status = (ctypes.c_int * 64)()

        def move_pages():
            rc = libc.syscall(279, pid, 64, pages, None, status, 0)  # SYS_move_pages (x86-64)
            return "64 addresses, rc %d" % rc

        print("kernel %s, a 256 MiB 4 KiB guest:" % os.uname().release)
        count("PROCMAP_QUERY over every mapping", procmap)
        count("read of /proc/<pid>/maps", lambda: read("maps"))
        count("read of /proc/<pid>/numa_maps", lambda: read("numa_maps"))
        count("move_pages(2) query", move_pages)
    finally:
        if g is not None:
            g.stop()
        if os.path.isdir(inst):
            os.rmdir(inst)
        if mounted:
            subprocess.run(["umount", mounted], check=True)
            os.rmdir(mounted)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(SOURCE_DIR, "build"))
    ap.add_argument("--sizes", default="1,4", help="GiB of each 4 KiB guest (16 is opt-in)")
    ap.add_argument("--seconds", type=float, default=15, help="length of each phase")
    ap.add_argument("--small-gib", type=int, default=1, help="GiB of the hugetlb and THP guests")
    ap.add_argument("--configs", help="comma-separated: " + ",".join(c[0] for c in CONFIGS))
    ap.add_argument("--no-huge", action="store_true", help="no hugetlb and THP guests")
    ap.add_argument("--no-peers", action="store_true", help="no process-exporter")
    ap.add_argument("--write-docs", action="store_true",
                    help="replace the harm table in docs/performance.md with this run's")
    ap.add_argument("--walk-cost", action="store_true")
    ap.add_argument("--reads", type=int, default=7)
    ap.add_argument("--lock-check", action="store_true")
    ap.add_argument("--lab", action="store_true",
                    help="stand-in guests with 1 GiB, 2 MiB and 4 KiB pages in the guest lab")
    ap.add_argument("--smoke", action="store_true")
    args = ap.parse_args()
    if args.smoke:
        args.sizes, args.seconds, args.configs = "0.25", 3, "default"
        args.no_huge = args.no_peers = True
    pagescope = os.path.join(args.build, "pagescope")
    tools = os.path.join(args.build, "tools")
    for exe in (pagescope, os.path.join(tools, "standin_guest"), os.path.join(tools, "page_sample")):
        if not os.access(exe, os.X_OK):
            sys.exit("missing %s: build first (cmake --build build)" % exe)
    needs_root = args.walk_cost or args.lock_check or not (args.no_huge or args.lab)
    if needs_root and os.geteuid() != 0:
        sys.exit("needs root (hugepage pool, tracefs); --smoke or --no-huge run without")
    if args.lab:
        lab_guests(args)
    elif args.lock_check:
        with kernel_lock():
            lock_check(tools)
    elif args.walk_cost:
        walk_cost(args, tools)
    else:
        harm(args, pagescope, tools)


if __name__ == "__main__":
    main()
