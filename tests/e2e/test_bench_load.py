"""Load benchmark (label bench; not part of the normal run): wrk against /metrics on the real
kernel with the default collectors.

1. As many connections as --web.max-requests allows (default 40): zero errors, every answer 200.
2. Five times that many: the excess is answered 503, nothing worse (no socket errors, no other
   status, the exporter alive and serving afterwards).
The same load against node_exporter (meminfo collector only) in the same run gives a ratio.

PAGESCOPE_BENCH_SECONDS sets each wrk run's length (default 60)."""

import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import unittest

from pagescope_test import Exporter

SECONDS = int(os.environ.get("PAGESCOPE_BENCH_SECONDS", "60"))
MAX_REQUESTS = 40

LUA = r"""
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) codes = {} end
function response(status, headers, body) codes[status] = (codes[status] or 0) + 1 end
function done(summary, latency, requests)
  local total = {}
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("codes")) do total[k] = (total[k] or 0) + v end
  end
  for k, v in pairs(total) do io.write(string.format("status %d %d\n", k, v)) end
  io.write(string.format("errors connect %d read %d write %d status %d timeout %d\n",
    summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.status,
    summary.errors.timeout))
  io.write(string.format("latency p50 %.3f p99 %.3f max %.3f ms\n", latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000))
end
"""


def wrk(url, connections, seconds):
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(LUA)
        script = f.name
    try:
        out = subprocess.run(["wrk", "-t2", "-c%d" % connections, "-d%ds" % seconds,
                              "--timeout", "30s", "-s", script, url],
                             capture_output=True, text=True, timeout=seconds + 120).stdout
    finally:
        os.unlink(script)
    codes = {int(k): int(v) for k, v in re.findall(r"^status (\d+) (\d+)$", out, re.M)}
    errors = dict((k, int(v)) for k, v in re.findall(r"(connect|read|write|timeout) (\d+)", out))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    latency = re.search(r"^latency .*$", out, re.M).group(0)
    return codes, errors, rps, latency, out


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@unittest.skipUnless(shutil.which("wrk"), "needs wrk (scripts/install-deps.sh)")
class LoadBench(unittest.TestCase):
    def test_load(self):
        with Exporter() as exp:
            url = exp.url()
            codes, errors, rps, latency, out = wrk(url, MAX_REQUESTS, SECONDS)
            print("pagescope, %d connections (= --web.max-requests), %d s: %.0f scrapes/s, %s, "
                  "statuses %s, errors %s" % (MAX_REQUESTS, SECONDS, rps, latency, codes, errors))
            self.assertEqual(set(codes), {200}, out)
            self.assertEqual(sum(errors.values()), 0, out)
            within_rps = rps

            over = MAX_REQUESTS * 5
            codes, errors, rps, latency, out = wrk(url, over, SECONDS)
            print("pagescope, %d connections (5x the limit), %d s: %.0f answers/s, %s, "
                  "statuses %s, errors %s" % (over, SECONDS, rps, latency, codes, errors))
            self.assertLessEqual(set(codes), {200, 503}, out)
            self.assertGreater(codes.get(200, 0), 0)
            self.assertEqual(sum(errors.values()), 0, out)
            self.assertEqual(exp.get("/metrics")[0], 200)
            self.assertIsNone(exp.proc.poll())

        node_exporter = shutil.which("prometheus-node-exporter") or shutil.which("node_exporter")
        if node_exporter:
            port = free_port()
            proc = subprocess.Popen([node_exporter, "--web.listen-address=127.0.0.1:%d" % port,
                                     "--collector.disable-defaults", "--collector.meminfo"],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                time.sleep(1)
                _, errors, ne_rps, latency, _ = wrk("http://127.0.0.1:%d/metrics" % port,
                                                    MAX_REQUESTS, SECONDS)
                print("node_exporter (meminfo only), %d connections: %.0f scrapes/s, %s, "
                      "errors %s; pagescope/node_exporter = %.2f"
                      % (MAX_REQUESTS, ne_rps, latency, errors, within_rps / ne_rps))
            finally:
                proc.terminate()
                proc.wait()


if __name__ == "__main__":
    unittest.main()
