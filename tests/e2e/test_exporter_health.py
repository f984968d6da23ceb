"""The exporter's own health on the real binary: the standard process_* metrics against
/proc/<pid> of the exporter, and the HTTP request counters moving with real requests (200, 404,
405, 400, 503 under --web.max-requests, 401 with basic auth, a failed TLS handshake)."""

import base64
import concurrent.futures
import os
import shutil
import socket
import ssl
import tempfile
import time
import unittest
import urllib.error
import urllib.request

from pagescope_test import FIXTURES, Exporter, fixture_args, parse_exposition, value
from test_web_security import bcrypt, make_pki

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def proc_stat(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is stat field 3 (state): field n is fields[n - 3]
    return {"utime": int(fields[11]), "stime": int(fields[12]), "starttime": int(fields[19]),
            "vsize": int(fields[20]), "rss": int(fields[21])}


def soft_limit(pid, name):
    with open("/proc/%d/limits" % pid) as f:
        for line in f:
            if line.startswith(name):
                soft = line[25:].split()[0]
                return float(2 ** 64 - 1) if soft == "unlimited" else float(soft)
    raise AssertionError("no %r in /proc/%d/limits" % (name, pid))


def boot_time():
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("btime "):
                return int(line.split()[1])
    raise AssertionError("no btime in /proc/stat")


def counts(exp):
    """({code: n}, {reason: n}) from a scrape (which itself is not counted yet)."""
    m = exp.metrics()
    codes = {dict(ls)["code"]: v for (n, ls), v in m.items()
             if n == "pagescope_http_requests_total"}
    refused = {dict(ls)["reason"]: v for (n, ls), v in m.items()
               if n == "pagescope_http_requests_refused_total"}
    return codes, refused


class ProcessMetrics(unittest.TestCase):
    def test_values_match_proc_of_the_exporter(self):
        with Exporter(fixture_args("two_nodes")) as exp:
            pid = exp.proc.pid
            exp.scrape()
            before = proc_stat(pid)
            m = exp.metrics()
            after = proc_stat(pid)
            cpu = value(m, "process_cpu_seconds_total")
            self.assertGreaterEqual(cpu, (before["utime"] + before["stime"]) / CLK_TCK)
            self.assertLessEqual(cpu, (after["utime"] + after["stime"]) / CLK_TCK)
            self.assertEqual(value(m, "process_start_time_seconds"),
                             boot_time() + before["starttime"] / CLK_TCK)
            self.assertEqual(value(m, "process_max_fds"), soft_limit(pid, "Max open files"))
            # Unlimited is 2^64 - 1, printed with 16 significant digits.
            self.assertAlmostEqual(value(m, "process_virtual_memory_max_bytes")
                                   / soft_limit(pid, "Max address space"), 1.0, places=12)
            # Memory moves a little between the reads: within 1 MiB and 16 MiB.
            self.assertLess(abs(value(m, "process_resident_memory_bytes")
                                - after["rss"] * PAGE), 1 << 20)
            self.assertLess(abs(value(m, "process_virtual_memory_bytes") - after["vsize"]), 16 << 20)
            # The exporter's descriptors (listening socket, log, loop, pipes): the one that lists
            # them and the scrape's connection are counted too.
            fds = len(os.listdir("/proc/%d/fd" % pid))
            self.assertGreaterEqual(value(m, "process_open_fds"), fds)
            self.assertLessEqual(value(m, "process_open_fds"), fds + 3)
            print("\nprocess_open_fds %d (%d in /proc/%d/fd from outside), resident %.1f MiB"
                  % (value(m, "process_open_fds"), fds, pid,
                     value(m, "process_resident_memory_bytes") / 2 ** 20))


class RequestCounters(unittest.TestCase):
    def test_counters_move_with_requests(self):
        with Exporter(fixture_args("two_nodes")) as exp:
            codes, refused = counts(exp)
            self.assertEqual(codes, {"200": 0})  # the first scrape: nothing answered yet
            self.assertEqual(refused, {"too_many_requests": 0, "unauthorized": 0,
                                       "bad_request": 0, "deadline": 0})
            for path, method, status in (("/metrics", "GET", 200), ("/", "GET", 200),
                                         ("/-/healthy", "GET", 200), ("/nope", "GET", 404),
                                         ("/nope2", "GET", 404), ("/metrics", "POST", 405),
                                         ("/metrics?collect[]=nosuch", "GET", 400),
                                         ("/metrics", "HEAD", 200)):
                self.assertEqual(exp.get(path, method=method)[0], status, path)
            codes, refused = counts(exp)
            self.assertEqual(codes, {"200": 5, "404": 2, "405": 1, "400": 1})
            self.assertEqual(refused["bad_request"], 1)
            self.assertEqual(refused["unauthorized"], 0)

    def test_503_under_max_requests(self):
        # A meminfo with 300k extra lines makes each scrape long enough to overlap.
        tmp = tempfile.mkdtemp(prefix="pagescope-slowfix-")
        try:
            root = os.path.join(tmp, "case")
            shutil.copytree(os.path.join(FIXTURES, "two_nodes"), root, symlinks=True)
            with open(os.path.join(root, "proc", "meminfo"), "a") as f:
                for i in range(300000):
                    f.write("Extra%d:        %d kB\n" % (i, i))
            args = ["--path.procfs=" + os.path.join(root, "proc"),
                    "--path.sysfs=" + os.path.join(root, "sys"),
                    "--path.rootfs=" + os.path.join(root, "root"), "--web.max-requests=1",
                    "--collector.disable-defaults", "--collector.meminfo"]
            with Exporter(args) as exp:
                with concurrent.futures.ThreadPoolExecutor(12) as pool:
                    got = list(pool.map(lambda _: exp.get()[0], range(12)))
                codes, refused = counts(exp)
                self.assertEqual(codes.get("503", 0), got.count(503))
                self.assertEqual(codes["200"], got.count(200))
                self.assertGreater(got.count(503), 0)
                self.assertEqual(refused["too_many_requests"], got.count(503))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def test_401_and_tls_handshake_failures(self):
        d = tempfile.mkdtemp(prefix="pagescope-health-tls-")
        try:
            make_pki(d)
            cfg = os.path.join(d, "web.yml")
            with open(cfg, "w") as f:
                f.write("tls_server_config:\n  cert_file: %s/server.crt\n  key_file: %s/server.key\n"
                        "basic_auth_users:\n  alice: '%s'\n" % (d, d, bcrypt("wonderland")))
            with Exporter(fixture_args("two_nodes") + ["--web.config.file=" + cfg]) as exp:
                ctx = ssl.create_default_context(cafile=os.path.join(d, "ca.crt"))

                def get(auth=None):
                    req = urllib.request.Request("https://127.0.0.1:%d/metrics" % exp.port)
                    if auth:
                        req.add_header("Authorization",
                                       "Basic " + base64.b64encode(auth.encode()).decode())
                    try:
                        with urllib.request.urlopen(req, context=ctx, timeout=30) as r:
                            return r.status, r.read().decode()
                    except urllib.error.HTTPError as e:
                        return e.code, ""

                self.assertEqual(get()[0], 401)
                self.assertEqual(get("alice:wrong")[0], 401)
                # A TCP connection without TLS (a port probe) is no failed handshake; plain HTTP
                # on the TLS port and a client that does not trust the certificate are.
                socket.create_connection(("127.0.0.1", exp.port), timeout=10).close()
                with socket.create_connection(("127.0.0.1", exp.port), timeout=10) as s:
                    s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
                    s.recv(1024)
                with self.assertRaises(ssl.SSLError):
                    with socket.create_connection(("127.0.0.1", exp.port), timeout=10) as s:
                        ssl.create_default_context().wrap_socket(s, server_hostname="127.0.0.1")
                time.sleep(0.2)
                status, body = get("alice:wonderland")
                self.assertEqual(status, 200)
                m = parse_exposition(body)
                self.assertEqual(value(m, "pagescope_http_requests_refused_total",
                                       reason="unauthorized"), 2)
                self.assertEqual(value(m, "pagescope_http_requests_total", code="401"), 2)
                self.assertEqual(value(m, "pagescope_http_requests_refused_total",
                                       reason="tls_handshake"), 2)
        finally:
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
