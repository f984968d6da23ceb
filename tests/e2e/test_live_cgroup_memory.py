"""Live kernel: the memory cgroup controller as pagescope's cgroup_memory collector sees it, and
locked memory and per-node hugepages of a process group.

cgroup v1 (this project's test machine is hybrid: the memory controller on v1 at
/sys/fs/cgroup/memory, the unified hierarchy at /sys/fs/cgroup/unified): creates
pagescope-test-<pid>/job.service with memory.limit_in_bytes = 64 MiB (and the same path in the
unified hierarchy, where the kernel accounts PSI for the tasks), runs tests/tools/mlock_hold
there (16 MiB locked: the group's usage, and the process group named by {{.Unit}} shows 16 MiB
locked), then a process that touches 128 MiB: it hits the limit (failcnt, event "max") and the
OOM killer kills it (event "oom_kill").

Kubelet-shaped trees of both drivers (issue 23), v1: a Burstable pod without a memory limit and a
BestEffort pod, whose containers' processes go over the kubepods cgroup's limit (kubelet limits
it to the node's allocatable memory) and are OOM-killed: each pod shows its kill by default (v1
counts it in the container's cgroup; pagescope sums the pod's subtree), the slices none.

cgroup v2: the same with memory.high set low (a process above it shows "high" events and
pressure; it is stopped once they show, since without swap the throttling makes it take minutes)
and memory.max (max events, oom_kill). Skipped where the memory controller is not on v2 (this
machine): tests/e2e/test_lab_cgroup_memory.py runs the same in the guest lab's 6.1 kernel.

A MAP_HUGETLB region (tests/tools/hugetlb_hold) shows in its group's hugetlb bytes per NUMA node
(processes collector, hugetlb_numa: true), matching the process's numa_maps.

Everything created is removed, and the hugepage pool restored, even when a check fails.
"""

import contextlib
import os
import re
import subprocess
import tempfile
import time
import unittest

from pagescope_test import (Exporter, SysfsRestorer, kernel_lock, require_root, tool, value)

V1 = "/sys/fs/cgroup/memory"
UNIFIED = "/sys/fs/cgroup/unified"
POOL = "/sys/kernel/mm/hugepages/hugepages-2048kB"
MIB = 1 << 20


def read(path):
    with open(path) as f:
        return f.read().strip()


def write(path, text):
    with open(path, "w") as f:
        f.write(str(text))


def v2_root_with_memory():
    """The cgroup v2 root when the memory controller is available there, else None."""
    for root in ("/sys/fs/cgroup", UNIFIED):
        try:
            if "memory" in read(os.path.join(root, "cgroup.controllers")).split():
                return root
        except OSError:
            continue
    return None


@contextlib.contextmanager
def cgroup_dirs(paths):
    """Creates the directories (parents first); removes them (children first) after, once their
    processes are gone."""
    made = []
    try:
        for p in paths:
            os.mkdir(p)
            made.append(p)
        yield
    finally:
        for p in reversed(made):
            for _ in range(50):
                try:
                    os.rmdir(p)
                    break
                except OSError:
                    time.sleep(0.1)  # a killed process may still be leaving
            else:
                os.rmdir(p)


def run_in(cgroups, argv, **kwargs):
    """Starts argv after the shell joined every cgroup of `cgroups` (before it execs)."""
    joins = " && ".join('echo $$ > "%s/cgroup.procs"' % c for c in cgroups)
    return subprocess.Popen(["sh", "-c", joins + ' && exec "$@"', "sh"] + argv,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, **kwargs)


def stop(proc):
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=10)
    for f in (proc.stdin, proc.stdout):
        with contextlib.suppress(OSError):
            f.close()


def sample(metrics, name, **labels):
    return value(metrics, name, **labels)


def exceed(cgroups, mib):
    """Runs touch_pages over `mib` MiB in the cgroups and returns its exit status (negative:
    killed by that signal)."""
    pages = mib * MIB // os.sysconf("SC_PAGE_SIZE")
    p = run_in(cgroups, [tool("touch_pages"), str(pages)])
    try:
        assert p.stdout.readline().strip() == "mapped"
        p.stdin.write("go\n")
        p.stdin.flush()
        p.stdout.readline()  # "touched" if it survived
        p.stdin.close()
        return p.wait(timeout=60)
    finally:
        stop(p)


