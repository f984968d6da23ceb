"""Per-guest placement without harm, on the real kernel (issue 21): stand-in QEMU guests
(tests/tools/standin_guest: comm qemu-system-x86, a QEMU command line, one thread that maps and
unmaps a page in a loop and prints its worst round each second) scraped by the real binary.

Stand-in guests are scripts/bench-harm.py's (its Guest).

- A hugetlb-backed guest in a cgroup of its own (made here on the v2 hierarchy with the hugetlb
  controller enabled for it, and on the v1 memory controller where the host has one): its
  hugetlb per node comes from hugetlb.<size>.numa_stat (hugetlb_source="cgroup") and equals what
  numa_maps says; the same guest outside a cgroup of its own is walked (hugetlb_source
  "numa_maps"), with the same figures.
- A 4 KiB-backed guest of PAGESCOPE_HARM_GIB GiB (default 1; the done-check of issue 21 runs it
  with 16, which needs that much free memory) in its own cgroup: scraped once a second (the
  default configuration, then with numa_locality) it is never walked nor sampled, its memory per
  node comes from memory.numa_stat (memory_source="cgroup"), and its worst stall while scraped
  is printed beside the idle one (and must stay within 1 ms of it). The same guest outside a
  cgroup of its own, with numa_locality: sampled (memory_source="sampled", its sample size in
  pagescope_vm_placement_sample_pages), never walked.
- The exporter as nobody without capabilities (as `docker run` without them): a guest it may not
  walk or sample has hugetlb_source="unknown", its numa_maps counted in
  pagescope_scrape_denied_reads{collector="qemu",file="numa_maps"} and warned about, and the qemu
  collector still succeeds: the gap shows, not a zero.

Needs root (cgroups, the hugepage pool, the SCHED_FIFO stall thread, becoming nobody); holds
kernel_lock() and restores the pool, the v2 subtree_control and removes its cgroups, also on
failure. PAGESCOPE_HARM_SECONDS (default 8) is the length of each measured phase.
"""

import contextlib
import importlib.util
import os
import re
import statistics
import time
import unittest
import uuid

from pagescope_test import (POOL_2M, SOURCE_DIR, TOOLS_DIR, Exporter, SysfsRestorer,
                            kernel_lock, require_root, value)

V2 = "/sys/fs/cgroup/unified" if os.path.exists("/sys/fs/cgroup/unified/cgroup.controllers") \
    else "/sys/fs/cgroup"
V1_MEMORY = "/sys/fs/cgroup/memory"
GIB = int(os.environ.get("PAGESCOPE_HARM_GIB", "1"))
SECONDS = float(os.environ.get("PAGESCOPE_HARM_SECONDS", "8"))
NOBODY = 65534
SETPRIV = ["setpriv", "--reuid=%d" % NOBODY, "--regid=%d" % NOBODY, "--clear-groups",
           "--inh-caps=-all", "--bounding-set=-all", "--"]
QEMU_ONLY = ["--collector.disable-defaults", "--collector.qemu"]


@contextlib.contextmanager
def own_cgroup(sysfs):
    """Cgroups made for one guest: on the v2 hierarchy (hugetlb enabled for its children, as
    systemd does for machine.slice) and on the v1 memory controller when the host has it. Yields
    the directories; the guest joins them before it execs. Removed after (the guest must be
    gone)."""
    name = "pagescope-test-" + uuid.uuid4().hex[:8]
    with open(os.path.join(V2, "cgroup.controllers")) as f:
        if "hugetlb" not in f.read().split():
            raise unittest.SkipTest("the v2 hierarchy %s has no hugetlb controller" % V2)
    with open(os.path.join(V2, "cgroup.subtree_control")) as f:
        enabled = f.read().split()
    if "hugetlb" not in enabled:
        sysfs.saved.append((os.path.join(V2, "cgroup.subtree_control"), "-hugetlb"))
        with open(os.path.join(V2, "cgroup.subtree_control"), "w") as f:
            f.write("+hugetlb")
    dirs = [os.path.join(V2, name)]
    if os.path.isdir(V1_MEMORY):
        dirs.append(os.path.join(V1_MEMORY, name))
    made = []
    try:
        for d in dirs:
            os.mkdir(d)
            made.append(d)
        yield dirs
    finally:
        for d in reversed(made):
            for _ in range(50):
                try:
                    os.rmdir(d)
                    break
                except OSError:
                    time.sleep(0.1)  # the guest's exit is still being accounted


