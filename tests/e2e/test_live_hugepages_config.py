"""Live kernel: the hugepages_config collector against this machine's /proc and sysctl files.

Compares the overcommit policy, hugetlb_shm_group, default page size and the command line's
requests with what the kernel says, and changes vm.hugetlb_shm_group (restored afterwards) to
see the new value in the next scrape.
"""

import re
import unittest

from pagescope_test import (Exporter, SysfsRestorer, kernel_lock, meminfo, require_root, value)

ARGS = ["--collector.disable-defaults", "--collector.hugepages_config"]


def read(path):
    with open(path) as f:
        return f.read().strip()


class LiveHugepagesConfig(unittest.TestCase):
    def test_matches_the_kernel(self):
        with Exporter(ARGS) as exp:
            m = exp.metrics()
        self.assertEqual(value(m, "pagescope_scrape_collector_success",
                               collector="hugepages_config"), 1)
        mode = ["heuristic", "always", "never"][int(read("/proc/sys/vm/overcommit_memory"))]
        for state in ("heuristic", "always", "never"):
            self.assertEqual(value(m, "pagescope_memory_overcommit_policy", mode=state),
                             1 if state == mode else 0, state)
        self.assertEqual(value(m, "pagescope_hugepages_shm_group_id"),
                         int(read("/proc/sys/vm/hugetlb_shm_group")))
        self.assertEqual(value(m, "pagescope_hugepages_default_page_size_bytes"),
                         meminfo()["Hugepagesize"] * 1024)
        cmdline = read("/proc/cmdline").split(" -- ")[0]
        requested = [k for k in m if k[0] == "pagescope_hugepages_requested_pages"
                     and ("source", "cmdline") in k[1]]
        if not re.search(r"(^|\s)hugepages=", cmdline):
            self.assertEqual(requested, [], "no hugepages= on this command line")
        else:
            self.assertNotEqual(requested, [])

    @require_root
    def test_shm_group_change_is_seen(self):
        with kernel_lock(), SysfsRestorer() as sysctl:
            sysctl.set("/proc/sys/vm/hugetlb_shm_group", 4242)
            with Exporter(ARGS) as exp:
                self.assertEqual(value(exp.metrics(), "pagescope_hugepages_shm_group_id"), 4242)


if __name__ == "__main__":
    unittest.main()
