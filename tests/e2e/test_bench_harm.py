"""Benchmark (label bench, not part of the normal run): runs scripts/bench-harm.py with a 1 GiB
guest of 4 KiB pages (and, as root, the hugetlb and THP guests) for every configuration and
process-exporter, 5 s a phase, and checks it prints a row for each. The full run is the script
itself (docs/performance.md)."""

import os
import shutil
import subprocess
import sys
import unittest

from pagescope_test import BUILD_DIR, SOURCE_DIR, is_root

CONFIGS = ["idle", "default", "processes smaps", "processes hugetlb numa",
           "processes numa locality", "qemu smaps", "qemu numa locality", "qemu numa detail",
           "process-exporter -gather-smaps"]


class BenchHarm(unittest.TestCase):
    def test_bench_prints_the_table(self):
        if not shutil.which("prometheus-process-exporter"):
            self.skipTest("process-exporter not installed (scripts/install-deps.sh)")
        cmd = [sys.executable, os.path.join(SOURCE_DIR, "scripts", "bench-harm.py"),
               "--build", BUILD_DIR, "--sizes", "1", "--seconds", "5"]
        guests = ["4k-1G"]
        if is_root():
            guests += ["hugetlb-2M", "thp"]
        else:
            cmd.append("--no-huge")
            print("not root: no hugetlb and THP guests")
        out = subprocess.run(cmd, check=True, capture_output=True, text=True,
                             timeout=1800).stdout
        print(out)
        table = out.split("| guest |", 1)[1]
        for g in guests:
            for c in CONFIGS:
                self.assertIn("| %s | %s | " % (g, c), table)
        self.assertIn("load average (1 min)", out)


if __name__ == "__main__":
    unittest.main()