# Kubelet-shaped trees (issue 23), one per cgroup driver: (kubepods root, [(qos level, pod
# cgroup, container cgroup, pod UID, qos)]). A Burstable pod without a memory limit and a
# BestEffort pod in each; only the kubepods root is limited, as kubelet limits it to the node's
# allocatable memory.
KUBELET_TREES = [
    ("kubepods", [
        ("burstable", "pod1f0e2d3c-4b5a-4697-8877-a6b5c4d3e2f1",
         "3a4b5c6d7e8f90a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5",
         "1f0e2d3c-4b5a-4697-8877-a6b5c4d3e2f1", "burstable"),
        ("besteffort", "pod2e1f0d3c-5a4b-4796-9988-b7c6d5e4f3a2",
         "4b5c6d7e8f90a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b6",
         "2e1f0d3c-5a4b-4796-9988-b7c6d5e4f3a2", "besteffort"),
    ]),
    ("kubepods.slice", [
        ("kubepods-burstable.slice",
         "kubepods-burstable-pod3d2c1b0a_6f5e_4d3c_8b2a_c9d8e7f6a5b4.slice",
         "cri-containerd-5c6d7e8f90a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b6c7.scope",
         "3d2c1b0a-6f5e-4d3c-8b2a-c9d8e7f6a5b4", "burstable"),
        ("kubepods-besteffort.slice",
         "kubepods-besteffort-pod4c3b2a1d_7e6f_4a5b_9c8d_d0e9f8a7b6c5.slice",
         "cri-containerd-6d7e8f90a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b6c7d8.scope",
         "4c3b2a1d-7e6f-4a5b-9c8d-d0e9f8a7b6c5", "besteffort"),
    ]),
]


def kubelet_dirs(base):
    """Every directory of KUBELET_TREES below `base`, parents first."""
    out = [base]
    for root, pods in KUBELET_TREES:
        out.append(os.path.join(base, root))
        for qos_dir, pod, container, _, _ in pods:
            for d in (qos_dir, os.path.join(qos_dir, pod),
                      os.path.join(qos_dir, pod, container)):
                if os.path.join(base, root, d) not in out:
                    out.append(os.path.join(base, root, d))
    return out


def assert_pods_show_oom_kills(test, m, base, what):
    """In scrape `m`: every pod of KUBELET_TREES below `base` (relative to the hierarchy root)
    has an oom_kill count of at least 1 and no memory limit series; the kubepods roots and QoS
    levels have no oom_kill series."""
    for root, pods in KUBELET_TREES:
        for qos_dir, pod, _, uid, qos in pods:
            rel = "/".join((base, root, qos_dir, pod))
            kills = value(m, "pagescope_cgroup_memory_events_total", cgroup=rel, pod=uid, qos=qos,
                          event="oom_kill")
            print("\n%s %s: oom_kill %s" % (what, rel, kills))
            test.assertIsNotNone(kills, rel)
            test.assertGreaterEqual(kills, 1, rel)
            test.assertIsNone(value(m, "pagescope_cgroup_memory_limit_bytes", cgroup=rel,
                                    limit="max"))
        for cg in [base + "/" + root] + ["/".join((base, root, q)) for q, _, _, _, _ in pods]:
            test.assertIsNone(value(m, "pagescope_cgroup_memory_events_total", cgroup=cg,
                                    event="oom_kill"), cg)


