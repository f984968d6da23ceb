"""A scrape answers within its scraper's timeout (X-Prometheus-Scrape-Timeout-Seconds, else
--web.scrape-timeout, less --web.scrape-timeout-offset) on the real binary, with a collector
slowed on purpose:

- a procfs stand-in (tests/tools/blocking_fs.py: a FUSE mirror of a fixture tree) whose
  pressure/memory read blocks until the test lets it go: the scrape answers before the timeout
  with the pressure collector failed for the reason and everything else as on the plain fixture;
  the next scrapes skip it at once; a request queued behind a scrape that waits for it is
  answered 503 before its own timeout; a real Prometheus with a scrape_timeout shorter than the
  blocked read keeps `up` at 1;
- many stand-in QEMU guests on the real kernel (tests/tools/idle_procs named qemu-system-x86)
  and a timeout that ends in the middle of the qemu collector's loop.

The FUSE tests need root (mount) and Debian's python3-fusepy (scripts/install-deps.sh test).
"""

import concurrent.futures
import contextlib
import os
import re
import shutil
import subprocess
import tempfile
import time
import unittest

from pagescope_test import (FIXTURES, SOURCE_DIR, Exporter, all_collectors, is_root, normalize,
                            parse_exposition, start_child, stop_process, tool, value)
from test_live_alerts import Prometheus, wait_for

BLOCKING_FS = os.path.join(SOURCE_DIR, "tests", "tools", "blocking_fs.py")
TIMEOUT_HEADER = "X-Prometheus-Scrape-Timeout-Seconds"
BLOCKED = "pressure/memory"  # read only by the pressure collector


def collectors_but_tlb():
    return ["--collector." + c for c in all_collectors() if c != "tlb"]


def fixture_paths(procfs, case="two_nodes"):
    base = os.path.join(FIXTURES, case)
    return ["--path.procfs=" + procfs, "--path.sysfs=" + os.path.join(base, "sys"),
            "--path.rootfs=" + os.path.join(base, "root")]


def needs_fuse(test):
    return unittest.skipUnless(is_root(), "needs root: mounts a FUSE filesystem")(test)


@contextlib.contextmanager
def blocking_procfs(case="two_nodes", block=BLOCKED):
    """The fixture's proc tree on a FUSE mount whose `block` read hangs until release() is
    called (or the context ends). Yields (mount point, release)."""
    if not os.path.exists("/usr/lib/python3/dist-packages/fusepy.py"):
        raise AssertionError("python3-fusepy is not installed (scripts/install-deps.sh test)")
    tmp = tempfile.mkdtemp(prefix="pagescope-blockfs-")
    mnt = os.path.join(tmp, "proc")
    os.mkdir(mnt)
    fs = start_child(["/usr/bin/python3", BLOCKING_FS, os.path.join(FIXTURES, case, "proc"), mnt,
                      "--block", block], "ready")

    def release():
        if not fs.stdin.closed:
            fs.stdin.close()  # blocked reads return; the mount goes

    try:
        yield mnt, release
    finally:
        release()
        try:
            fs.wait(timeout=10)
        except subprocess.TimeoutExpired:
            subprocess.run(["umount", "-l", mnt], check=False)
            stop_process(fs)
        fs.stdout.close()
        shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def exporter_on_blocking_procfs(extra_args, case="two_nodes", block=BLOCKED):
    """pagescope on blocking_procfs(). Yields (exporter, release). The blocked read is released
    before the exporter stops: a process cannot exit while a FUSE read it sent to the daemon
    waits for its answer (the kernel waits for the request, even after SIGKILL)."""
    with blocking_procfs(case, block) as (mnt, release):
        exp = Exporter(fixture_paths(mnt, case) + list(extra_args))
        try:
            yield exp, release
        finally:
            release()
            exp.stop()


