"""The processes collector's sources: --collector.processes.source=bpf against procfs.

Two exporters, one per source, scrape the same idle children (pages touched, memory mlock()ed,
faulted MAP_HUGETLB pages when there is a 2 MiB pool): their groups' figures (resident, swap,
hugetlb, locked, pinned, minor and major faults, processes) must be equal. Then every process of
the machine, PID 1 included: /proc is read before and after the two scrapes, and every group
(one per comm) whose processes stayed the same must be in both scrapes with those processes;
where none of them ran, with the figures /proc gives (swap within the per-CPU difference of
docs/performance.md on 6.2-6.15), else with faults between /proc's before and after. Kernel
threads are in no group under either source. A bad source value and a BPF source that cannot
be loaded stop start-up with a message naming the flag.
Root (the BPF source needs CAP_BPF and CAP_PERFMON); the build needs PAGESCOPE_BPF.
"""

import os
import subprocess
import unittest

from pagescope_test import (BINARY, Exporter, children_with_known_figures, kernel_lock,
                            require_root, tool, value)
from test_live_bpf_tasks import parse_proc

BPF_BUILT = os.path.exists(tool("bpf_tasks"))
ONLY = ["--collector.disable-defaults", "--collector.processes"]
FIGURES = ("pagescope_process_num_procs", "pagescope_process_resident_bytes",
           "pagescope_process_swap_bytes", "pagescope_process_hugetlb_bytes",
           "pagescope_process_locked_bytes", "pagescope_process_pinned_bytes",
           "pagescope_process_minor_faults_total", "pagescope_process_major_faults_total")


PAGE = os.sysconf("SC_PAGE_SIZE")
PF_KTHREAD = 0x00200000


def snapshot():
    """{pid: figures} of every process /proc lists now (parse_proc's fields, the pid's key)."""
    out = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                stat = f.read()
            with open("/proc/%s/status" % name) as f:
                status = f.read()
        except (FileNotFoundError, ProcessLookupError):
            continue  # exited
        out[int(name)] = parse_proc(stat, status)
    return out


def swap_tolerance(processes, release, cpus, page):
    """Bytes by which VmSwap may differ from the BPF source's exact per-CPU sums on kernel
    `release`: 0 where status prints the sums (6.16+) or atomic counters (<= 6.1); on 6.2-6.15
    up to the batch minus one page per CPU and process (docs/performance.md)."""
    major, minor = (int(x) for x in release.split(".")[:2])
    if (major, minor) <= (6, 1) or (major, minor) >= (6, 16):
        return 0
    return processes * (max(32, 2 * cpus) - 1) * cpus * page


def group_figures(procs, page=PAGE):
    """What the processes collector must report for these processes (all of them idle)."""
    kb = lambda key: sum((p[key] or 0) * 1024 for p in procs)  # noqa: E731
    return {"pagescope_process_num_procs": len(procs),
            "pagescope_process_minor_faults_total": sum(p["minflt"] for p in procs),
            "pagescope_process_major_faults_total": sum(p["majflt"] for p in procs),
            "pagescope_process_resident_bytes": sum(p["rss_pages"] for p in procs) * page,
            "pagescope_process_swap_bytes": kb("VmSwap"),
            "pagescope_process_hugetlb_bytes": kb("HugetlbPages"),
            "pagescope_process_locked_bytes": kb("VmLck"),
            "pagescope_process_pinned_bytes": kb("VmPin")}


def compare_groups(test, before, after, got, release=os.uname().release,
                   cpus=os.cpu_count() or 1, page=PAGE, group_of=lambda pid, p: p["comm"]):
    """Asserts that every group (one per comm) whose processes were the same in /proc
    snapshots `before` and `after` ({pid: parse_proc's figures}) is in each scrape of `got`
    ({source: parsed metrics}) with those processes (group_of(pid, figures) names a process's
    group: the default matcher's comm), with /proc's faults (between before and
    after), and with every figure of /proc when none of them ran (swap within swap_tolerance
    on kernel `release` with `cpus` CPUs); kernel threads in no group.
    Returns (groups compared, how many idle, comms left out because their processes changed)."""
    members = {}  # comm -> ({(pid, start) before}, {(pid, start) after})
    for i, snap in enumerate((before, after)):
        for pid, p in snap.items():
            if not p["flags"] & PF_KTHREAD:
                members.setdefault(group_of(pid, p), (set(), set()))[i].add(
                    (pid, p["start_time"]))
    kthread_names = {p["comm"] for p in before.values() if p["flags"] & PF_KTHREAD}
    for source, metrics in got.items():
        groups = {dict(ls)["group"] for (n, ls) in metrics
                  if n == "pagescope_process_num_procs"}
        test.assertEqual(sorted(kthread_names & groups - set(members)), [],
                         "%s: kernel threads are in no group" % source)
    compared, idle, changed = [], 0, []
    for comm, (was, now) in sorted(members.items()):
        if was != now:
            changed.append(comm)  # processes came, went or ran exec() meanwhile
            continue
        pids = sorted(pid for pid, _ in was)
        still = all(before[pid] == after[pid] for pid in pids)
        want = group_figures([before[pid] for pid in pids], page)
        high = group_figures([after[pid] for pid in pids], page)
        for source, metrics in got.items():
            where = "%s: group %r (pids %s)" % (source, comm, pids)
            test.assertEqual(value(metrics, "pagescope_process_num_procs", group=comm),
                             len(pids), where)
            for name in ("pagescope_process_minor_faults_total",
                         "pagescope_process_major_faults_total"):
                v = value(metrics, name, group=comm)
                test.assertTrue(want[name] <= v <= high[name],
                                "%s %s: %s not within /proc's %s..%s"
                                % (where, name, v, want[name], high[name]))
            if not still:
                continue
            for name, expected in want.items():
                v = value(metrics, name, group=comm)
                if v is None and name in ("pagescope_process_hugetlb_bytes",
                                          "pagescope_process_locked_bytes",
                                          "pagescope_process_pinned_bytes"):
                    # Emitted only when some process's status has the line.
                    test.assertIsNone(value(got["procfs"], name, group=comm), where)
                    continue
                slack = (swap_tolerance(len(pids), release, cpus, page)
                         if name.endswith("swap_bytes") else 0)
                test.assertLessEqual(abs(v - expected), slack,
                                     "%s %s: %s, /proc says %s" % (where, name, v, expected))
        compared.append(comm)
        idle += still
    return compared, idle, changed


