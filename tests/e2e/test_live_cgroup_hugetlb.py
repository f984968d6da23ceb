"""Live kernel: the hugetlb cgroup controller (v2) as pagescope's cgroup_hugetlb collector sees it.

Services (issue 23): with the default parents, a service-shaped cgroup under system.slice that
holds 4 MiB of 2 MiB pages shows its usage (the root's system.slice is made for the test where the
host has none, and removed after); a service whose process maps a hugetlbfs file MAP_SHARED (the
pages are reserved at mmap time) without touching it shows a reservation of 4 MiB and a usage of
0; 100 empty services cost no series, and the test prints what reading them costs per cgroup
(the collector's own duration with and without them, median of 30 scrapes each).

Needs the v2 hierarchy (/sys/fs/cgroup, or /sys/fs/cgroup/unified on hybrid hosts) with the
hugetlb controller available. Creates pagescope-test-<pid>/vm1 with hugetlb.2MB.max = 2 pages,
runs a process there that touches 2 pages (usage, limit and per-node usage must match the
files), then one more process that touches a third page: the kernel refuses it (SIGBUS) and the
limit-hit counter rises. Removes the cgroups, restores the root's subtree_control and the pool
even when a check fails.

The alert (issue 22): Debian's Prometheus scrapes pagescope every second with the mixin's rules
(rate window 10 s, every `for` 2 s). A service under system.slice with hugetlb.2MB.max = 2 pages
holds them; a second process of the service faults a third page in and gets SIGBUS.
PagescopeCgroupHugetlbLimitHits fires, critical, once: for the unit, not again for the slice
that carries the same event; its description names the unit and its limit. It clears once the
rate window has passed.
"""

import contextlib
import os
import shutil
import statistics
import subprocess
import tempfile
import time
import unittest

from mixin_test import build
from pagescope_test import (Exporter, SysfsRestorer, kernel_lock, require_root, tool, value)
from test_live_alerts import Prometheus, wait_for

POOL = "/sys/kernel/mm/hugepages/hugepages-2048kB"
PAGE = 2 << 20


def unified_root():
    for root in ("/sys/fs/cgroup", "/sys/fs/cgroup/unified"):
        try:
            with open(os.path.join(root, "cgroup.controllers")) as f:
                return root, f.read().split()
        except OSError:
            continue
    return None, []


def read(path):
    with open(path) as f:
        return f.read().strip()


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def run_in_cgroup(cgroup, *args, **kwargs):
    """Starts tests/tools/hugetlb_hold inside `cgroup` (it joins before it maps anything)."""
    return subprocess.Popen(
        ["sh", "-c", 'echo $$ > "$1/cgroup.procs" && shift && exec "$@"', "sh", cgroup,
         tool("hugetlb_hold")] + [str(a) for a in args],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        **kwargs)


@contextlib.contextmanager
def subtree_hugetlb(cgroup):
    """+hugetlb in cgroup's subtree_control; taken back after if it was not there."""
    control = os.path.join(cgroup, "cgroup.subtree_control")
    enabled = False
    try:
        if "hugetlb" not in read(control).split():
            write(control, "+hugetlb")
            enabled = True
        yield
    finally:
        if enabled:
            write(control, "-hugetlb")


@contextlib.contextmanager
def made_dirs(paths):
    """mkdir for the paths that do not exist (parents first); rmdir of those after."""
    made = []
    try:
        for p in paths:
            if not os.path.isdir(p):
                os.mkdir(p)
                made.append(p)
        yield
    finally:
        for p in reversed(made):
            os.rmdir(p)


@contextlib.contextmanager
def hugetlbfs_2m():
    d = tempfile.mkdtemp(prefix="pagescope-hugetlbfs-")
    subprocess.run(["mount", "-t", "hugetlbfs", "-o", "pagesize=2M", "none", d], check=True)
    try:
        yield d
    finally:
        subprocess.run(["umount", d], check=False)
        os.rmdir(d)


