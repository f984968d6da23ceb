"""Soak benchmark (label bench; not part of the normal run): process churn (short-lived
processes, thousands a minute) while scraping every second with every collector on, on the real
kernel. Prints resident memory, open descriptors and threads before and after, and checks they
do not grow (no leak per scrape or per vanished process).

PAGESCOPE_SOAK_SECONDS sets the length (default 300)."""

import os
import subprocess
import threading
import time
import unittest

from pagescope_test import Exporter, all_collectors

SECONDS = int(os.environ.get("PAGESCOPE_SOAK_SECONDS", "300"))
SUCCESS = "pagescope_scrape_collector_success"


def usage(pid):
    """RSS, threads and open descriptors; the minimum of a few samples, so a connection being
    accepted at that moment does not count."""
    samples = []
    for _ in range(5):
        with open("/proc/%d/status" % pid) as f:
            status = dict(line.split(":", 1) for line in f)
        samples.append({"rss_kib": int(status["VmRSS"].split()[0]),
                        "threads": int(status["Threads"]),
                        "fds": len(os.listdir("/proc/%d/fd" % pid))})
        time.sleep(0.05)
    return {k: min(s[k] for s in samples) for k in samples[0]}


class SoakBench(unittest.TestCase):
    def test_soak_with_process_churn(self):
        stop = threading.Event()
        spawned = [0]

        def churn():
            while not stop.is_set():
                procs = [subprocess.Popen(["/bin/sh", "-c", "exit 0"]) for _ in range(10)]
                for p in procs:
                    p.wait()
                spawned[0] += len(procs)
                time.sleep(0.05)

        with Exporter(["--collector." + c for c in all_collectors()]) as exp:
            # Warm up: the first scrapes size the scrape thread's buffers and caches; measure
            # growth after that.
            for _ in range(100):
                exp.get("/metrics")
            before = usage(exp.proc.pid)
            workers = [threading.Thread(target=churn) for _ in range(2)]
            for w in workers:
                w.start()
            start = time.monotonic()
            scrapes, failed, slowest = 0, {}, 0.0
            peak = dict(before)
            rss_trend = [before["rss_kib"]]
            next_sample = time.monotonic() + SECONDS / 6
            try:
                while time.monotonic() - start < SECONDS:
                    t0 = time.monotonic()
                    m = exp.metrics()
                    slowest = max(slowest, time.monotonic() - t0)
                    scrapes += 1
                    for (n, ls), v in m.items():
                        if n == SUCCESS and v != 1:
                            failed[dict(ls)["collector"]] = failed.get(dict(ls)["collector"], 0) + 1
                    u = usage(exp.proc.pid)
                    peak = {k: max(peak[k], u[k]) for k in peak}
                    if time.monotonic() >= next_sample:
                        rss_trend.append(u["rss_kib"])
                        next_sample += SECONDS / 6
                    time.sleep(max(0.0, 1.0 - (time.monotonic() - t0)))
            finally:
                stop.set()
                for w in workers:
                    w.join()
            elapsed = time.monotonic() - start
            for _ in range(3):
                exp.metrics()
            after = usage(exp.proc.pid)
            print("soak %.0f s: %d scrapes (slowest %.3f s), %d processes spawned (%.0f/min), "
                  "failed collector scrapes %s" % (elapsed, scrapes, slowest, spawned[0],
                                                   spawned[0] * 60 / elapsed, failed))
            rss_trend.append(after["rss_kib"])
            print("before: %s\nafter:  %s\npeak:   %s" % (before, after, peak))
            print("RSS KiB every %.0f s: %s" % (SECONDS / 6, rss_trend))
            self.assertEqual(failed, {})
            self.assertEqual(after["fds"], before["fds"])
            self.assertEqual(after["threads"], before["threads"])
            # No per-scrape or per-process leak: after the warm-up memory stays level.
            self.assertLess(after["rss_kib"], before["rss_kib"] * 1.1 + 2048, rss_trend)


if __name__ == "__main__":
    unittest.main()
