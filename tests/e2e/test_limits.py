"""Limits of the web server: idle and slow connections (slowloris) do not block scrapes,
--web.max-requests answers the excess with 503, oversized requests are refused, and the exporter
keeps serving through all of it."""

import concurrent.futures
import os
import shutil
import socket
import tempfile
import time
import unittest

from pagescope_test import FIXTURES, Exporter, fixture_args


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

    def test_idle_and_slow_connections_do_not_block_scrapes(self):
        with Exporter(fixture_args("two_nodes")) as exp:
            socks = self.open_connections(exp, 150, partial=True)
            socks += self.open_connections(exp, 50, partial=False)
            try:
                time.sleep(0.3)
                for _ in range(3):
                    status, seconds, _ = timed_scrape(exp)
                    print("scrape with 200 idle/slow connections open: %.3f s" % seconds)
                    self.assertEqual(status, 200)
                    self.assertLess(seconds, 2.0)
            finally:
                for s in socks:
                    s.close()

    def test_more_slow_connections_than_threads_delay_at_most_one_request_timeout(self):
        # 400 > the 256 worker threads: the scrape waits in the queue until the slow requests
        # time out (request_timeout_ms, 10 s), then gets through.
        with Exporter(fixture_args("two_nodes")) as exp:
            socks = self.open_connections(exp, 400, partial=True)
            try:
                time.sleep(0.3)
                status, seconds, _ = timed_scrape(exp)
                print("scrape with 400 slow connections open: %.3f s" % seconds)
                self.assertEqual(status, 200)
                self.assertLess(seconds, 15.0)
                status, seconds, _ = timed_scrape(exp)
                self.assertEqual(status, 200)
            finally:
                for s in socks:
                    s.close()

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
