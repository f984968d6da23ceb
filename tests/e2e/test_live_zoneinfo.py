"""Live kernel: the zoneinfo collector against this machine's /proc/zoneinfo, and its watermarks
following vm.watermark_scale_factor.

Every populated zone of /proc/zoneinfo is reported with its managed and present memory and its
min/low/high watermarks (pages x page size); empty zones are not. Raising
vm.watermark_scale_factor (as root, under the kernel lock, restored after) moves low and high
away from min, and the exporter shows the new setting and the new watermarks.
"""

import os
import re
import unittest

from pagescope_test import Exporter, SysfsRestorer, kernel_lock, require_root, value

SCALE = "/proc/sys/vm/watermark_scale_factor"
PAGE = os.sysconf("SC_PAGE_SIZE")


def zones():
    """{(node, zone): {key: pages}} of the populated zones, straight from /proc/zoneinfo."""
    out, cur = {}, None
    with open("/proc/zoneinfo") as f:
        for line in f:
            m = re.match(r"Node (\d+), zone\s+(\S+)", line)
            if m:
                cur = out.setdefault((m.group(1), m.group(2)), {})
                continue
            f2 = line.split()
            if cur is not None and len(f2) == 2 and f2[0] in ("min", "low", "high", "present",
                                                              "managed"):
                cur.setdefault(f2[0], int(f2[1]))
    return {k: v for k, v in out.items() if v.get("present", 0) > 0}


class LiveZoneinfo(unittest.TestCase):
    def scrape(self):
        with Exporter(["--collector.disable-defaults", "--collector.zoneinfo"]) as e:
            return e.metrics()

    def test_populated_zones_and_their_watermarks(self):
        m = self.scrape()
        want = zones()
        self.assertTrue(want)
        got = {(dict(ls)["node"], dict(ls)["zone"]) for (n, ls) in m
               if n == "pagescope_zone_managed_bytes"}
        self.assertEqual(got, set(want))
        for (node, zone), z in want.items():
            self.assertEqual(value(m, "pagescope_zone_managed_bytes", node=node, zone=zone),
                             z["managed"] * PAGE)
            self.assertEqual(value(m, "pagescope_zone_present_bytes", node=node, zone=zone),
                             z["present"] * PAGE)
            self.assertIsNotNone(value(m, "pagescope_zone_free_bytes", node=node, zone=zone))
        with open("/proc/sys/vm/min_free_kbytes") as f:
            self.assertEqual(value(m, "pagescope_memory_min_free_bytes"), int(f.read()) * 1024)

    @require_root
    def test_watermarks_follow_the_scale_factor(self):
        with kernel_lock(), SysfsRestorer() as sysfs:
            before = zones()
            old = int(sysfs.read(SCALE))
            new = old * 4 if old * 4 <= 1000 else max(old // 4, 1)
            sysfs.set(SCALE, new)
            # The watermarks include the boost, which the kernel may change at any moment: take
            # a scrape between two identical reads of the file.
            for _ in range(5):
                want = zones()
                m = self.scrape()
                if zones() == want:
                    break
            self.assertAlmostEqual(value(m, "pagescope_memory_watermark_scale_factor_ratio"),
                                   new / 10000)
            for (node, zone), z in want.items():
                for mark in ("min", "low", "high"):
                    self.assertEqual(value(m, "pagescope_zone_watermark_bytes", node=node,
                                           zone=zone, watermark=mark), z[mark] * PAGE,
                                     (node, zone, mark))
            k = ([k for k in want if k[1] == "Normal"] or list(want))[0]
            gap_before = before[k]["low"] - before[k]["min"]
            gap_after = want[k]["low"] - want[k]["min"]
            print("\nnode %s %s: scale factor %d -> %d, low - min %d -> %d pages" % (
                k[0], k[1], old, new, gap_before, gap_after))
            if new > old:
                self.assertGreater(gap_after, gap_before)
            else:
                self.assertLess(gap_after, gap_before)

if __name__ == "__main__":
    unittest.main()