def start_failure(args):
    """(exit code, output) of an exporter that must not start."""
    r = subprocess.run([BINARY, "--web.listen-address=127.0.0.1:0"] + args,
                       capture_output=True, text=True, timeout=60)
    return r.returncode, r.stdout + r.stderr


class ProcessesSourceTest(unittest.TestCase):

    @require_root
    @unittest.skipUnless(BPF_BUILT, "built without the BPF task source (PAGESCOPE_BPF: clang, "
                                    "bpftool, libbpf)")
    def test_bpf_groups_equal_procfs_for_idle_children(self):
        with kernel_lock(), children_with_known_figures(3000) as (children, have_pool):
            with Exporter(ONLY) as procfs, \
                    Exporter(ONLY + ["--collector.processes.source=bpf"]) as bpf:
                got_procfs, got_bpf = procfs.metrics(), bpf.metrics()
            for group in children:
                for name in FIGURES:
                    a = value(got_procfs, name, group=group)
                    self.assertIsNotNone(a, "%s{group=%s} (procfs)" % (name, group))
                    self.assertEqual(value(got_bpf, name, group=group), a,
                                     "%s{group=%s}: bpf against procfs" % (name, group))
            self.assertEqual(value(got_bpf, "pagescope_process_locked_bytes",
                                   group="mlock_hold"), 8 * 2**20)
            self.assertGreaterEqual(value(got_bpf, "pagescope_process_minor_faults_total",
                                          group="touch_pages"), 3000)
            if have_pool:
                self.assertEqual(value(got_bpf, "pagescope_process_hugetlb_bytes",
                                       group="hugetlb_hold"), 2 * 2 * 2**20)

    @require_root
    @unittest.skipUnless(BPF_BUILT, "built without the BPF task source (PAGESCOPE_BPF: clang, "
                                    "bpftool, libbpf)")
    def test_every_process_in_the_same_group_under_both_sources(self):
        args = ONLY + ["--collector.processes.max-groups=0"]  # every comm its own group
        with Exporter(args) as procfs, \
                Exporter(args + ["--collector.processes.source=bpf"]) as bpf:
            before = snapshot()
            got = {"procfs": procfs.metrics(), "bpf": bpf.metrics()}
            after = snapshot()
            bpf_log = bpf.log_text()
        compared, idle, changed = compare_groups(self, before, after, got)
        pid1 = before.get(1)
        self.assertIsNotNone(pid1)
        self.assertIn(pid1["comm"], compared, "PID 1's group is compared under both sources")
        self.assertGreater(idle, 0, "no idle group to compare exactly")
        print("\n%d groups compared under both sources (%d idle: every figure; PID 1 %r "
              "among them: %s), %d left out as their processes changed: %s"
              % (len(compared), idle, pid1["comm"],
                 "idle" if before[1] == after[1] else "busy: faults only",
                 len(changed), ", ".join(changed)))
        if "did not hand back this process" in bpf_log:
            print("bpf: " + "; ".join(line for line in bpf_log.splitlines()
                                      if "did not hand back" in line))

    def test_bad_source_value_stops_start_up(self):
        code, out = start_failure(ONLY + ["--collector.processes.source=ebpf"])
        self.assertNotEqual(code, 0, out)
        self.assertIn("--collector.processes.source", out)
        self.assertIn("expected procfs or bpf", out)

    def test_bpf_that_cannot_load_stops_start_up(self):
        # Without CAP_BPF and CAP_PERFMON (as user nobody when root), or in a build without
        # BPF, the source cannot be loaded: no fall-back to /proc.
        args = ONLY + ["--collector.processes.source=bpf"]
        if os.geteuid() == 0:
            r = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                                BINARY, "--web.listen-address=127.0.0.1:0"] + args,
                               capture_output=True, text=True, timeout=60)
            code, out = r.returncode, r.stdout + r.stderr
        else:
            code, out = start_failure(args)
        self.assertNotEqual(code, 0, out)
        self.assertIn("--collector.processes.source", out)
        self.assertIn("cannot load the BPF task iterator", out)
        self.assertRegex(out, "CAP_BPF|built without BPF")


if __name__ == "__main__":
    unittest.main()