def collector_seconds(exp, scrapes=30):
    """Median of the cgroup_hugetlb collector's own duration over `scrapes` scrapes."""
    return statistics.median(
        value(exp.metrics("/metrics?collect[]=cgroup_hugetlb"),
              "pagescope_scrape_collector_duration_seconds", collector="cgroup_hugetlb")
        for _ in range(scrapes))


class LiveCgroupHugetlb(unittest.TestCase):
    @require_root
    def test_services_under_system_slice_by_default_and_reservations(self):
        root, controllers = unified_root()
        if root is None or "hugetlb" not in controllers:
            self.skipTest("no cgroup v2 hierarchy with the hugetlb controller on this host")
        if not os.path.isdir(POOL):
            self.skipTest("this kernel has no 2 MiB hugepages")
        slice_ = os.path.join(root, "system.slice")
        db = os.path.join(slice_, "pagescope-test-%d-db.service" % os.getpid())
        res = os.path.join(slice_, "pagescope-test-%d-res.service" % os.getpid())
        empty = [os.path.join(slice_, "pagescope-test-%d-idle%03d.service" % (os.getpid(), i))
                 for i in range(100)]
        holders = []
        with kernel_lock(), SysfsRestorer() as sysfs, hugetlbfs_2m() as mnt, \
                subtree_hugetlb(root), made_dirs([slice_]), subtree_hugetlb(slice_), \
                made_dirs([db, res]):
            try:
                sysfs.set(POOL + "/nr_overcommit_hugepages", 0)
                sysfs.set(POOL + "/nr_hugepages", int(read(POOL + "/nr_hugepages")) + 4)
                if int(read(POOL + "/free_hugepages")) < 4:
                    self.fail("the kernel could not give 4 free 2 MiB pages")
                # A database-like service: 2 pages mapped and touched (4 MiB).
                holders.append(run_in_cgroup(db, 2048, 2, 2))
                # A service that maps a hugetlbfs file MAP_SHARED and touches nothing: its 2
                # pages are reserved at mmap time, none is faulted in.
                holders.append(run_in_cgroup(res, 2048, 2, 0, os.path.join(mnt, "shared")))
                for h in holders:
                    self.assertEqual(h.stdout.readline().strip(), "ready")
                with Exporter(["--collector.disable-defaults", "--collector.cgroup_hugetlb"]) \
                        as exp:
                    m = exp.metrics()
                    self.assertEqual(value(m, "pagescope_scrape_collector_success",
                                           collector="cgroup_hugetlb"), 1, exp.log_text())
                    rel_db = os.path.relpath(db, root)
                    rel_res = os.path.relpath(res, root)
                    self.assertEqual(value(m, "pagescope_cgroup_hugetlb_usage_bytes",
                                           cgroup=rel_db, page_size="2MiB",
                                           unit=os.path.basename(db)), 2 * PAGE)
                    self.assertGreater(value(m, "pagescope_cgroup_hugetlb_scanned_cgroups"), 0)
                    # Every reserved page of the database is faulted in: no reservation series.
                    self.assertEqual(read(os.path.join(db, "hugetlb.2MB.rsvd.current")),
                                     str(2 * PAGE))
                    self.assertIsNone(value(m, "pagescope_cgroup_hugetlb_reserved_bytes",
                                            cgroup=rel_db))
                    # Reserved at mmap, nothing faulted in.
                    reserved = value(m, "pagescope_cgroup_hugetlb_reserved_bytes", cgroup=rel_res,
                                     page_size="2MiB")
                    usage = value(m, "pagescope_cgroup_hugetlb_usage_bytes", cgroup=rel_res,
                                  page_size="2MiB")
                    print("\n%s: usage %s, reserved %s (rsvd.current %s)"
                          % (rel_res, usage, reserved,
                             read(os.path.join(res, "hugetlb.2MB.rsvd.current"))))
                    self.assertEqual(reserved, 2 * PAGE)
                    self.assertEqual(usage, 0)
                    # The slice carries both (hierarchical).
                    self.assertEqual(value(m, "pagescope_cgroup_hugetlb_reserved_bytes",
                                           cgroup="system.slice", page_size="2MiB"), 4 * PAGE)

                    # 100 services that hold nothing: no series, and what reading them costs
                    # while other services hold pages (each is read) ...
                    base = collector_seconds(exp)
                    scanned = value(exp.metrics(), "pagescope_cgroup_hugetlb_scanned_cgroups")
                    series = len(exp.metrics("/metrics?collect[]=cgroup_hugetlb"))
                    with made_dirs(empty):
                        m = exp.metrics("/metrics?collect[]=cgroup_hugetlb")
                        self.assertEqual(value(m, "pagescope_cgroup_hugetlb_scanned_cgroups"),
                                         scanned + len(empty))
                        self.assertEqual(len(m), series, "empty services gave series")
                        busy = collector_seconds(exp)
                        # ... and once no service holds or reserves any: system.slice is read,
                        # the services below it are not.
                        for h in holders:
                            h.stdin.close()
                            h.wait(timeout=10)
                            h.stdout.close()
                        holders = []
                        m = exp.metrics("/metrics?collect[]=cgroup_hugetlb")
                        idle_scanned = value(m, "pagescope_cgroup_hugetlb_scanned_cgroups")
                        self.assertEqual(read(os.path.join(slice_, "hugetlb.2MB.current")), "0")
                        self.assertIsNone(value(m, "pagescope_cgroup_hugetlb_usage_bytes",
                                                cgroup="system.slice"))
                        idle = collector_seconds(exp)
                    sizes = len(os.listdir("/sys/kernel/mm/hugepages"))
                    print("cgroup_hugetlb (%d hugepage size%s, median of 30 scrapes): %d "
                          "cgroups read in %.0f us; with %d more services that hold nothing "
                          "while others hold pages, %d read in %.0f us: %.1f us per service; "
                          "once none holds any, %d read in %.0f us"
                          % (sizes, "s" if sizes > 1 else "", scanned, base * 1e6, len(empty),
                             scanned + len(empty), busy * 1e6,
                             (busy - base) * 1e6 / len(empty), idle_scanned, idle * 1e6))
                    self.assertLess(idle_scanned, scanned + len(empty))
            finally:
                for h in holders:
                    h.stdin.close()
                    h.wait(timeout=10)
                    h.stdout.close()

    @require_root
    def test_usage_limit_numa_and_limit_hits(self):
        root, controllers = unified_root()
        if root is None or "hugetlb" not in controllers:
            self.skipTest("no cgroup v2 hierarchy with the hugetlb controller on this host")
        if not os.path.isdir(POOL):
            self.skipTest("this kernel has no 2 MiB hugepages")
        name = "pagescope-test-%d" % os.getpid()
        parent = os.path.join(root, name)
        child = os.path.join(parent, "vm1")
        with kernel_lock(), SysfsRestorer() as sysfs:
            sysfs.set(POOL + "/nr_hugepages", int(read(POOL + "/nr_hugepages")) + 3)
            if int(read(POOL + "/free_hugepages")) < 3:
                self.fail("the kernel could not give 3 free 2 MiB pages")
            enabled_at_root = False
            holder = None
            try:
                if "hugetlb" not in read(os.path.join(root, "cgroup.subtree_control")).split():
                    write(os.path.join(root, "cgroup.subtree_control"), "+hugetlb")
                    enabled_at_root = True
                os.mkdir(parent)
                write(os.path.join(parent, "cgroup.subtree_control"), "+hugetlb")
                os.mkdir(child)
                write(os.path.join(child, "hugetlb.2MB.max"), str(2 * PAGE))

                holder = run_in_cgroup(child, 2048, 2, 2)
                self.assertEqual(holder.stdout.readline().strip(), "ready")
                args = ["--collector.disable-defaults", "--collector.cgroup_hugetlb",
                        "--collector.cgroup_hugetlb.parents=" + name,
                        "--collector.cgroup_hugetlb.numa"]  # per-node usage is opt-in
                with Exporter(args) as exp:
                    m = exp.metrics()
                    self.assertEqual(value(m, "pagescope_scrape_collector_success",
                                           collector="cgroup_hugetlb"), 1, exp.log_text())
                    vm = name + "/vm1"
                    usage = value(m, "pagescope_cgroup_hugetlb_usage_bytes", cgroup=vm,
                                  page_size="2MiB")
                    self.assertEqual(usage, 2 * PAGE)
                    self.assertEqual(usage, int(read(os.path.join(child, "hugetlb.2MB.current"))))
                    # Hierarchical: the parent carries its child's pages.
                    self.assertEqual(value(m, "pagescope_cgroup_hugetlb_usage_bytes",
                                           cgroup=name, page_size="2MiB"), 2 * PAGE)
                    self.assertEqual(value(m, "pagescope_cgroup_hugetlb_limit_bytes", cgroup=vm,
                                           page_size="2MiB"), 2 * PAGE)
                    # The parent has no limit: no series, whatever the kernel prints for it.
                    self.assertIsNone(value(m, "pagescope_cgroup_hugetlb_limit_bytes",
                                            cgroup=name, page_size="2MiB"))
                    per_node = sum(v for (n, ls), v in m.items()
                                   if n == "pagescope_cgroup_hugetlb_numa_usage_bytes"
                                   and ("cgroup", vm) in ls and ("page_size", "2MiB") in ls)
                    self.assertEqual(per_node, 2 * PAGE)
                    self.assertEqual(value(m, "pagescope_cgroup_hugetlb_max_events_total",
                                           cgroup=vm, page_size="2MiB"), 0)
                    self.assertEqual(value(m, "pagescope_cgroup_hugetlb_scanned_cgroups"), 2)

                    # A third page is over the limit: the fault fails with SIGBUS.
                    # (Under AddressSanitizer the tool must not catch SIGBUS itself.)
                    over = run_in_cgroup(child, 2048, 1, 1,
                                         env=dict(os.environ, ASAN_OPTIONS="handle_sigbus=0"))
                    over.stdin.close()
                    over.wait(timeout=30)
                    over.stdout.close()
                    self.assertEqual(over.returncode, -7, "expected SIGBUS from the limit")
                    m = exp.metrics()
                    events = read(os.path.join(child, "hugetlb.2MB.events")).split()
                    self.assertEqual(value(m, "pagescope_cgroup_hugetlb_max_events_total",
                                           cgroup=vm, page_size="2MiB"), 1)
                    self.assertEqual(events, ["max", "1"])
                    self.assertEqual(value(m, "pagescope_cgroup_hugetlb_max_events_total",
                                           cgroup=name, page_size="2MiB"), 1)
                    self.assertEqual(value(m, "pagescope_cgroup_hugetlb_usage_bytes", cgroup=vm,
                                           page_size="2MiB"), 2 * PAGE)
            finally:
                if holder is not None:
                    holder.stdin.close()
                    holder.wait(timeout=10)
                    holder.stdout.close()
                for d in (child, parent):
                    if os.path.isdir(d):
                        os.rmdir(d)
                if enabled_at_root:
                    write(os.path.join(root, "cgroup.subtree_control"), "-hugetlb")