def timed_get(exp, headers=None):
    start = time.monotonic()
    status, _, body = exp.get(headers=headers or {})
    return status, time.monotonic() - start, body.decode(errors="replace")


def without(text, prefixes):
    """`text` (normalized) without the lines of series whose names start with `prefixes`."""
    return "\n".join(line for line in text.splitlines()
                     if not re.match(r"^(# (HELP|TYPE) )?(%s)" % "|".join(prefixes), line))


class BlockedRead(unittest.TestCase):
    @needs_fuse
    def test_a_blocked_read_is_cut_and_the_answer_leaves_in_time(self):
        with Exporter(fixture_paths(os.path.join(FIXTURES, "two_nodes", "proc"))
                      + collectors_but_tlb()) as plain:
            reference = normalize(plain.scrape())
        with exporter_on_blocking_procfs(collectors_but_tlb()) as (exp, release):
            status, took, body = timed_get(exp, {TIMEOUT_HEADER: "1"})
            print("\nscraper timeout 1 s, offset 0.5 s: answered after %.3f s (%.3f s past "
                  "the deadline, %.3f s before the timeout)" % (took, took - 0.5, 1 - took))
            self.assertEqual(status, 200)
            self.assertLess(took, 1.0)
            m = parse_exposition(body)
            self.assertEqual(value(m, "pagescope_scrape_collector_success",
                                   collector="pressure"), 0)
            self.assertEqual(value(m, "pagescope_scrape_collector_deadline_exceeded_total",
                                   collector="pressure"), 1)
            for c in all_collectors():
                if c not in ("tlb", "pressure"):
                    self.assertEqual(value(m, "pagescope_scrape_collector_success",
                                           collector=c), 1, c)
            # Everything else is there, as on the plain fixture.
            drop = ["pagescope_pressure_", "pagescope_scrape_collector_"]
            self.assertEqual(without(normalize(body), drop), without(reference, drop))
            self.assertIn('collector=pressure err="deadline exceeded: still running when the '
                          'scrape answered, output discarded"', exp.log_text())

            # Later scrapes do not wait for it (after the short grace for late runs).
            time.sleep(0.3)
            status, took, body = timed_get(exp, {TIMEOUT_HEADER: "10"})
            print("next scrape (timeout 10 s) while the read still hangs: %.3f s" % took)
            self.assertEqual(status, 200)
            self.assertLess(took, 1.0)
            m = parse_exposition(body)
            self.assertEqual(value(m, "pagescope_scrape_collector_success",
                                   collector="pressure"), 0)
            self.assertEqual(value(m, "pagescope_scrape_collector_deadline_exceeded_total",
                                   collector="pressure"), 2)
            self.assertIn('collector=pressure err="still running since an earlier scrape"',
                          exp.log_text())

            # Once the read returns, the collector runs again.
            release()

            def pressure_back():
                m = exp.metrics()
                return value(m, "pagescope_scrape_collector_success", collector="pressure")
            wait_for("the pressure collector to succeed again", pressure_back, timeout=10)
            self.assertIn("collector returned after its scrape had answered without it",
                          exp.log_text())

    @needs_fuse
    def test_the_flag_applies_without_a_header_and_to_a_malformed_one(self):
        args = ["--collector.disable-defaults", "--collector.pressure", "--collector.meminfo",
                "--web.scrape-timeout=1s", "--web.scrape-timeout-offset=200ms"]
        with exporter_on_blocking_procfs(args) as (exp, _):
            for headers in ({}, {TIMEOUT_HEADER: "soon"}, {TIMEOUT_HEADER: "1e3"}):
                status, took, body = timed_get(exp, headers)
                print("\n%s: %.3f s" % (headers or "no header", took))
                self.assertEqual(status, 200)
                self.assertLess(took, 1.0)
                m = parse_exposition(body)
                self.assertEqual(value(m, "pagescope_scrape_collector_success",
                                       collector="meminfo"), 1)
                self.assertEqual(value(m, "pagescope_scrape_collector_success",
                                       collector="pressure"), 0)
            self.assertIn("ignoring a malformed X-Prometheus-Scrape-Timeout-Seconds header",
                          exp.log_text())
            self.assertEqual(exp.log_text().count("ignoring a malformed"), 1)  # rate-limited

    @needs_fuse
    def test_a_request_queued_behind_a_waiting_scrape_is_answered_before_its_timeout(self):
        # The first scrape (timeout 4 s) waits for the blocked read until its deadline (3.5 s);
        # a request with a 1 s timeout arriving behind it must not wait that long.
        args = ["--collector.disable-defaults", "--collector.pressure", "--collector.meminfo"]
        with exporter_on_blocking_procfs(args) as (exp, _):
            with concurrent.futures.ThreadPoolExecutor(2) as pool:
                first = pool.submit(timed_get, exp, {TIMEOUT_HEADER: "4"})
                time.sleep(0.3)
                second = pool.submit(timed_get, exp, {TIMEOUT_HEADER: "1"})
                status, took, body = second.result()
                print("\nqueued request, timeout 1 s: HTTP %d after %.3f s" % (status, took))
                self.assertEqual(status, 503)
                self.assertLess(took, 1.0)
                self.assertIn("deadline", body)
                status, took, _ = first.result()
                print("the scrape it queued behind, timeout 4 s: HTTP %d after %.3f s"
                      % (status, took))
                self.assertEqual(status, 200)
                self.assertLess(took, 4.0)
            m = exp.metrics()
            self.assertEqual(value(m, "pagescope_http_requests_refused_total",
                                   reason="deadline"), 1)
            self.assertEqual(value(m, "pagescope_http_requests_total", code="503"), 1)

    @needs_fuse
    def test_prometheus_keeps_up_while_a_collector_is_slower_than_its_timeout(self):
        if not shutil.which("prometheus"):
            raise AssertionError("prometheus is not installed (scripts/install-deps.sh test)")
        work = tempfile.mkdtemp(prefix="pagescope-deadline-prom-")
        try:
            with exporter_on_blocking_procfs(collectors_but_tlb()) as (exp, _):
                config = ("global:\n  scrape_interval: 2s\n  scrape_timeout: 1s\n"
                          "scrape_configs:\n  - job_name: pagescope\n    static_configs:\n"
                          "      - targets: ['127.0.0.1:%d']\n" % exp.port)
                prom = Prometheus(work, None, exp.port, config_text=config)
                try:
                    def scraped_twice():
                        r = prom.query('count_over_time(up{job="pagescope"}[1m])')
                        return r and float(r[0]["value"][1]) >= 2
                    wait_for("two scrapes by Prometheus", scraped_twice, timeout=30)

                    def one(expr):
                        r = prom.query(expr)
                        self.assertEqual(len(r), 1, expr)
                        return float(r[0]["value"][1])
                    self.assertEqual(one('min_over_time(up{job="pagescope"}[1m])'), 1)
                    self.assertLess(one('max_over_time(scrape_duration_seconds'
                                        '{job="pagescope"}[1m])'), 1.0)
                    self.assertEqual(one('pagescope_scrape_collector_success'
                                         '{collector="pressure"}'), 0)
                    self.assertEqual(one('min(pagescope_scrape_collector_success'
                                         '{collector!="pressure"})'), 1)
                    self.assertGreaterEqual(one('pagescope_scrape_collector_deadline_exceeded'
                                                '_total{collector="pressure"}'), 2)
                    print("\nPrometheus (scrape_timeout 1s): up 1, longest scrape %.3f s"
                          % one('max_over_time(scrape_duration_seconds'
                                '{job="pagescope"}[1m])'))
                finally:
                    prom.stop()
        finally:
            shutil.rmtree(work, ignore_errors=True)