class LiveCgroupMemory(unittest.TestCase):
    def exporter(self, workdir, parent, extra_yaml=""):
        config = os.path.join(workdir, "pagescope.yml")
        write(config, "collectors:\n  processes:\n    hugetlb_numa: true\n    groups:\n"
                      "      - {name: 'unit:{{.Unit}}', comm: [mlock_hold, touch_pages]}\n"
                      "      - {name: 'cg:{{.Cgroup}}', comm: [hugetlb_hold]}\n" + extra_yaml)
        return Exporter(["--config.file=" + config, "--collector.disable-defaults",
                         "--collector.cgroup_memory", "--collector.processes",
                         "--collector.cgroup_memory.parents=" + parent])

    @require_root
    def test_v1_limit_hits_oom_kill_pressure_and_locked_memory(self):
        if not os.path.exists(os.path.join(V1, "memory.limit_in_bytes")):
            self.skipTest("no cgroup v1 memory controller at %s on this host" % V1)
        name = "pagescope-test-%d" % os.getpid()
        unit = "job.service"
        rel = name + "/" + unit
        child = os.path.join(V1, rel)
        dirs = [os.path.join(V1, name), child]
        hybrid = os.path.isdir(UNIFIED)
        if hybrid:  # PSI is accounted where the task sits in the unified hierarchy
            dirs += [os.path.join(UNIFIED, name), os.path.join(UNIFIED, rel)]
        joins = [child] + ([os.path.join(UNIFIED, rel)] if hybrid else [])
        holder = None
        with kernel_lock(), tempfile.TemporaryDirectory() as workdir, cgroup_dirs(dirs):
            try:
                write(os.path.join(child, "memory.limit_in_bytes"), 64 * MIB)
                holder = run_in(joins, [tool("mlock_hold"), "16"])
                self.assertEqual(holder.stdout.readline().strip(), "ready")
                with self.exporter(workdir, name) as e:
                    m = e.metrics()
                    labels = {"cgroup": rel, "unit": unit}
                    usage = sample(m, "pagescope_cgroup_memory_usage_bytes", **labels)
                    self.assertIsNotNone(usage, e.scrape())
                    self.assertGreaterEqual(usage, 16 * MIB)
                    self.assertEqual(sample(m, "pagescope_cgroup_memory_limit_bytes",
                                            limit="max", **labels), 64 * MIB)
                    self.assertEqual(sample(m, "pagescope_cgroup_memory_events_total",
                                            event="oom_kill", **labels), 0)
                    self.assertIsNotNone(sample(m, "pagescope_cgroup_memory_events_total",
                                                event="max", **labels))
                    # The parent itself (depth 0), no limit: usage only, no limit series.
                    self.assertGreaterEqual(sample(m, "pagescope_cgroup_memory_usage_bytes",
                                                   cgroup=name), 16 * MIB)
                    self.assertIsNone(sample(m, "pagescope_cgroup_memory_limit_bytes",
                                             cgroup=name))
                    if hybrid:
                        self.assertIsNotNone(sample(
                            m, "pagescope_cgroup_pressure_memory_some_seconds_total", **labels))
                    # mlock_hold's group, named by its cgroup's unit.
                    self.assertEqual(sample(m, "pagescope_process_locked_bytes",
                                            group="unit:" + unit), 16 * MIB)
                    self.assertEqual(sample(m, "pagescope_process_pinned_bytes",
                                            group="unit:" + unit), 0)

                    status = exceed(joins, 128)
                    self.assertEqual(status, -9, "touch_pages over the 64 MiB limit should be "
                                                 "OOM-killed (no swap here), got %s" % status)
                    self.assertIsNone(holder.poll(), "the OOM killer took the mlocked holder")
                    m = e.metrics()
                    print("\nv1 %s after the OOM kill: usage %.0f MiB, max events %d, oom_kill "
                          "%d, pressure some %s s" % (
                              rel, sample(m, "pagescope_cgroup_memory_usage_bytes", **labels)
                              / MIB,
                              sample(m, "pagescope_cgroup_memory_events_total", event="max",
                                     **labels),
                              sample(m, "pagescope_cgroup_memory_events_total",
                                     event="oom_kill", **labels),
                              sample(m, "pagescope_cgroup_pressure_memory_some_seconds_total",
                                     **labels)))
                    self.assertGreater(sample(m, "pagescope_cgroup_memory_events_total",
                                              event="max", **labels), 0)
                    self.assertEqual(sample(m, "pagescope_cgroup_memory_events_total",
                                            event="max", **labels),
                                     float(read(os.path.join(child, "memory.failcnt"))))
                    self.assertGreaterEqual(sample(m, "pagescope_cgroup_memory_events_total",
                                                   event="oom_kill", **labels), 1)
                    self.assertEqual(sample(m, "pagescope_scrape_collector_success",
                                            collector="cgroup_memory"), 1)
            finally:
                if holder is not None:
                    holder.stdin.close()
                    stop(holder)

    @require_root
    def test_v1_pods_without_limits_show_their_oom_kills(self):
        """Issue 23 on this kernel's v1 memory controller: in kubelet-shaped trees of both
        drivers, a process in the container of a Burstable pod without a memory limit and one
        in a BestEffort pod's container go over the kubepods limit (kubelet's allocatable) and
        are OOM-killed. v1 counts each kill only in the container's cgroup; pagescope shows it
        on the pod by default. The slices and QoS levels show none."""
        if not os.path.exists(os.path.join(V1, "memory.limit_in_bytes")):
            self.skipTest("no cgroup v1 memory controller at %s on this host" % V1)
        name = "pagescope-test-%d" % os.getpid()
        base = os.path.join(V1, name)
        with kernel_lock(), tempfile.TemporaryDirectory() as workdir, \
                cgroup_dirs(kubelet_dirs(base)):
            for root, pods in KUBELET_TREES:
                write(os.path.join(base, root, "memory.limit_in_bytes"), 64 * MIB)
                for qos_dir, pod, container, _, _ in pods:
                    status = exceed([os.path.join(base, root, qos_dir, pod, container)], 128)
                    self.assertEqual(status, -9, "%s/%s: touch_pages over the kubepods limit "
                                                 "should be OOM-killed, got %s" % (root, pod,
                                                                                   status))
                    # v1: the pod's own count stays 0, the container's has the kill.
                    self.assertEqual(read(os.path.join(base, root, qos_dir, pod,
                                                       "memory.oom_control")).split()[-1], "0")
            parents = ",".join(name + "/" + root for root, _ in KUBELET_TREES)
            with Exporter(["--collector.disable-defaults", "--collector.cgroup_memory",
                           "--collector.cgroup_memory.parents=" + parents]) as e:
                m = e.metrics()
                assert_pods_show_oom_kills(self, m, name, "v1")
                for root, _ in KUBELET_TREES:
                    self.assertEqual(sample(m, "pagescope_cgroup_memory_limit_bytes",
                                            cgroup=name + "/" + root, limit="max"), 64 * MIB)
                self.assertEqual(sample(m, "pagescope_scrape_collector_success",
                                        collector="cgroup_memory"), 1)

    @require_root
    def test_v2_high_throttling_pressure_and_oom_kill(self):
        root = v2_root_with_memory()
        if root is None:
            self.skipTest("the memory controller is not on cgroup v2 on this host (a hybrid "
                          "layout keeps it on v1; the unified hierarchy holds %s): "
                          "test_lab_cgroup_memory runs this in the guest lab" % (
                              read(os.path.join(UNIFIED, "cgroup.controllers")) or "nothing"
                              if os.path.exists(os.path.join(UNIFIED, "cgroup.controllers"))
                              else "no controller"))
        name = "pagescope-test-%d" % os.getpid()
        parent = os.path.join(root, name)
        high, oom = os.path.join(parent, "high.service"), os.path.join(parent, "oom.service")
        control = os.path.join(root, "cgroup.subtree_control")
        enabled = False
        with kernel_lock(), tempfile.TemporaryDirectory() as workdir:
            try:
                if "memory" not in read(control).split():
                    write(control, "+memory")
                    enabled = True
                with cgroup_dirs([parent, high, oom]):
                    write(os.path.join(parent, "cgroup.subtree_control"), "+memory")
                    write(os.path.join(high, "memory.high"), 16 * MIB)
                    write(os.path.join(oom, "memory.max"), 32 * MIB)
                    if os.path.exists(os.path.join(oom, "memory.swap.max")):
                        write(os.path.join(oom, "memory.swap.max"), 0)
                    # 48 MiB against memory.high = 16 MiB: throttled and made to reclaim, not
                    # killed. Without swap the throttling makes it take minutes (247 s in a TCG
                    # guest), so it is stopped once the kernel has counted high events and
                    # stall time.
                    pages = 48 * MIB // os.sysconf("SC_PAGE_SIZE")
                    throttled = run_in([high], [tool("touch_pages"), str(pages)])
                    try:
                        self.assertEqual(throttled.stdout.readline().strip(), "mapped")
                        throttled.stdin.write("go\n")
                        throttled.stdin.flush()
                        deadline = time.time() + 60
                        while time.time() < deadline:
                            events = dict(line.split() for line in
                                          read(os.path.join(high, "memory.events")).splitlines())
                            some = re.search(r"^some .*total=(\d+)",
                                             read(os.path.join(high, "memory.pressure")), re.M)
                            if int(events["high"]) > 0 and some and int(some.group(1)) > 0:
                                break
                            time.sleep(0.2)
                        self.assertNotEqual(exceed([oom], 96), 0)
                        with self.exporter(workdir, name) as e:
                            m = e.metrics()
                            hl = {"cgroup": name + "/high.service", "unit": "high.service"}
                            ol = {"cgroup": name + "/oom.service", "unit": "oom.service"}
                            self.assertEqual(sample(m, "pagescope_cgroup_memory_limit_bytes",
                                                    limit="high", **hl), 16 * MIB)
                            self.assertGreater(sample(m, "pagescope_cgroup_memory_events_total",
                                                      event="high", **hl), 0)
                            self.assertGreater(sample(
                                m, "pagescope_cgroup_pressure_memory_some_seconds_total", **hl), 0)
                            self.assertEqual(sample(m, "pagescope_cgroup_memory_limit_bytes",
                                                    limit="max", **ol), 32 * MIB)
                            self.assertGreater(sample(m, "pagescope_cgroup_memory_events_total",
                                                      event="max", **ol), 0)
                            self.assertGreaterEqual(sample(
                                m, "pagescope_cgroup_memory_events_total", event="oom_kill",
                                **ol), 1)
                    finally:
                        stop(throttled)
            finally:
                if enabled:
                    write(control, "-memory")

    @require_root
    def test_hugetlb_region_per_node_in_its_group(self):
        if not os.path.isdir(POOL):
            self.skipTest("this kernel has no 2 MiB hugepages")
        holder = None
        with kernel_lock(), SysfsRestorer() as sysfs, \
                tempfile.TemporaryDirectory() as workdir:
            try:
                sysfs.set(POOL + "/nr_overcommit_hugepages", 0)
                sysfs.set(POOL + "/nr_hugepages", int(read(POOL + "/nr_hugepages")) + 4)
                holder = subprocess.Popen([tool("hugetlb_hold"), "2048", "3", "3"],
                                          stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                          text=True)
                self.assertEqual(holder.stdout.readline().strip(), "ready")
                per_node = {}
                for line in read("/proc/%d/numa_maps" % holder.pid).splitlines():
                    if " huge " in line and "kernelpagesize_kB=2048" in line:
                        for node, pages in re.findall(r" N(\d+)=(\d+)", line):
                            per_node[node] = per_node.get(node, 0) + int(pages) * 2 * MIB
                self.assertEqual(sum(per_node.values()), 3 * 2 * MIB, per_node)
                cgroup = ""
                for line in read("/proc/%d/cgroup" % holder.pid).splitlines():
                    if line.split(":")[1] == "memory" or (cgroup == "" and line.startswith("0::")):
                        cgroup = line.split(":", 2)[2].lstrip("/")
                with self.exporter(workdir, "none") as e:
                    m = e.metrics()
                    group = "cg:" + cgroup
                    got = {dict(ls)["node"]: v for (n, ls), v in m.items()
                           if n == "pagescope_process_hugetlb_node_bytes"
                           and dict(ls).get("group") == group
                           and dict(ls).get("page_size") == "2MiB"}
                    print("\nhugetlb_hold in group %r: %s (numa_maps: %s)" % (group, got,
                                                                              per_node))
                    self.assertEqual(got, {k: float(v) for k, v in per_node.items()})
                    for result in ("skipped", "deferred"):
                        self.assertEqual(sample(m, "pagescope_scrape_walks_total",
                                                collector="processes", file="numa_maps",
                                                result=result), 0)
            finally:
                if holder is not None:
                    holder.stdin.close()
                    stop(holder)


if __name__ == "__main__":
    unittest.main()
