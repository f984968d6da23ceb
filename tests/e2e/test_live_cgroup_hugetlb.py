"""Live kernel: the hugetlb cgroup controller (v2) as pagescope's cgroup_hugetlb collector sees it.

Needs the v2 hierarchy (/sys/fs/cgroup, or /sys/fs/cgroup/unified on hybrid hosts) with the
hugetlb controller available. Creates pagescope-test-<pid>/vm1 with hugetlb.2MB.max = 2 pages,
runs a process there that touches 2 pages (usage, limit and per-node usage must match the
files), then one more process that touches a third page: the kernel refuses it (SIGBUS) and the
limit-hit counter rises. Removes the cgroups, restores the root's subtree_control and the pool
even when a check fails.
"""

import os
import subprocess
import unittest

from pagescope_test import (Exporter, SysfsRestorer, kernel_lock, require_root, tool, value)

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


class LiveCgroupHugetlb(unittest.TestCase):
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


if __name__ == "__main__":
    unittest.main()
