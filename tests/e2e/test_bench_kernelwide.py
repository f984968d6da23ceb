"""Benchmark (label bench, not part of the normal run): runs scripts/bench-kernelwide.py and
scripts/bench-bpf-task-walk.py with few rounds and checks they print their tables. The full runs
are the scripts themselves."""

import os
import shutil
import subprocess
import sys
import unittest

from pagescope_test import BUILD_DIR, SOURCE_DIR


class BenchKernelwide(unittest.TestCase):
    def test_bench_prints_the_table(self):
        if not shutil.which("prometheus-node-exporter"):
            self.skipTest("prometheus-node-exporter not installed (scripts/install-deps.sh)")
        out = subprocess.run(
            [sys.executable, os.path.join(SOURCE_DIR, "scripts", "bench-kernelwide.py"),
             "--build", BUILD_DIR, "--rounds", "2", "--batch", "3"],
            check=True, capture_output=True, text=True, timeout=600).stdout
        print(out)
        self.assertIn("| pagescope |", out)
        self.assertIn("| node-exporter |", out)
        self.assertIn("  thp ", out)


class BenchBpfTaskWalk(unittest.TestCase):
    def test_bpf_source_walks_every_process(self):
        if os.geteuid() != 0:
            self.skipTest("loading BPF programs needs root (or CAP_BPF + CAP_PERFMON)")
        if not os.path.exists(os.path.join(BUILD_DIR, "tools", "bpf_tasks")):
            self.skipTest("built without the BPF task source (PAGESCOPE_BPF: clang, bpftool, "
                          "libbpf-dev from scripts/install-deps.sh)")
        out = subprocess.run(
            [sys.executable, os.path.join(SOURCE_DIR, "scripts", "bench-bpf-task-walk.py"),
             "--build", BUILD_DIR, "--counts", "200", "--rounds", "1", "--walks", "2"],
            check=True, capture_output=True, text=True, timeout=600).stdout
        print(out)
        self.assertIn("| 200 |", out)
        self.assertIn("BPF / floor", out)


if __name__ == "__main__":
    unittest.main()