def _bench_harm():
    """scripts/bench-harm.py as a module: its stand-in Guest."""
    spec = importlib.util.spec_from_file_location(
        "bench_harm", os.path.join(SOURCE_DIR, "scripts", "bench-harm.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Guest(_bench_harm().Guest):
    """bench-harm's stand-in guest (its mapping thread under SCHED_FIFO as root), started inside
    `cgroups` when given."""

    def __init__(self, name, backing, mib, cgroups=()):
        super().__init__(TOOLS_DIR, name, backing, mib, cgroups=cgroups)

    def stall_us(self, t0, t1):
        """(worst, median) of the seconds' worst rounds between t0 and t1, in µs."""
        got = self.between(t0, t1)
        if not got:
            raise AssertionError("no stall reports between the phase's bounds")
        return max(got), statistics.median(got)

    def hugetlb_numa_maps(self):
        """{node: bytes} of the 2 MiB hugetlb pages numa_maps shows."""
        out = {}
        with open("/proc/%d/numa_maps" % self.proc.pid) as f:
            for line in f:
                if " huge " in line and "kernelpagesize_kB=2048" in line:
                    for node, pages in re.findall(r" N(\d+)=(\d+)", line):
                        out[node] = out.get(node, 0) + int(pages) * (2 << 20)
        return out


@contextlib.contextmanager
def raised_pool(pages):
    """The 2 MiB pool raised by `pages` (restored after), or the test skipped; yields the
    SysfsRestorer, for more settings to restore."""
    with SysfsRestorer() as sysfs:
        nr = int(sysfs.read(POOL_2M + "/nr_hugepages"))
        sysfs.set(POOL_2M + "/nr_hugepages", nr + pages)
        if int(sysfs.read(POOL_2M + "/free_hugepages")) < pages:
            raise unittest.SkipTest("the kernel could not give %d free 2 MiB pages" % pages)
        yield sysfs


QEMU_MS = []  # the qemu collector's time per scrape (ms) of the last scraped() phase


def scraped(args, seconds, prefix=()):
    """Runs the exporter, scrapes it once a second for `seconds`; returns (start, end, last
    metrics, log). QEMU_MS gets the qemu collector's duration of each scrape."""
    QEMU_MS.clear()
    with Exporter(args, prefix=prefix) as exp:
        t0 = time.monotonic()
        m = {}
        while time.monotonic() - t0 < seconds:
            tick = time.monotonic()
            m = exp.metrics()
            QEMU_MS.append(1e3 * value(m, "pagescope_scrape_collector_duration_seconds",
                                       collector="qemu"))
            time.sleep(max(0.0, 1.0 - (time.monotonic() - tick)))
        return t0, time.monotonic(), m, exp.log_text()


def idle_stall(g):
    """(worst, median) stall of the guest while nothing scrapes, for SECONDS."""
    time.sleep(1.5)
    t0 = time.monotonic()
    time.sleep(SECONDS)
    stall = g.stall_us(t0, time.monotonic())
    time.sleep(2)
    return stall


def load():
    with open("/proc/loadavg") as f:
        return f.read().split()[0]


def vm_info(m, vm):
    got = [dict(ls) for (n, ls), _ in m.items() if n == "pagescope_vm_info" and
           dict(ls)["vm"] == vm]
    if len(got) != 1:
        raise AssertionError("pagescope_vm_info{vm=%r}: %d series" % (vm, len(got)))
    return got[0]


def hugetlb_by_node(m, vm):
    return {dict(ls)["node"]: v for (n, ls), v in m.items()
            if n == "pagescope_vm_hugetlb_bytes" and dict(ls)["vm"] == vm
            and dict(ls)["page_size"] == "2MiB"}


def walks(m, result):
    return value(m, "pagescope_scrape_walks_total", collector="qemu", file="numa_maps",
                 result=result)


class LiveQemuPlacement(unittest.TestCase):
    @require_root
    def test_hugetlb_from_own_cgroup_equals_numa_maps(self):
        pages = 16
        with kernel_lock(), raised_pool(pages) as sysfs:
            with own_cgroup(sysfs) as dirs:
                name = "ps-cg-" + uuid.uuid4().hex[:6]
                g = Guest(name, "hugetlb", pages * 2, dirs)
                try:
                    truth = g.hugetlb_numa_maps()
                    self.assertEqual(sum(truth.values()), pages * (2 << 20), truth)
                    _, _, m, log = scraped(QEMU_ONLY, 2)
                finally:
                    g.stop()
            info = vm_info(m, name)
            print("\nhugetlb guest in its own cgroup: %s; numa_maps %s" % (
                hugetlb_by_node(m, name), truth))
            self.assertEqual(info["hugetlb_source"], "cgroup", log)
            self.assertEqual(hugetlb_by_node(m, name), {k: float(v) for k, v in truth.items()})
            # Outside a cgroup of its own (the test's cgroup holds other processes): walked,
            # the same figures.
            name = "ps-walk-" + uuid.uuid4().hex[:6]
            g = Guest(name, "hugetlb", pages * 2)
            try:
                truth = g.hugetlb_numa_maps()
                _, _, m, log = scraped(QEMU_ONLY, 2)
            finally:
                g.stop()
            self.assertEqual(vm_info(m, name)["hugetlb_source"], "numa_maps", log)
            self.assertEqual(hugetlb_by_node(m, name), {k: float(v) for k, v in truth.items()})
            self.assertGreater(walks(m, "done"), 0)

    @require_root
    def test_4k_guest_own_cgroup_is_not_walked_and_not_stalled(self):
        mib = GIB * 1024
        with kernel_lock(), SysfsRestorer() as sysfs, own_cgroup(sysfs) as dirs:
            name = "ps-4k-" + uuid.uuid4().hex[:6]
            g = Guest(name, "4k", mib, dirs)
            try:
                idle = idle_stall(g)
                d0, d1, default, log = scraped(QEMU_ONLY, SECONDS)
                default_ms = statistics.median(QEMU_MS)
                time.sleep(2)
                l0, l1, locality, log2 = scraped(QEMU_ONLY + ["--collector.qemu.numa-locality"],
                                                 SECONDS)
                by_default, with_locality = g.stall_us(d0 + 1, d1), g.stall_us(l0 + 1, l1)
            finally:
                g.stop()
        print("\n%d GiB 4 KiB guest in its own cgroup, worst (median) stall of the seconds: idle "
              "%d (%d) µs, scraped once a second by default %d (%d) µs, with numa_locality %d "
              "(%d) µs; load %s; qemu collector per scrape (median) %.2f ms by default, %.2f ms "
              "with numa_locality" % ((GIB,) + idle + by_default + with_locality + (
                  load(), default_ms, statistics.median(QEMU_MS))))
        self.assertEqual(vm_info(default, name)["hugetlb_source"], "status", log)
        info = vm_info(locality, name)
        self.assertEqual(info["memory_source"], "cgroup", log2)
        self.assertIsNotNone(value(locality, "pagescope_vm_memory_local_ratio", vm=name))
        # Not sampled (no sample size), and its memory per node from its cgroup (the walk
        # counters are the host's: a lab guest of another test may run beside it).
        for m in (default, locality):
            self.assertIsNone(value(m, "pagescope_vm_placement_sample_pages", vm=name))
        self.assertGreater(walks(locality, "cgroup"), 0)
        # The median of the seconds' worst rounds: a machine shared with other work adds
        # scheduling spikes to any second, scraped or not (the worst rounds are printed).
        self.assertLessEqual(by_default[1], idle[1] + 1000)
        self.assertLessEqual(with_locality[1], idle[1] + 1000)

    @require_root
    def test_4k_guest_without_own_cgroup_is_sampled(self):
        mib = GIB * 1024
        with kernel_lock():
            name = "ps-sample-" + uuid.uuid4().hex[:6]
            g = Guest(name, "4k", mib)
            try:
                idle = idle_stall(g)
                s0, s1, m, log = scraped(QEMU_ONLY + ["--collector.qemu.numa-locality"], SECONDS)
                sampled = g.stall_us(s0 + 1, s1)
            finally:
                g.stop()
        info = vm_info(m, name)
        pages = value(m, "pagescope_vm_placement_sample_pages", vm=name)
        print("\n%d GiB 4 KiB guest without a cgroup of its own, numa_locality: memory_source "
              "%s, sample of %s pages; worst (median) stall of the seconds: idle %d (%d) µs, "
              "scraped %d (%d) µs; longest lock hold %s s; load %s" % (
                  (GIB, info["memory_source"], pages) + idle + sampled + (
                      value(m, "pagescope_scrape_walk_max_seconds", collector="qemu",
                            file="numa_maps"), load())))
        self.assertEqual(info["memory_source"], "sampled", log)
        self.assertEqual(info["hugetlb_source"], "status")
        self.assertGreaterEqual(pages, 1000)
        self.assertGreater(walks(m, "sampled"), 0)
        self.assertEqual(value(m, "pagescope_vm_memory_local_ratio", vm=name), 1.0)  # one node
        self.assertLessEqual(sampled[1], idle[1] + 1000)

    @require_root
    def test_unprivileged_run_shows_the_gap(self):
        pages = 8
        with kernel_lock(), raised_pool(pages):
            name = "ps-denied-" + uuid.uuid4().hex[:6]
            g = Guest(name, "hugetlb", pages * 2)
            try:
                _, _, m, log = scraped(QEMU_ONLY, 2, prefix=SETPRIV)
            finally:
                g.stop()
        info = vm_info(m, name)
        print("\nas nobody: hugetlb_source %s, denied reads %s" % (
            info["hugetlb_source"], {dict(ls)["file"]: v for (n, ls), v in m.items()
                                     if n == "pagescope_scrape_denied_reads"}))
        self.assertEqual(info["hugetlb_source"], "unknown")
        self.assertEqual(hugetlb_by_node(m, name), {})  # no series: not a zero
        self.assertGreaterEqual(value(m, "pagescope_scrape_denied_reads", collector="qemu",
                                      file="numa_maps"), 1)
        self.assertEqual(value(m, "pagescope_scrape_collector_success", collector="qemu"), 1)
        self.assertIn("numa_maps", log)
        self.assertIn("cannot read", log)


if __name__ == "__main__":
    unittest.main()
