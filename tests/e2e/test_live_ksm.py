"""Live kernel: KSM merges a process's MADV_MERGEABLE duplicate pages; pages_sharing rises in
pagescope's output as in the sysfs file. Restores run, pages_to_scan, sleep_millisecs and
unmerges at the end."""

import os
import subprocess
import time
import unittest

from pagescope_test import Exporter, SysfsRestorer, kernel_lock, require_root, tool, value

KSM = "/sys/kernel/mm/ksm"
PAGES = 4096  # 16 MiB of identical 4 KiB pages


def read(name):
    with open(os.path.join(KSM, name)) as f:
        return f.read().strip()


def write(name, v):
    with open(os.path.join(KSM, name), "w") as f:
        f.write(str(v))


class LiveKsm(unittest.TestCase):
    @require_root
    def test_pages_sharing_rises_as_in_sysfs(self):
        if not os.path.isdir(KSM):
            self.skipTest("kernel without KSM")
        with kernel_lock():
            original_run = read("run")
            sysfs = SysfsRestorer()
            merger = None
            try:
                with Exporter(["--collector.disable-defaults", "--collector.ksm",
                               "--collector.ksm.tuning"]) as exp:
                    m0 = exp.metrics()
                    self.assertEqual(value(m0, "pagescope_ksm_pages_sharing"),
                                     int(read("pages_sharing")))
                    merger = subprocess.Popen([tool("ksm_merge"), str(PAGES)],
                                              stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                              text=True)
                    self.assertEqual(merger.stdout.readline().strip(), "ready")
                    # The scan-time advisor owns pages_to_scan; switch it off for the test.
                    if os.path.exists(os.path.join(KSM, "advisor_mode")) and \
                            "[none]" not in read("advisor_mode"):
                        mode = read("advisor_mode").split("[")[1].split("]")[0]
                        sysfs.saved.append((os.path.join(KSM, "advisor_mode"), mode))
                        write("advisor_mode", "none")
                    sysfs.set(os.path.join(KSM, "pages_to_scan"), 10000)
                    sysfs.set(os.path.join(KSM, "sleep_millisecs"), 10)
                    sysfs.set(os.path.join(KSM, "run"), 1)
                    # Wait until our pages are merged: PAGES identical pages -> one shared page
                    # and PAGES-1 sharing it.
                    deadline = time.time() + 60
                    own = 0
                    while time.time() < deadline:
                        with open("/proc/%d/ksm_merging_pages" % merger.pid) as f:
                            own = int(f.read())
                        if own >= PAGES * 9 // 10:
                            break
                        time.sleep(0.2)
                    self.assertGreaterEqual(own, PAGES * 9 // 10, "KSM merged too few pages")
                    before = int(read("pages_sharing"))
                    m1 = exp.metrics()
                    after = int(read("pages_sharing"))
                    got = value(m1, "pagescope_ksm_pages_sharing")
                    self.assertLessEqual(min(before, after), got)
                    self.assertLessEqual(got, max(before, after))
                    self.assertGreaterEqual(got - value(m0, "pagescope_ksm_pages_sharing"),
                                            PAGES * 9 // 10 - 1)
                    self.assertEqual(value(m1, "pagescope_ksm_run", mode="run"), 1)
                    self.assertEqual(value(m1, "pagescope_ksm_run", mode="stop"), 0)
                    self.assertEqual(value(m1, "pagescope_ksm_sleep_seconds"), 0.01)
                    self.assertEqual(value(m1, "pagescope_ksm_pages_to_scan"), 10000)
                    self.assertGreaterEqual(value(m1, "pagescope_ksm_pages_shared"), 1)
                    if value(m1, "pagescope_ksm_general_profit_bytes") is not None:
                        self.assertGreater(value(m1, "pagescope_ksm_general_profit_bytes"), 0)
            finally:
                if merger is not None:
                    merger.stdin.close()
                    merger.stdout.close()
                    merger.wait(timeout=10)
                # Unmerge everything, then put back run and the scan settings.
                try:
                    write("run", 2)
                    write("run", original_run)
                finally:
                    sysfs.restore()
            self.assertEqual(read("run"), original_run)


if __name__ == "__main__":
    unittest.main()
