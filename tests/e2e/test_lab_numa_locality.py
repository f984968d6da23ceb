"""NUMA locality on a real two-node kernel (the guest lab, tests/lab/guest.py): a process group
whose threads run on one node while its hugepages are bound to the other is reported remote and
raises PagescopeNumaMemoryRemote in the host's Prometheus (the mixin's rules with `for` 0s);
bound to the node it runs on, it is local and the alert stays quiet.

The workload is tests/tools/numa_pages (libnuma): `--run-on A hugetlb B ...` runs every thread
(two) on node A and binds and touches 2 MiB pages on node B, checking with move_pages that the
kernel put them there. pagescope in the guest is restarted with a configuration that opts the
group "numa_pages" into numa_locality. The expected figures come from the guest's own
/proc/<pid>/numa_maps and task status files, read through the lab's command channel.
"""

import os
import re
import sys
import time
import unittest

from pagescope_test import parse_exposition, value
from test_live_alerts import prometheus_with_alerts, wait_for

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lab"))
import guest as lab  # noqa: E402

GUEST_PORT = lab.GUEST_PORT
CONFIG = ("collectors:\n  processes:\n    numa_locality:\n      - {group: numa_pages}\n")
PAGES = 16  # 2 MiB pages; the lab has 64 on node 0 and 32 on node 1
ALERT = "PagescopeNumaMemoryRemote"


def guest_numa_maps(g, pid):
    """{node: bytes} of every mapping of the guest's process (its numa_maps)."""
    out = {}
    for line in g.run("cat /proc/%s/numa_maps" % pid).splitlines():
        kb = re.search(r"kernelpagesize_kB=(\d+)", line)
        for node, pages in re.findall(r"\bN(\d+)=(\d+)", line):
            out[int(node)] = out.get(int(node), 0) + int(pages) * int(kb.group(1)) * 1024
    return out


