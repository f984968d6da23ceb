"""Faults in what the exporter reads and in its configuration. Each case copies a fixture tree
and breaks it (a file that is a directory, a FIFO, an empty file, a file above the 64 MiB read
cap, random bytes everywhere), and checks: the exporter keeps serving, the affected collectors
report pagescope_scrape_collector_success 0 and the others 1. Also processes that exit while
being read (real /proc under process churn), and configuration errors naming file and line."""

import os
import random
import shutil
import subprocess
import tempfile
import threading
import time
import unittest

from pagescope_test import (BINARY, FIXTURES, Exporter, all_collectors, parse_exposition,
                            value)

SUCCESS = "pagescope_scrape_collector_success"


class Faults(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="pagescope-faults-")
        self.root = os.path.join(self.tmp, "case")
        shutil.copytree(os.path.join(FIXTURES, "two_nodes"), self.root, symlinks=True)

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def p(self, rel):
        return os.path.join(self.root, rel)

    def args(self):
        return ["--path.procfs=" + self.p("proc"), "--path.sysfs=" + self.p("sys"),
                "--path.rootfs=" + self.p("root")]

    def scrape_twice(self):
        """Two scrapes (the second checks nothing stuck after the first); returns metrics."""
        with Exporter(self.args()) as exp:
            exp.metrics()
            m = exp.metrics()
            self.assertEqual(exp.get("/-/healthy")[0], 200)
            self.assertIsNone(exp.proc.poll())
            return m, exp.log_text()

    def replace_with_dir(self, rel):
        os.unlink(self.p(rel))
        os.mkdir(self.p(rel))

    def test_meminfo_is_a_directory(self):
        self.replace_with_dir("proc/meminfo")
        m, log = self.scrape_twice()
        self.assertEqual(value(m, SUCCESS, collector="meminfo"), 0)
        self.assertEqual(value(m, SUCCESS, collector="hugepages"), 1)
        self.assertIn("meminfo", log)

    def test_sysfs_value_is_a_directory(self):
        self.replace_with_dir("sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages")
        m, _ = self.scrape_twice()
        self.assertEqual(value(m, SUCCESS, collector="hugepages"), 0)
        self.assertEqual(value(m, SUCCESS, collector="meminfo"), 1)

    def test_huge_file_above_the_read_cap(self):
        with open(self.p("proc/meminfo"), "r+b") as f:
            f.seek(0, os.SEEK_END)
            f.truncate((64 << 20) + 4096)  # sparse: no disk space used
        t0 = time.monotonic()
        m, log = self.scrape_twice()
        print("two scrapes with a 64 MiB meminfo: %.2f s" % (time.monotonic() - t0))
        self.assertEqual(value(m, SUCCESS, collector="meminfo"), 0)
        self.assertEqual(value(m, SUCCESS, collector="hugepages"), 1)
        self.assertIn("larger than", log)

    def test_empty_files(self):
        for rel in ("proc/meminfo", "sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages"):
            open(self.p(rel), "w").close()
        m, _ = self.scrape_twice()
        self.assertEqual(value(m, SUCCESS, collector="hugepages"), 0)
        self.assertIn(value(m, SUCCESS, collector="meminfo"), (0, 1))  # empty meminfo: no lines
        self.assertIsNone(value(m, "pagescope_meminfo_mem_total_bytes"))

    def test_fifo_does_not_hang(self):
        os.unlink(self.p("proc/meminfo"))
        os.mkfifo(self.p("proc/meminfo"))
        # A writer that holds the FIFO open and never writes: a blocking read would hang.
        fd = os.open(self.p("proc/meminfo"), os.O_RDWR | os.O_NONBLOCK)
        try:
            t0 = time.monotonic()
            m, _ = self.scrape_twice()
            self.assertLess(time.monotonic() - t0, 20)
            self.assertEqual(value(m, SUCCESS, collector="meminfo"), 0)
            self.assertEqual(value(m, SUCCESS, collector="hugepages"), 1)
        finally:
            os.close(fd)

    def test_procfs_and_sysfs_full_of_garbage(self):
        rng = random.Random(1234)
        for base in ("proc", "sys"):
            for dirpath, _, files in os.walk(self.p(base)):
                for name in files:
                    with open(os.path.join(dirpath, name), "wb") as f:
                        f.write(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 3000))))
        args = self.args() + ["--collector." + c for c in all_collectors()]
        with Exporter(args) as exp:
            for _ in range(3):
                m = exp.metrics()
            successes = {dict(ls)["collector"]: v for (n, ls), v in m.items() if n == SUCCESS}
            print("collector success on garbage:", successes)
            self.assertEqual(successes["meminfo"], 0)
            self.assertEqual(successes["hugepages"], 0)
            self.assertTrue(all(v in (0, 1) for v in successes.values()))
            self.assertIsNone(exp.proc.poll())

    def test_processes_exiting_mid_read(self):
        # Real /proc, every collector on, while processes are born and die all the time.
        stop = threading.Event()

        def churn():
            while not stop.is_set():
                procs = [subprocess.Popen(["/bin/true"]) for _ in range(20)]
                for p in procs:
                    p.wait()

        workers = [threading.Thread(target=churn) for _ in range(2)]
        for w in workers:
            w.start()
        try:
            with Exporter(["--collector." + c for c in all_collectors()]) as exp:
                failures = {}
                for _ in range(15):
                    m = exp.metrics()
                    for (n, ls), v in m.items():
                        if n == SUCCESS and v != 1:
                            failures[dict(ls)["collector"]] = exp.log_text()[-2000:]
                self.assertEqual(failures, {})
        finally:
            stop.set()
            for w in workers:
                w.join()

    def test_config_file_errors_name_file_and_line(self):
        cfg = os.path.join(self.tmp, "pagescope.yml")
        for text, where in (("web:\n  max_requests: lots\n", ":2:"),
                            ("collectors:\n  meminfo:\n    enabled: maybe\n", ":3:"),
                            ("web:\n  listen_address: [\n", ":"),
                            ("nosuchsection:\n  a: 1\n", ":1:")):
            with open(cfg, "w") as f:
                f.write(text)
            r = subprocess.run([BINARY, "--config.file=" + cfg, "--web.listen-address=127.0.0.1:0"],
                               capture_output=True, text=True, timeout=20)
            self.assertNotEqual(r.returncode, 0, text)
            self.assertIn("pagescope.yml" + where, r.stdout + r.stderr, text)


if __name__ == "__main__":
    unittest.main()
