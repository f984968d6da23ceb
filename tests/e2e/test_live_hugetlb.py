"""Live kernel: a real 2 MiB pool, pages held with MAP_HUGETLB, as pagescope reports them."""

import subprocess
import unittest

from pagescope_test import (Exporter, SysfsRestorer, kernel_lock, meminfo, require_root,
                            tool, value)

POOL = "/sys/kernel/mm/hugepages/hugepages-2048kB"


class LiveHugetlb(unittest.TestCase):
    @require_root
    def test_pool_of_8_with_3_touched_and_2_reserved(self):
        with kernel_lock(), SysfsRestorer() as sysfs:
            sysfs.set(POOL + "/nr_hugepages", 8)
            self.assertEqual(sysfs.read(POOL + "/nr_hugepages"), "8",
                             "the kernel could not give 8 free 2 MiB pages")
            holder = subprocess.Popen([tool("hugetlb_hold"), "2048", "5", "3"],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            try:
                self.assertEqual(holder.stdout.readline().strip(), "ready")
                with Exporter(["--collector.disable-defaults", "--collector.hugepages",
                               "--collector.numa_hugepages", "--collector.meminfo"]) as exp:
                    m = exp.metrics()
                    mi = meminfo()
                    got = {
                        "total": value(m, "pagescope_hugepages_pool_pages", page_size="2MiB"),
                        "free": value(m, "pagescope_hugepages_free_pages", page_size="2MiB"),
                        "reserved": value(m, "pagescope_hugepages_reserved_pages",
                                          page_size="2MiB"),
                    }
                    self.assertEqual(got, {"total": 8, "free": 5, "reserved": 2})
                    if mi["Hugepagesize"] == 2048:
                        self.assertEqual(got, {"total": mi["HugePages_Total"],
                                               "free": mi["HugePages_Free"],
                                               "reserved": mi["HugePages_Rsvd"]})
                    node_total = sum(v for (n, ls), v in m.items()
                                     if n == "pagescope_numa_hugepages_pool_pages"
                                     and ("page_size", "2MiB") in ls)
                    self.assertEqual(node_total, 8)
                    self.assertEqual(value(m, "pagescope_memory_hugetlb_bytes"),
                                     mi["Hugetlb"] * 1024)
            finally:
                holder.stdin.close()
                holder.wait(timeout=10)


if __name__ == "__main__":
    unittest.main()
