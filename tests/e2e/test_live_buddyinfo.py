"""Live kernel: what the buddyinfo and numa collectors report, checked against the kernel itself.

- buddyinfo: when pagescope says N 2 MiB pages are obtainable on node 0, growing node 0's pool by
  min(N, 64) pages succeeds on that node (its nr_hugepages grows by exactly that much).
- numa: node 0's numastat counters as pagescope reports them lie between two reads of the sysfs
  file taken around the scrape (the counters move while we look).
"""

import os
import unittest

from pagescope_test import Exporter, SysfsRestorer, kernel_lock, require_root, value

NODE0 = "/sys/devices/system/node/node0"
NODE0_POOL = NODE0 + "/hugepages/hugepages-2048kB/nr_hugepages"
NUMASTAT_METRICS = {
    "numa_hit": "pagescope_numa_hit_total",
    "numa_miss": "pagescope_numa_miss_total",
    "numa_foreign": "pagescope_numa_foreign_total",
    "interleave_hit": "pagescope_numa_interleave_hit_total",
    "local_node": "pagescope_numa_local_node_total",
    "other_node": "pagescope_numa_other_node_total",
}


def read_numastat():
    with open(NODE0 + "/numastat") as f:
        return {k: int(v) for k, v in (line.split() for line in f if line.strip())}


def read_int(path):
    with open(path) as f:
        return int(f.read().strip())


class LiveBuddyinfo(unittest.TestCase):
    @require_root
    def test_obtainable_2mib_pages_can_be_added_to_node0_pool(self):
        if not os.path.exists(NODE0_POOL):
            self.skipTest("this kernel has no 2 MiB pool on node 0 (%s)" % NODE0_POOL)
        with kernel_lock(), SysfsRestorer() as sysfs:
            with Exporter(["--collector.disable-defaults", "--collector.buddyinfo"]) as exp:
                m = exp.metrics()
            self.assertEqual(value(m, "pagescope_scrape_collector_success",
                                   collector="buddyinfo"), 1)
            obtainable = value(m, "pagescope_hugepages_obtainable_pages", node="0",
                               page_size="2MiB")
            self.assertIsNotNone(obtainable, "no obtainable figure for node 0, 2 MiB")
            movable = value(m, "pagescope_hugepages_obtainable_movable_pages", node="0",
                            page_size="2MiB")
            self.assertIsNotNone(movable, "root can read /proc/pagetypeinfo: movable expected")
            if obtainable <= 0:
                self.skipTest("pagescope says no free 2 MiB block on node 0 now; nothing to "
                              "check")
            grow = int(min(obtainable, 64))
            before = read_int(NODE0_POOL)
            sysfs.set(NODE0_POOL, before + grow)
            after = read_int(NODE0_POOL)
            self.assertEqual(after - before, grow,
                             "pagescope said %d pages were obtainable on node 0, but the pool "
                             "grew by %d of %d" % (obtainable, after - before, grow))
        # The restorer has put the pool back.
        self.assertEqual(read_int(NODE0_POOL), before)


class LiveNuma(unittest.TestCase):
    def test_numastat_of_node0_matches_sysfs(self):
        if not os.path.exists(NODE0 + "/numastat"):
            self.skipTest("no NUMA node 0 in sysfs")
        with Exporter(["--collector.disable-defaults", "--collector.numa"]) as exp:
            low = read_numastat()
            m = exp.metrics()
            high = read_numastat()
        self.assertEqual(value(m, "pagescope_scrape_collector_success", collector="numa"), 1)
        for key, metric in NUMASTAT_METRICS.items():
            got = value(m, metric, node="0")
            self.assertIsNotNone(got, metric)
            # Counters only grow: what pagescope read lies between the two reads around it.
            self.assertLessEqual(low[key], got, metric)
            self.assertLessEqual(got, high[key], metric)
        with open(NODE0 + "/cpulist") as f:
            cpus = f.read().strip()
        self.assertEqual(value(m, "pagescope_numa_node_info", node="0", cpus=cpus), 1)
        self.assertEqual(value(m, "pagescope_numa_distance", node="0", to_node="0"), 10)


if __name__ == "__main__":
    unittest.main()
