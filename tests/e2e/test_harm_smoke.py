"""The harm benchmark's smoke run (part of the default run; the full benchmark is
test_bench_harm, label bench): the stand-in guest (tests/tools/standin_guest) is a QEMU guest to
pagescope's qemu collector, and `scripts/bench-harm.py --smoke` (one 256 MiB guest of 4 KiB
pages, 3 s idle, 3 s scraped by the default configuration) prints its table with figures in
every column."""

import os
import re
import subprocess
import sys
import unittest

from pagescope_test import (BUILD_DIR, SOURCE_DIR, Exporter, parse_exposition, stop_process,
                            tool, value)

ROW = re.compile(r"^\| (\S+) \| ([a-z -]+) \| ([0-9.]+|-) \| ([0-9.]+|-) \| "
                 r"([0-9.]+ / [0-9.]+|-) \| ([0-9.]+ / [0-9.]+|-) \| ([0-9.]+ / [0-9.]+|-) \|$",
                 re.M)


class HarmSmoke(unittest.TestCase):

    def test_standin_guest_is_a_guest(self):
        cmd = ["qemu-system-x86_64", "-name", "guest=smoke,debug-threads=on", "-m", "64",
               "-object", "memory-backend-ram,id=pc.ram,size=64M", "-machine",
               "pc,memory-backend=pc.ram", "-standin-backing", "4k"]
        guest = subprocess.Popen(cmd, executable=tool("standin_guest"), stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, text=True)
        try:
            self.assertEqual(guest.stdout.readline().strip(), "ready")
            with open("/proc/%d/comm" % guest.pid) as f:
                self.assertEqual(f.read().strip(), "qemu-system-x86")
            self.assertRegex(guest.stdout.readline(), r"^stall worst_us=\d+ rounds=\d+$")
            with Exporter(["--collector.disable-defaults", "--collector.qemu"]) as exp:
                m = parse_exposition(exp.scrape())
            self.assertEqual(value(m, "pagescope_vm_memory_bytes", vm="smoke"), 64 << 20)
            info = [dict(labels) for (name, labels) in m
                    if name == "pagescope_vm_info" and ("vm", "smoke") in labels]
            self.assertEqual(len(info), 1, m)
            self.assertEqual(info[0]["backend"], "ram")
            self.assertEqual(info[0]["pid"], str(guest.pid))
        finally:
            guest.stdin.close()
            stop_process(guest)
            guest.stdout.close()

    def test_smoke_table(self):
        out = subprocess.run(
            [sys.executable, os.path.join(SOURCE_DIR, "scripts", "bench-harm.py"),
             "--build", BUILD_DIR, "--smoke"], check=True, capture_output=True, text=True,
            timeout=300).stdout
        print(out)
        self.assertIn("| guest | scraped by | worst stall ms | median stall ms | "
                      "qemu ms (median / max) | processes ms (median / max) | "
                      "scrape ms (median / max) |", out)
        rows = {(g, s): rest for g, s, *rest in ROW.findall(out.split("| guest |", 1)[1])}
        self.assertEqual(set(rows), {("4k-0.25G", "idle"), ("4k-0.25G", "default")}, out)
        idle, scraped = rows[("4k-0.25G", "idle")], rows[("4k-0.25G", "default")]
        self.assertNotEqual(idle[0], "-", "stall figures while idle")
        self.assertEqual(idle[2:], ["-", "-", "-"])
        self.assertTrue(all(c != "-" for c in scraped), scraped)
        self.assertRegex(out, r"load average \(1 min\): [0-9.]+ before, [0-9.]+ after")


if __name__ == "__main__":
    unittest.main()
