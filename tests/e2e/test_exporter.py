"""End to end: the real binary on loopback against fixture trees."""

import gzip
import os
import re
import signal
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.request

from pagescope_test import (BINARY, GOLDEN, Exporter, all_collectors, fixture_args, normalize,
                            parse_exposition, promtool_check_metrics, value)

UPDATE = os.environ.get("PAGESCOPE_UPDATE_GOLDEN") == "1"


def everything(case):
    return fixture_args(case) + ["--collector." + c for c in all_collectors() if c != "tlb"]


class FixtureScrape(unittest.TestCase):
    def test_golden_scrape_of_every_collector(self):
        for case in ("two_nodes", "no_numa"):
            with self.subTest(case=case), Exporter(everything(case)) as exp:
                got = normalize(exp.scrape())
                path = os.path.join(GOLDEN, "e2e", case + ".prom")
                if UPDATE:
                    os.makedirs(os.path.dirname(path), exist_ok=True)
                    with open(path, "w") as f:
                        f.write(got)
                with open(path) as f:
                    self.assertEqual(f.read(), got, "differs from " + path)

    def test_promtool_is_silent(self):
        with Exporter(everything("two_nodes")) as exp:
            rc, out = promtool_check_metrics(exp.scrape())
            self.assertEqual((rc, out), (0, ""))
        with Exporter(["--collector." + c for c in all_collectors() if c != "tlb"]) as exp:
            rc, out = promtool_check_metrics(exp.scrape())
            self.assertEqual((rc, out), (0, ""), "live kernel output")

    def test_every_collector_reports_success(self):
        with Exporter(everything("two_nodes")) as exp:
            m = exp.metrics()
            for c in all_collectors():
                if c == "tlb":
                    continue
                self.assertEqual(
                    value(m, "pagescope_scrape_collector_success", collector=c), 1, c)

    def test_malformed_fixture_keeps_serving(self):
        with Exporter(everything("malformed")) as exp:
            m = exp.metrics()
            self.assertEqual(value(m, "pagescope_scrape_collector_success",
                                   collector="hugepages"), 0)
            # What could be read is still there.
            self.assertEqual(value(m, "pagescope_hugepages_pool_pages", page_size="1GiB"), 1)
            self.assertIn("free_hugepages:1: expected an unsigned integer", exp.log_text())


