"""Benchmark (label bench, not part of the normal run): runs scripts/bench-tlb.py briefly and
checks it prints its table and says which events it measured. The full run is the script."""

import os
import subprocess
import sys
import unittest

from pagescope_test import BUILD_DIR, SOURCE_DIR, is_root


class BenchTlb(unittest.TestCase):
    def test_bench_prints_the_overhead_table(self):
        if not is_root():
            self.skipTest("needs root: perf_event_open on another process at paranoid 2")
        out = subprocess.run(
            [sys.executable, os.path.join(SOURCE_DIR, "scripts", "bench-tlb.py"),
             "--build", BUILD_DIR, "--runs", "2", "--size-mib", "64", "--accesses", "500000"],
            check=True, capture_output=True, text=True, timeout=600).stdout
        print(out)
        self.assertIn("| phase | not counted (median CPU s) | counted (median CPU s) | overhead |",
                      out)
        self.assertRegex(out, r"events: hardware|HARDWARE EVENTS UNAVAILABLE")
        self.assertRegex(out, r'counted: pagescope_tlb_[a-z_]+_total\{group="bench"\} = [1-9]')


if __name__ == "__main__":
    unittest.main()
