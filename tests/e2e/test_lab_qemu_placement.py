"""A guest's hugetlb per NUMA node from its own cgroup equals numa_maps', on a real two-node
kernel (the guest lab, tests/lab/guest.py: Debian's 6.1, cgroup v2 with the hugetlb controller
enabled for the root's children, hugetlb.<size>.numa_stat since 5.17).

The lab boots with 4 free 2 MiB pages on node 0 and 8 on node 1. A stand-in QEMU guest
(tests/tools/standin_guest, comm qemu-system-x86) backed by a 24 MiB hugetlb memfd takes all 12:
the kernel falls back to the other node when one node's pool is empty, so the guest holds
hugepages on both nodes. Started inside a cgroup made for it, the lab's pagescope (default
configuration) reports its hugetlb per node from the cgroup (hugetlb_source="cgroup"), equal to
the guest's numa_maps; started again in the root cgroup (never a process's own), the same
figures come from numa_maps (hugetlb_source="numa_maps").
"""

import os
import re
import sys
import unittest

from pagescope_test import parse_exposition
from test_live_alerts import wait_for

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lab"))
import guest as lab  # noqa: E402

MIB = 1 << 20
STANDIN = ("exec /bin/standin_guest -name guest=%s -m 24 -object memory-backend-memfd,id=pc.ram,"
           "size=24M,hugetlb=on,hugetlbsize=2M,share=on -machine pc,memory-backend=pc.ram "
           "-standin-backing hugetlb")


class LabQemuPlacement(unittest.TestCase):
    guest = None

    @classmethod
    def setUpClass(cls):
        lab.skip_unless_qemu()
        cls.guest = lab.Guest(pools={"2M": (4, 8)}, tools=["standin_guest"])

    @classmethod
    def tearDownClass(cls):
        if cls.guest is not None:
            cls.guest.close()

    def start(self, name, cgroup):
        """The stand-in guest, in `cgroup` (a path below /sys/fs/cgroup; "" for the root)."""
        g = self.guest
        join = "echo $$ > /sys/fs/cgroup/%s/cgroup.procs; " % cgroup if cgroup else ""
        # Its stdin stays open (it exits when stdin closes): a pipe from a long sleep.
        pid = g.run("sleep 100000 | sh -c '%s%s' > /tmp/%s.out 2>&1 & echo $!"
                    % (join, STANDIN % name, name)).strip()
        wait_for("stand-in guest %s ready" % name, lambda: "ready" in g.run(
            "cat /tmp/%s.out" % name) or (g.run_rc("kill -0 %s" % pid)[0] != 0 and self.fail(
                g.run("cat /tmp/%s.out" % name))), timeout=120)
        return pid

    def stop(self, pid):
        self.guest.run("kill %s; while kill -0 %s 2>/dev/null; do sleep 0.1; done; "
                       "kill $(pidof sleep) 2>/dev/null || true" % (pid, pid))

    def numa_maps(self, pid):
        """{node: bytes} of the 2 MiB hugetlb pages numa_maps shows."""
        out = {}
        for line in self.guest.run("cat /proc/%s/numa_maps" % pid).splitlines():
            if " huge " in line and "kernelpagesize_kB=2048" in line:
                for node, pages in re.findall(r" N(\d+)=(\d+)", line):
                    out[node] = out.get(node, 0) + int(pages) * 2 * MIB
        return out

    def reported(self, name):
        """(hugetlb_source, {node: bytes}) of the guest in the lab pagescope's scrape."""
        m = parse_exposition(self.guest.scrape())
        info = [dict(ls) for (n, ls), _ in m.items()
                if n == "pagescope_vm_info" and dict(ls)["vm"] == name]
        self.assertEqual(len(info), 1, "pagescope_vm_info of %s" % name)
        nodes = {dict(ls)["node"]: int(v) for (n, ls), v in m.items()
                 if n == "pagescope_vm_hugetlb_bytes" and dict(ls)["vm"] == name
                 and dict(ls)["page_size"] == "2MiB"}
        return info[0]["hugetlb_source"], nodes

    def test_hugetlb_per_node_from_own_cgroup_equals_numa_maps(self):
        g = self.guest
        g.run("mkdir -p /sys/fs/cgroup/labvm1")
        pid = self.start("labvm1", "labvm1")
        try:
            exact = self.numa_maps(pid)
            stat = g.run("cat /sys/fs/cgroup/labvm1/hugetlb.2MB.numa_stat").strip()
            source, nodes = self.reported("labvm1")
        finally:
            self.stop(pid)
        g.run("rmdir /sys/fs/cgroup/labvm1")
        print("\nlab guest in its own cgroup: numa_maps %s, hugetlb.2MB.numa_stat %r, pagescope "
              "(%s) %s" % (exact, stat, source, nodes))
        self.assertEqual(exact, {"0": 4 * 2 * MIB, "1": 8 * 2 * MIB}, "both nodes' pools taken")
        self.assertEqual(source, "cgroup")
        self.assertEqual(nodes, exact)
        # In the root cgroup (never a process's own): walked, the same figures.
        pid = self.start("labvm2", "")
        try:
            exact = self.numa_maps(pid)
            source, nodes = self.reported("labvm2")
        finally:
            self.stop(pid)
        print("lab guest in the root cgroup: numa_maps %s, pagescope (%s) %s"
              % (exact, source, nodes))
        self.assertEqual(source, "numa_maps")
        self.assertEqual(nodes, exact)
        self.assertEqual(sorted(nodes), ["0", "1"])


if __name__ == "__main__":
    unittest.main()