class Http(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.exp = Exporter(fixture_args("two_nodes"))

    @classmethod
    def tearDownClass(cls):
        cls.exp.stop()

    def test_metrics_plain_and_gzip(self):
        status, headers, body = self.exp.get()
        self.assertEqual(status, 200)
        self.assertTrue(headers["Content-Type"].startswith("text/plain; version=0.0.4"))
        self.assertNotIn("Content-Encoding", headers)
        self.assertIn(b"pagescope_hugepages_pool_pages{page_size=\"2MiB\"} 1024", body)
        status, headers, zbody = self.exp.get(headers={"Accept-Encoding": "gzip"})
        self.assertEqual(headers.get("Content-Encoding"), "gzip")
        self.assertIn(b"pagescope_hugepages_pool_pages", gzip.decompress(zbody))
        status, headers, body = self.exp.get(headers={"Accept-Encoding": "gzip;q=0"})
        self.assertNotIn("Content-Encoding", headers)

    def test_head_works_where_get_does(self):
        for path in ("/metrics", "/", "/-/healthy", "/-/ready"):
            status, headers, body = self.exp.get(path, method="HEAD")
            self.assertEqual(status, 200, path)
            self.assertEqual(body, b"", path)
            self.assertGreater(int(headers["Content-Length"]), 0, path)
        status, _, _ = self.exp.get("/nope", method="HEAD")
        self.assertEqual(status, 404)

    def test_landing_health_and_404(self):
        status, headers, body = self.exp.get("/")
        self.assertEqual(status, 200)
        self.assertIn(b'href="/metrics"', body)
        for c in ("hugepages", "numa_hugepages", "meminfo"):
            self.assertIn(("<li>%s</li>" % c).encode(), body)
        self.assertEqual(self.exp.get("/-/healthy")[0], 200)
        self.assertEqual(self.exp.get("/-/ready")[0], 200)
        self.assertEqual(self.exp.get("/nope")[0], 404)
        self.assertEqual(self.exp.get("/metrics/x")[0], 404)
        # Paths are percent-decoded; '+' is a plus sign in a path, not a space.
        self.assertEqual(self.exp.get("/metric%73")[0], 200)
        self.assertEqual(self.exp.get("/metrics+")[0], 404)
        self.assertEqual(self.exp.get("/metrics?collect%5B%5D=meminfo")[0], 200)
        self.assertEqual(self.exp.get("/metrics", method="POST")[0], 405)

    def test_collect_and_exclude(self):
        m = parse_exposition(self.exp.scrape("/metrics?collect[]=meminfo"))
        self.assertEqual(value(m, "pagescope_scrape_collector_success", collector="meminfo"), 1)
        self.assertIsNone(value(m, "pagescope_scrape_collector_success", collector="hugepages"))
        self.assertIsNone(value(m, "pagescope_hugepages_pool_pages", page_size="2MiB"))
        m = parse_exposition(self.exp.scrape(
            "/metrics?collect%5B%5D=meminfo&collect%5B%5D=hugepages"))
        self.assertEqual(value(m, "pagescope_hugepages_pool_pages", page_size="2MiB"), 1024)
        m = parse_exposition(self.exp.scrape("/metrics?exclude[]=meminfo"))
        self.assertIsNone(value(m, "pagescope_memory_total_bytes"))
        self.assertIsNotNone(value(m, "pagescope_hugepages_pool_pages", page_size="2MiB"))
        status, _, body = self.exp.get("/metrics?collect[]=nosuch")
        self.assertEqual(status, 400)
        self.assertIn(b"nosuch", body)


class ListenAddresses(unittest.TestCase):
    def test_every_address_a_name_and_ipv6(self):
        # The helper listens on 127.0.0.1:0; these add ":0" (every address, IPv6 and IPv4),
        # "localhost:0" (one address, IPv4 first) and "[::1]:0".
        extra = [":0", "localhost:0", "[::1]:0"]
        args = ["--web.listen-address=" + a for a in extra] + fixture_args("two_nodes")
        with Exporter(args) as exp:
            m = re.search(r"ports=([\d,]+)", exp.log_text())
            ports = [int(p) for p in m.group(1).split(",")]
            self.assertEqual(len(ports), 4, ports)
            _, every, localhost, ipv6 = ports

            def status(host, port):
                url = "http://%s:%d/-/healthy" % (host, port)
                try:
                    return urllib.request.urlopen(url, timeout=5).status
                except OSError as e:
                    return type(e).__name__
            has_ipv6 = socket.has_ipv6 and os.path.exists("/proc/net/if_inet6")
            self.assertEqual(status("127.0.0.1", every), 200)
            self.assertEqual(status("127.0.0.1", localhost), 200)
            if has_ipv6:
                self.assertEqual(status("[::1]", every), 200)
                self.assertEqual(status("[::1]", ipv6), 200)
                self.assertNotEqual(status("127.0.0.1", ipv6), 200)


class Lifecycle(unittest.TestCase):
    def test_version_and_help(self):
        out = subprocess.run([BINARY, "--version"], capture_output=True, text=True, check=True)
        self.assertRegex(out.stdout, r"^pagescope version \d+\.\d+\.\d+ \(revision \S+\)")
        out = subprocess.run([BINARY, "--help"], capture_output=True, text=True, check=True)
        self.assertIn("--web.listen-address", out.stdout)

    def test_start_line_lists_collectors(self):
        with Exporter(fixture_args("two_nodes") + ["--no-collector.meminfo"]) as exp:
            line = [l for l in exp.log_text().splitlines() if "msg=collectors" in l][0]
            self.assertRegex(line, r"enabled=\S*hugepages")
            self.assertRegex(line, r"disabled=\S*meminfo")

    def test_sigterm_stops_within_a_second(self):
        exp = Exporter(fixture_args("two_nodes"))
        exp.scrape()
        start = time.monotonic()
        exp.signal(signal.SIGTERM)
        exp.proc.wait(timeout=5)
        took = time.monotonic() - start
        self.assertEqual(exp.proc.returncode, 0)
        self.assertLess(took, 1.0)
        exp.stop()

    def test_config_errors_exit_before_serving(self):
        with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as f:
            f.write("web:\n  telemetry_path: /m\ncollectors:\n  meminfo:\n    enabeld: true\n")
        try:
            r = subprocess.run([BINARY, "--config.file=" + f.name,
                                "--web.listen-address=127.0.0.1:0"],
                               capture_output=True, text=True, timeout=10)
            self.assertEqual(r.returncode, 2)
            self.assertIn(f.name + ":5:5: collectors.meminfo.enabeld: unknown key", r.stderr)
            self.assertNotIn("listening", r.stderr)
        finally:
            os.unlink(f.name)
        r = subprocess.run([BINARY, "--no-such-flag"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 2)
        self.assertIn("unknown flag --no-such-flag", r.stderr)

    def test_sighup_reloads_and_keeps_old_config_on_error(self):
        with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as f:
            f.write("collectors:\n  meminfo: false\n")
        try:
            with Exporter(["--config.file=" + f.name] + fixture_args("two_nodes")) as exp:
                self.assertIsNone(value(exp.metrics(), "pagescope_memory_total_bytes"))
                with open(f.name, "w") as g:
                    g.write("collectors:\n  meminfo: true\n")
                exp.signal(signal.SIGHUP)
                self._wait_for(exp, "configuration reloaded")
                self.assertIsNotNone(value(exp.metrics(), "pagescope_memory_total_bytes"))
                with open(f.name, "w") as g:
                    g.write("collectors:\n  meminfo: [\n")
                exp.signal(signal.SIGHUP)
                self._wait_for(exp, "reload failed")
                self.assertIn(f.name + ":", exp.log_text())
                self.assertIsNotNone(value(exp.metrics(), "pagescope_memory_total_bytes"))
                # A flag still wins over the reloaded file.
        finally:
            os.unlink(f.name)

    def test_flag_wins_over_file(self):
        with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as f:
            f.write("collectors:\n  meminfo: false\n")
        try:
            with Exporter(["--config.file=" + f.name, "--collector.meminfo"]
                          + fixture_args("two_nodes")) as exp:
                self.assertIsNotNone(value(exp.metrics(), "pagescope_memory_total_bytes"))
        finally:
            os.unlink(f.name)

    def test_json_logs(self):
        with Exporter(fixture_args("two_nodes") + ["--log.format=json"]) as exp:
            first = exp.log_text().splitlines()[0]
            self.assertRegex(first, r'^\{"ts":"[^"]+","level":"info","msg":"starting pagescope"')

    def _wait_for(self, exp, text, timeout=5):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if text in exp.log_text():
                return
            time.sleep(0.05)
        self.fail("log never said %r: %s" % (text, exp.log_text()))


if __name__ == "__main__":
    unittest.main()