class LiveCgroupHugetlbAlert(unittest.TestCase):
    @require_root
    def test_limit_hit_pages_once_for_the_service_and_clears(self):
        root, controllers = unified_root()
        if root is None or "hugetlb" not in controllers:
            self.skipTest("no cgroup v2 hierarchy with the hugetlb controller on this host")
        if not os.path.isdir(POOL):
            self.skipTest("this kernel has no 2 MiB hugepages")
        if not shutil.which("prometheus"):
            self.fail("prometheus is not installed (scripts/install-deps.sh test)")
        slice_ = os.path.join(root, "system.slice")
        unit = "pagescope-test-%d-dpdk.service" % os.getpid()
        svc = os.path.join(slice_, unit)
        workdir = tempfile.mkdtemp(prefix="pagescope-live-hugetlb-alert-")
        holder = prom = None
        try:
            with kernel_lock(), SysfsRestorer() as sysfs, subtree_hugetlb(root), \
                    made_dirs([slice_]), subtree_hugetlb(slice_), made_dirs([svc]):
                try:
                    sysfs.set(POOL + "/nr_overcommit_hugepages", 0)
                    sysfs.set(POOL + "/nr_hugepages", int(read(POOL + "/nr_hugepages")) + 3)
                    if int(read(POOL + "/free_hugepages")) < 3:
                        self.fail("the kernel could not give 3 free 2 MiB pages")
                    write(os.path.join(svc, "hugetlb.2MB.max"), str(2 * PAGE))
                    holder = run_in_cgroup(svc, 2048, 2, 2)
                    self.assertEqual(holder.stdout.readline().strip(), "ready")
                    build(workdir, {"forOverride": "2s", "rateWindow": "10s"})
                    rules = os.path.join(workdir, "alerts", "pagescope-rules.yml")
                    with Exporter(["--collector.disable-defaults",
                                   "--collector.cgroup_hugetlb"]) as exp:
                        prom = Prometheus(workdir, rules, exp.port)
                        self.check(prom, svc, unit)
                finally:
                    if prom is not None:
                        prom.stop()
                    if holder is not None:
                        holder.stdin.close()
                        holder.wait(timeout=10)
                        holder.stdout.close()
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    def check(self, prom, svc, unit):
        hits = 'pagescope_cgroup_hugetlb_max_events_total{unit="%s",page_size="2MiB"}' % unit
        wait_for("the service's limit-hit counter at 0",
                 lambda: [r for r in prom.query(hits) if r["value"][1] == "0"], timeout=30)
        time.sleep(3)  # several evaluations with the service inside its limit
        self.assertEqual(prom.alerts("PagescopeCgroupHugetlbLimitHits"), [])

        # One more page than the limit: the fault fails with SIGBUS.
        over = run_in_cgroup(svc, 2048, 1, 1, env=dict(os.environ, ASAN_OPTIONS="handle_sigbus=0"))
        over.stdin.close()
        over.wait(timeout=30)
        over.stdout.close()
        self.assertEqual(over.returncode, -7, "expected SIGBUS from the limit")
        self.assertEqual(read(os.path.join(svc, "hugetlb.2MB.events")).split(), ["max", "1"])
        t0 = time.time()
        firing = wait_for("PagescopeCgroupHugetlbLimitHits firing", lambda: [
            a for a in prom.alerts("PagescopeCgroupHugetlbLimitHits")
            if a["state"] == "firing"], timeout=60)
        print("\nPagescopeCgroupHugetlbLimitHits firing %.1f s after the SIGBUS: %s"
              % (time.time() - t0, firing[0]["annotations"]["description"]))
        time.sleep(2)  # the slice's counter rose too: no second alert for it
        alerts = prom.alerts("PagescopeCgroupHugetlbLimitHits")
        self.assertEqual(len(alerts), 1, alerts)
        labels = alerts[0]["labels"]
        self.assertEqual((labels["unit"], labels["page_size"], labels["severity"]),
                         (unit, "2MiB", "critical"))
        self.assertNotIn("cgroup", labels)
        description = alerts[0]["annotations"]["description"]
        self.assertIn("unit " + unit, description)
        self.assertIn("its smallest limit: 4MiB", description)
        # The slice saw the same event.
        self.assertEqual(
            [r["value"][1] for r in prom.query(
                'pagescope_cgroup_hugetlb_max_events_total{cgroup="system.slice"}')], ["1"])

        t0 = time.time()
        wait_for("PagescopeCgroupHugetlbLimitHits to clear",
                 lambda: not prom.alerts("PagescopeCgroupHugetlbLimitHits"), timeout=60)
        print("cleared %.1f s later (rate window 10 s)" % (time.time() - t0))


if __name__ == "__main__":
    unittest.main()