class ManyGuests(unittest.TestCase):
    GUESTS = 1500

    def test_a_deadline_in_the_middle_of_the_guests_keeps_the_guests_so_far(self):
        guests = start_child([tool("idle_procs"), str(self.GUESTS), "1", "qemu-system-x86"],
                             "ready")
        try:
            args = ["--collector.disable-defaults", "--collector.processes", "--collector.qemu"]
            with Exporter(args) as exp:
                # Without a deadline: how long each collector takes here and now (after the
                # first scrapes, which read every guest's command line once).
                for _ in range(3):
                    m = exp.metrics()
                processes = value(m, "pagescope_scrape_collector_duration_seconds",
                                  collector="processes")
                qemu = value(m, "pagescope_scrape_collector_duration_seconds", collector="qemu")
                total = sum(1 for (n, _) in m if n == "pagescope_vm_info")
                self.assertGreaterEqual(total, self.GUESTS)
                print("\n%d guests: processes %.3f s, qemu %.3f s without a deadline"
                      % (total, processes, qemu))
                # A timeout whose collectors' deadline (half of it, the offset taking at most
                # half, and a tenth earlier: 0.45 of it) falls after the processes collector, in
                # the middle of the qemu collector (which runs after it). The machine is shared:
                # a scrape where the collectors ran slower or faster than measured is tried
                # again with the timeout moved towards the middle of the qemu collector.
                timeout = (processes + 0.5 * qemu) / 0.45
                # After the deadline (half the timeout) the answer has a quarter of the timeout
                # to be assembled and sent before the server answers 503 instead (so that the
                # scraper hears why before it gives up). Under AddressSanitizer the exposition
                # of the guests so far can take longer than a quarter of these sub-second
                # timeouts: a 503 is tried again with a longer timeout.
                refused = []
                for attempt in range(10):
                    # A collector cut at the previous attempt's deadline runs on to its end,
                    # and a scrape queued behind it may be refused (503) when its own deadline
                    # passes while it waits: let it finish first with a scrape of no deadline
                    # of its own (the flag's 10 s).
                    if attempt:
                        exp.metrics()
                    tried = timeout
                    status, took, body = timed_get(exp, {TIMEOUT_HEADER: "%.3f" % tried})
                    if status == 503:
                        refused.append("%.3f s" % tried)
                        success = None
                        timeout = tried * 1.15
                        continue
                    self.assertEqual(status, 200, body)
                    m = parse_exposition(body)
                    success = {c: value(m, "pagescope_scrape_collector_success", collector=c)
                               for c in ("processes", "qemu")}
                    if success == {"processes": 1, "qemu": 0}:
                        break
                    timeout = tried * (0.9 if success["qemu"] == 1 else 1.15)
                print("timeout %.3f s: answered after %.3f s (attempt %d; refused at %s)"
                      % (tried, took, attempt + 1, ", ".join(refused) or "none"))
                if success is None and "ASAN_OPTIONS" in os.environ:
                    self.skipTest("under AddressSanitizer every timeout that ends in the qemu "
                                  "collector left too little time to assemble the answer "
                                  "(refused at %s); the plain build asserts this"
                                  % ", ".join(refused))
                self.assertEqual(status, 200, body)
                self.assertLess(took, tried)
                self.assertEqual(success, {"processes": 1, "qemu": 0})
                self.assertGreaterEqual(value(m, "pagescope_scrape_collector_deadline_exceeded"
                                                 "_total", collector="qemu"), 1)
                got = sum(1 for (n, _) in m if n == "pagescope_vm_info")
                print("guests reported before the deadline: %d of %d" % (got, total))
                self.assertGreater(got, 0)
                self.assertLess(got, total)
                self.assertIn('collector=qemu err="deadline exceeded: stopped at the scrape\'s '
                              'deadline, output incomplete"', exp.log_text())
        finally:
            guests.stdin.close()
            stop_process(guests)
            guests.stdout.close()


if __name__ == "__main__":
    unittest.main()
