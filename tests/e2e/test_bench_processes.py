"""Benchmark (label bench, not part of the normal run): runs scripts/bench-processes.py with a
small process count and checks it prints its tables. The full run is the script itself."""

import os
import shutil
import subprocess
import sys
import unittest

from pagescope_test import BUILD_DIR, SOURCE_DIR


class BenchProcesses(unittest.TestCase):
    def test_bench_prints_the_table(self):
        if not (shutil.which("prometheus-process-exporter")
                and shutil.which("prometheus-node-exporter")):
            self.skipTest("peers not installed (scripts/install-deps.sh)")
        out = subprocess.run(
            [sys.executable, os.path.join(SOURCE_DIR, "scripts", "bench-processes.py"),
             "--build", BUILD_DIR, "--counts", "200", "--scrapes", "5"],
            check=True, capture_output=True, text=True, timeout=600).stdout
        print(out)
        self.assertIn("| 200 | pagescope |", out)
        self.assertIn("| 200 | pagescope-interval0 |", out)
        self.assertIn("| variant | / process-exporter CPU | / floor CPU |", out)
        self.assertIn("load average (1 min)", out)


if __name__ == "__main__":
    unittest.main()
