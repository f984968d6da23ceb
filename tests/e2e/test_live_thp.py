"""Live kernel: 64 MiB touched with MADV_HUGEPAGE raise AnonHugePages and thp_fault_alloc as
pagescope reports them."""

import subprocess
import unittest

from pagescope_test import (Exporter, SysfsRestorer, kernel_lock, meminfo, require_root, tool,
                            value)

THP = "/sys/kernel/mm/transparent_hugepage"
MIB = 64
COLLECTORS = ["--collector.disable-defaults", "--collector.meminfo", "--collector.vmstat",
              "--collector.thp"]


def vmstat(field):
    with open("/proc/vmstat") as f:
        for line in f:
            k, v = line.split()
            if k == field:
                return int(v)
    raise KeyError(field)


def active(path):
    with open(path) as f:
        return f.read().split("[")[1].split("]")[0]


def smaps_anon_huge_kb(pid):
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            if line.startswith("AnonHugePages:"):
                return int(line.split()[1])
    return 0


class LiveThp(unittest.TestCase):
    @require_root
    def test_madv_hugepage_raises_anon_huge_pages_and_fault_alloc(self):
        with kernel_lock(), SysfsRestorer() as sysfs, \
                Exporter(COLLECTORS) as exp:
            # madvise mode is enough for MADV_HUGEPAGE; "never" would refuse it.
            if active(THP + "/enabled") == "never":
                sysfs.set(THP + "/enabled", "madvise")
            # Let a madvised fault reclaim/compact for its hugepage rather than fall back at once.
            if active(THP + "/defrag") not in ("always", "madvise", "defer+madvise"):
                sysfs.set(THP + "/defrag", "madvise")
            m0 = exp.metrics()
            mode = [dict(ls)["mode"] for (n, ls), v in m0.items()
                    if n == "pagescope_thp_enabled" and v == 1]
            self.assertEqual(mode, [active(THP + "/enabled")])
            anon0 = value(m0, "pagescope_memory_anon_huge_pages_bytes")
            alloc0 = value(m0, "pagescope_vmstat_thp_fault_alloc_total")
            size0 = value(m0, "pagescope_thp_size_anon_fault_alloc_total", page_size="2MiB")
            self.assertIsNotNone(anon0)
            self.assertIsNotNone(alloc0)

            toucher = subprocess.Popen([tool("thp_touch"), str(MIB)], stdin=subprocess.PIPE,
                                       stdout=subprocess.PIPE, text=True)
            try:
                self.assertEqual(toucher.stdout.readline().strip(), "ready")
                own_kb = smaps_anon_huge_kb(toucher.pid)
                # The process really got hugepages (most of them at least).
                self.assertGreaterEqual(own_kb, MIB * 1024 * 3 // 4,
                                        "thp_touch got only %d kB of THP" % own_kb)
                before, anon_before = vmstat("thp_fault_alloc"), meminfo()["AnonHugePages"]
                m1 = exp.metrics()
                after, anon_after = vmstat("thp_fault_alloc"), meminfo()["AnonHugePages"]
                anon1 = value(m1, "pagescope_memory_anon_huge_pages_bytes")
                alloc1 = value(m1, "pagescope_vmstat_thp_fault_alloc_total")
                # pagescope reports the kernel's counter as it was during the scrape...
                self.assertLessEqual(before, alloc1)
                self.assertLessEqual(alloc1, after)
                # ...and it rose by at least the hugepages this process faulted in.
                self.assertGreaterEqual(alloc1 - alloc0, own_kb // 2048)
                self.assertGreaterEqual(anon1 - anon0, own_kb * 1024 * 3 // 4)
                self.assertGreaterEqual(anon1, own_kb * 1024)
                # The gauge is what /proc/meminfo said around the scrape (2 MiB of slack for
                # other processes).
                self.assertGreaterEqual(anon1, (min(anon_before, anon_after) - 2048) * 1024)
                self.assertLessEqual(anon1, (max(anon_before, anon_after) + 2048) * 1024)
                if size0 is not None:
                    size1 = value(m1, "pagescope_thp_size_anon_fault_alloc_total",
                                  page_size="2MiB")
                    self.assertGreaterEqual(size1 - size0, own_kb // 2048)
            finally:
                toucher.stdin.close()
                toucher.stdout.close()
                toucher.wait(timeout=10)
            # Fresh values on every scrape: the process's hugepages are gone from the report.
            anon_before = meminfo()["AnonHugePages"]
            m2 = exp.metrics()
            anon_after = meminfo()["AnonHugePages"]
            anon2 = value(m2, "pagescope_memory_anon_huge_pages_bytes")
            self.assertGreaterEqual(anon2, (min(anon_before, anon_after) - 2048) * 1024)
            self.assertLessEqual(anon2, (max(anon_before, anon_after) + 2048) * 1024)


if __name__ == "__main__":
    unittest.main()


def expected_sizes():
    """The mTHP sizes (page_size labels) this kernel can use or has used, computed here from
    sysfs as transhuge.rst describes it: the per-size policy, inherit meaning the top-level one;
    shmem deny switches every size off, force forces the PMD size; non-zero stats count too."""
    import os
    top = active(THP + "/enabled") if os.path.exists(THP + "/enabled") else ""
    top_shmem = active(THP + "/shmem_enabled") if os.path.exists(THP + "/shmem_enabled") else ""
    with open(THP + "/hpage_pmd_size") as f:
        pmd_kb = int(f.read()) // 1024
    out = set()
    for d in os.listdir(THP):
        if not (d.startswith("hugepages-") and d.endswith("kB")):
            continue
        kb = int(d[len("hugepages-"):-2])
        path = os.path.join(THP, d)
        anon = active(path + "/enabled") if os.path.exists(path + "/enabled") else ""
        anon = top if anon == "inherit" else anon
        shmem = active(path + "/shmem_enabled") if os.path.exists(path + "/shmem_enabled") else ""
        shmem = top_shmem if shmem == "inherit" else shmem
        usable = anon not in ("", "never")
        if top_shmem != "deny":
            usable = usable or (top_shmem == "force" and kb == pmd_kb)
            usable = usable or shmem not in ("", "never", "deny")
        stats = os.path.join(path, "stats")
        if os.path.isdir(stats):
            for s in os.listdir(stats):
                with open(os.path.join(stats, s)) as f:
                    usable = usable or int(f.read()) != 0
        if usable:
            out.add("%dGiB" % (kb >> 20) if kb % (1 << 20) == 0 else
                    "%dMiB" % (kb >> 10) if kb % 1024 == 0 else "%dKiB" % kb)
    return out


class LiveThpSizes(unittest.TestCase):
    def test_only_usable_sizes_unless_all_sizes(self):
        import os
        if not os.path.exists(THP + "/hpage_pmd_size"):
            self.skipTest("this kernel has no transparent hugepages")
        sizes = [d for d in os.listdir(THP) if d.startswith("hugepages-")]
        if not sizes:
            self.skipTest("this kernel has no per-size (mTHP) directories (before 6.8)")

        def exported(args):
            with Exporter(COLLECTORS + args) as exp:
                m = exp.metrics()
            return {dict(l)["page_size"] for (n, l) in m if n.startswith("pagescope_thp_size_")}

        # Read-only: compare with what sysfs says right before and after (a size whose stats
        # move from zero during the scrape may appear; nothing else may differ).
        before = expected_sizes()
        got = exported([])
        after = expected_sizes()
        self.assertTrue(before <= got <= after | before, (before, got, after))
        self.assertEqual(len(exported(["--collector.thp.all-sizes"])), len(sizes))
