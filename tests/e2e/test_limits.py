"""Limits of the web server: idle and slow connections (slowloris) do not block scrapes,
--web.max-requests answers the excess with 503, oversized requests are refused, and the exporter
keeps serving through all of it."""

import concurrent.futures
import os
import shutil
import socket
import subprocess
import tempfile
import time
import unittest

from pagescope_test import FIXTURES, Exporter, fixture_args


def process_status(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("Threads", "VmRSS"):
                out[key] = int(value.split()[0])
    return out


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed_scrape(exp):
    t0 = time.monotonic()
    status, _, body = exp.get("/metrics", timeout=60)
    return status, time.monotonic() - t0, body


class Limits(unittest.TestCase):
    def open_connections(self, exp, n, partial):
        socks = []
        for _ in range(n):
            s = socket.create_connection(("127.0.0.1", exp.port), timeout=10)
            if partial:  # a request that never ends: the slowloris pattern
                s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            socks.append(s)
        return socks

    def scrapes_stay_fast(self, exp, slow, idle):
        """Opens `slow` half-sent and `idle` silent connections, checks three scrapes are quick,
        and returns the connections (the caller closes them)."""
        socks = self.open_connections(exp, slow, partial=True)
        socks += self.open_connections(exp, idle, partial=False)
        try:
            time.sleep(0.3)
            for _ in range(3):
                status, seconds, _ = timed_scrape(exp)
                print("scrape with %d idle/slow connections open: %.3f s" % (slow + idle, seconds))
                self.assertEqual(status, 200)
                self.assertLess(seconds, 2.0)
        except BaseException:
            for s in socks:
                s.close()
            raise
        return socks

    def test_idle_and_slow_connections_do_not_block_scrapes(self):
        with Exporter(fixture_args("two_nodes")) as exp:
            for s in self.scrapes_stay_fast(exp, slow=150, idle=50):
                s.close()

    def test_many_slow_connections_cost_no_threads(self):
        # One event loop holds every connection: 500 slow or idle ones add no thread and do not
        # delay a scrape.
        with Exporter(fixture_args("two_nodes")) as exp:
            exp.scrape()  # the first scrape starts the thread that runs the collectors
            before = process_status(exp.proc.pid)
            socks = self.scrapes_stay_fast(exp, slow=400, idle=100)
            try:
                during = process_status(exp.proc.pid)
                print("threads %d -> %d, resident %d -> %d KiB with 500 connections open"
                      % (before["Threads"], during["Threads"], before["VmRSS"], during["VmRSS"]))
                self.assertEqual(during["Threads"], before["Threads"])
                # AddressSanitizer's redzones and quarantine make every allocation bigger.
                if "ASAN_OPTIONS" not in os.environ:
                    self.assertLess(during["VmRSS"] - before["VmRSS"], 8 * 1024)
            finally:
                for s in socks:
                    s.close()

    def test_out_of_descriptors_pauses_accepting_and_recovers(self):
        # With the descriptor limit reached, accept() fails with EMFILE; the server pauses
        # accepting (instead of retrying at full CPU), warns, and serves again once
        # connections close.
        with Exporter(fixture_args("two_nodes")) as exp:
            subprocess.run(["prlimit", "--pid", str(exp.proc.pid), "--nofile=40:40"], check=True)
            socks = self.open_connections(exp, 80, partial=True)
            try:
                time.sleep(0.5)
                cpu0 = cpu_seconds(exp.proc.pid)
                time.sleep(2.0)
                spent = cpu_seconds(exp.proc.pid) - cpu0
                print("CPU over 2 s while out of descriptors: %.2f s" % spent)
                self.assertLess(spent, 0.5)
                self.assertIn("cannot accept connections", exp.log_text())
            finally:
                for s in socks:
                    s.close()
            time.sleep(0.3)
            status, seconds, _ = timed_scrape(exp)
            self.assertEqual(status, 200)
            self.assertIsNone(exp.proc.poll())

    def test_max_requests_answers_503_for_the_excess(self):
        # A meminfo with 300k extra lines makes each scrape take long enough to overlap.
        tmp = tempfile.mkdtemp(prefix="pagescope-slowfix-")
        try:
            root = os.path.join(tmp, "case")
            shutil.copytree(os.path.join(FIXTURES, "two_nodes"), root, symlinks=True)
            with open(os.path.join(root, "proc", "meminfo"), "a") as f:
                for i in range(300000):
                    f.write("Extra%d:        %d kB\n" % (i, i))
            args = ["--path.procfs=" + os.path.join(root, "proc"),
                    "--path.sysfs=" + os.path.join(root, "sys"),
                    "--path.rootfs=" + os.path.join(root, "root"), "--web.max-requests=2"]
            with Exporter(args) as exp:
                with concurrent.futures.ThreadPoolExecutor(24) as pool:
                    results = list(pool.map(lambda _: timed_scrape(exp), range(24)))
                codes = sorted(r[0] for r in results)
                print("24 parallel scrapes with --web.max-requests=2: %d x 200, %d x 503"
                      % (codes.count(200), codes.count(503)))
                self.assertEqual(set(codes), {200, 503})
                self.assertGreaterEqual(codes.count(200), 2)
                for status, _, body in results:
                    if status == 503:
                        self.assertIn(b"max-requests", body)
                self.assertEqual(timed_scrape(exp)[0], 200)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def test_oversized_and_garbage_requests(self):
        with Exporter(fixture_args("two_nodes")) as exp:
            def raw(data):
                with socket.create_connection(("127.0.0.1", exp.port), timeout=15) as s:
                    try:
                        s.sendall(data)
                        return s.recv(200)
                    except (ConnectionResetError, BrokenPipeError):
                        return b""
            # A request head of a few KiB (long basic auth, proxies' headers) is fine; 8 KiB is
            # the limit (max_request_size).
            fine = raw(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Pad: "
                       + b"a" * 5000 + b"\r\n\r\n")
            self.assertIn(b" 200 ", fine[:20])
            big = b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 40000 + b"\r\n\r\n"
            answer = raw(big)
            self.assertNotIn(b" 200 ", answer[:20])
            many = b"GET /metrics HTTP/1.1\r\n" + b"".join(
                b"X-H%d: v\r\n" % i for i in range(2000)) + b"\r\n"
            self.assertNotIn(b" 200 ", raw(many)[:20])
            for junk in (b"\x00\xff" * 100 + b"\r\n\r\n", b"GET " + b"/" * 20000 + b" HTTP/1.1\r\n\r\n",
                         b"GARBAGE\r\n\r\n", b"GET /metrics HTTP/9.9\r\n\r\n",
                         b"POST /metrics HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\nx"):
                raw(junk)
            status, seconds, _ = timed_scrape(exp)
            self.assertEqual(status, 200)
            self.assertIsNone(exp.proc.poll())


if __name__ == "__main__":
    unittest.main()