class LabNumaLocality(unittest.TestCase):
    guest = None

    @classmethod
    def setUpClass(cls):
        lab.skip_unless_qemu()
        cls.guest = lab.Guest(tools=["numa_pages"])
        g = cls.guest
        # No transparent hugepages in this guest (its kernel's default is always): a THP that
        # happens to back numa_pages' heap on node 0 adds 2 MiB there, above the 5 % share that
        # makes node 0 one of the group's memory nodes, and its threads would no longer count as
        # remote. The hugetlb pages the test binds are what it measures.
        g.run("echo never > /sys/kernel/mm/transparent_hugepage/enabled")
        # Restart the guest's pagescope with numa_locality for the group "numa_pages".
        g.run("printf '%s' > /tmp/pagescope.yml" % CONFIG.replace("\n", "\\n"))
        g.run("kill $(cat /run/pagescope.pid); while kill -0 $(cat /run/pagescope.pid) "
              "2>/dev/null; do sleep 0.1; done")
        g.run("/bin/pagescope --web.listen-address=:%d --config.file=/tmp/pagescope.yml "
              "> /tmp/pagescope.log 2>&1 & echo $! > /run/pagescope.pid" % GUEST_PORT)
        wait_for("the guest's pagescope with numa_locality", cls.answering, timeout=60)

    @classmethod
    def answering(cls):
        try:
            # The walk counters exist from the first scrape with numa_locality groups.
            return ('pagescope_scrape_walks_total{collector="processes"'
                    in cls.guest.scrape(5))
        except OSError:
            return False

    @classmethod
    def tearDownClass(cls):
        if cls.guest is not None:
            cls.guest.close()

    def start(self, args):
        g = self.guest
        pid = g.run("/bin/numa_pages --hold %s > /tmp/np.out 2>&1 & echo $!" % args).strip()
        ready = wait_for("numa_pages %s ready" % args, lambda: [
            line for line in g.run("cat /tmp/np.out").splitlines() if line.startswith("ready ")
        ] or (g.run_rc("kill -0 %s" % pid)[0] != 0 and self.fail(g.run("cat /tmp/np.out"))),
            timeout=120)
        self.assertIn("on_node=%d" % PAGES, ready[0])
        return pid

    def stop(self, pid):
        self.guest.run("kill %s; while kill -0 %s 2>/dev/null; do sleep 0.1; done" % (pid, pid))

    def figures(self, pid):
        """Scrape until the group shows the hugepages, and compare with the guest's files."""
        g = self.guest
        want = PAGES * 2 << 20

        def ready():
            m = parse_exposition(g.scrape())
            held = sum(v for (n, l), v in m.items()
                       if n == "pagescope_process_memory_node_bytes"
                       and dict(l).get("group") == "numa_pages")
            return m if held >= want else None

        m = wait_for("the group's memory per node", ready, timeout=60)
        per_node = guest_numa_maps(g, pid)
        allowed = set()
        for tid in g.run("ls /proc/%s/task" % pid).split():
            status = g.run("cat /proc/%s/task/%s/status" % (pid, tid))
            allowed.add(re.search(r"Cpus_allowed_list:\s*(\S+)", status).group(1))
        return m, per_node, allowed

    def test_remote_then_local(self):
        with prometheus_with_alerts(self.guest.port, "pagescope-lab-locality-") as prom:

            # Threads on node 0 (CPU 0), hugepages bound to node 1: remote.
            pid = self.start("--run-on 0 hugetlb 1 2048 %d %d" % (PAGES, PAGES))
            try:
                m, per_node, allowed = self.figures(pid)
                self.assertEqual(allowed, {"0"}, "both threads pinned to node 0's CPU")
                ratio = value(m, "pagescope_process_memory_local_ratio", group="numa_pages")
                expected = per_node.get(0, 0) / sum(per_node.values())
                print("\nlab: remote: ratio %.4f (numa_maps %s), threads allowed %s, "
                      "unrequested %s" % (ratio, per_node, {
                          n: value(m, "pagescope_process_threads_allowed", group="numa_pages",
                                   node=str(n)) for n in (0, 1)},
                          value(m, "pagescope_process_memory_unrequested_bytes",
                                group="numa_pages")), file=sys.stderr)
                self.assertAlmostEqual(ratio, expected, delta=0.02)
                self.assertLess(ratio, 0.5)
                self.assertGreaterEqual(value(m, "pagescope_process_memory_node_bytes",
                                              group="numa_pages", node="1"), PAGES * 2 << 20)
                self.assertEqual(value(m, "pagescope_process_threads_allowed",
                                       group="numa_pages", node="0"), 2)
                self.assertEqual(value(m, "pagescope_process_threads_allowed",
                                       group="numa_pages", node="1"), 0)
                self.assertEqual(value(m, "pagescope_process_threads_remote",
                                       group="numa_pages"), 2)
                t0 = time.time()
                fired = wait_for(ALERT, lambda: [
                    a for a in prom.alerts(ALERT) if a["state"] == "firing"
                    and a["labels"].get("group") == "numa_pages"], timeout=60)
                print("lab: %s fired after %.1f s: %s" % (
                    ALERT, time.time() - t0, fired[0]["annotations"]["description"]),
                    file=sys.stderr)
                self.assertIn("process group numa_pages", fired[0]["annotations"]["description"])
            finally:
                self.stop(pid)
            wait_for("%s to clear" % ALERT, lambda: prom.alerts(ALERT) == [], timeout=60)

            # Threads and hugepages on node 1: local, and the alert stays quiet.
            pid = self.start("hugetlb 1 2048 %d %d" % (PAGES, PAGES))
            try:
                m, per_node, allowed = self.figures(pid)
                self.assertEqual(allowed, {"1"})
                ratio = value(m, "pagescope_process_memory_local_ratio", group="numa_pages")
                expected = per_node.get(1, 0) / sum(per_node.values())
                print("lab: local: ratio %.4f (numa_maps %s)" % (ratio, per_node),
                      file=sys.stderr)
                self.assertAlmostEqual(ratio, expected, delta=0.02)
                self.assertGreater(ratio, 0.5)
                wait_for("a rule evaluation with the local figure", lambda: prom.query(
                    'pagescope_process_memory_local_ratio{group="numa_pages"} > 0.5'),
                    timeout=30)
                time.sleep(3)
                self.assertEqual(prom.alerts(ALERT), [])
            finally:
                self.stop(pid)


if __name__ == "__main__":
    unittest.main()
