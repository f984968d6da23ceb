"""The shipped Alertmanager configurations (deploy/fleet/alertmanager.yml, docker/alertmanager/
alertmanager.yml) on Debian's real Alertmanager: their inhibitions do what docs/runbook.md says
("Routing and inhibitions"), on alerts labelled as the mixin's rules label them, and name only
alerts the rules have.

- A host about to run out of memory: PagescopeMemoryAvailableLow critical and warning at once,
  with its pressure and reclaim alerts: only the critical one is left active.
- A preallocated guest without its hugepages: its configuration alert is inhibited, another
  guest's is not.
- pagescope down on a host: that host's other alerts are inhibited, another host's are not.
- An alert no inhibition concerns stays active.
"""

import datetime
import json
import os
import re
import shutil
import tempfile
import time
import unittest
import urllib.request

import yaml

from fleet_stack import Daemon, free_port, http_json
from mixin_test import alerts, load_rules
from pagescope_test import SOURCE_DIR

CONFIGS = [os.path.join(SOURCE_DIR, "deploy", "fleet", "alertmanager.yml"),
           os.path.join(SOURCE_DIR, "docker", "alertmanager", "alertmanager.yml")]

HOST, OTHER, DOWN = "kvm1:9724", "kvm2:9724", "kvm3:9724"


def alert(name, severity, instance, **labels):
    return dict(labels, alertname=name, severity=severity, instance=instance, job="pagescope")


# (labels, inhibited?)
CASES = [
    (alert("PagescopeMemoryAvailableLow", "critical", HOST), False),
    (alert("PagescopeMemoryAvailableLow", "warning", HOST), True),
    (alert("PagescopeMemoryPressureHigh", "warning", HOST), True),
    (alert("PagescopeDirectReclaimStalls", "warning", HOST), True),
    (alert("PagescopeMemoryPressureHigh", "warning", OTHER), False),
    (alert("PagescopeVmHugepagesMissing", "critical", HOST, vm="g1"), False),
    (alert("PagescopeVmNotBackedByHugepages", "warning", HOST, vm="g1"), True),
    (alert("PagescopeVmNotBackedByHugepages", "warning", HOST, vm="g2"), False),
    (alert("PagescopeExporterDown", "critical", DOWN), False),
    (alert("PagescopeCoverageIncomplete", "warning", DOWN, gap="folded_groups"), True),
    (alert("PagescopeHugepagesExhausted", "warning", DOWN, page_size="1GiB"), True),
    (alert("PagescopeCoverageIncomplete", "warning", OTHER, gap="folded_groups"), False),
    (alert("PagescopeHugepagesLow", "warning", HOST, page_size="2MiB"), False),
]


class AlertmanagerInhibitions(unittest.TestCase):
    def test_inhibitions_name_alerts_of_the_rules(self):
        names = {a["alert"] for a in alerts(load_rules())}
        for path in CONFIGS:
            with open(path, encoding="utf-8") as f:
                cfg = yaml.safe_load(f)
            self.assertTrue(cfg["inhibit_rules"], path)
            for rule in cfg["inhibit_rules"]:
                for m in rule["source_matchers"] + rule["target_matchers"]:
                    name, op, value = re.fullmatch(r'(\w+)\s*(=~|!=|=)\s*"(.*)"', m).groups()
                    if name != "alertname" or op == "!=":
                        continue
                    pattern = re.compile(value if op == "=~" else re.escape(value))
                    self.assertTrue(any(pattern.fullmatch(n) for n in names),
                                    "%s: %s matches no alert of the rules" % (path, m))
        for labels, _ in CASES:
            self.assertIn(labels["alertname"], names)

    def test_inhibitions_on_a_real_alertmanager(self):
        if not shutil.which("prometheus-alertmanager"):
            self.fail("prometheus-alertmanager is not installed (scripts/install-deps.sh test)")
        for path in CONFIGS:
            with self.subTest(config=os.path.relpath(path, SOURCE_DIR)):
                self.check(path)

    def check(self, config):
        work = tempfile.mkdtemp(prefix="pagescope-am-")
        am = None
        try:
            port = free_port("127.0.0.1")
            url = "http://127.0.0.1:%d" % port
            am = Daemon("alertmanager", [
                "prometheus-alertmanager", "--config.file=" + config,
                "--storage.path=" + os.path.join(work, "data"),
                "--web.listen-address=127.0.0.1:%d" % port, "--cluster.listen-address="],
                work, url + "/-/ready")
            now = datetime.datetime.now(datetime.timezone.utc)
            body = [{"labels": labels, "annotations": {"summary": "test"},
                     "startsAt": now.isoformat(),
                     "endsAt": (now + datetime.timedelta(minutes=10)).isoformat()}
                    for labels, _ in CASES]
            req = urllib.request.Request(url + "/api/v2/alerts", data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=10) as r:
                self.assertEqual(r.status, 200)
            want = {self.key(labels): inhibited for labels, inhibited in CASES}
            got = {}
            deadline = datetime.datetime.now() + datetime.timedelta(seconds=30)
            # Inhibitions are computed as the alerts arrive; read until all are there.
            while datetime.datetime.now() < deadline:
                got = {self.key(a["labels"]): bool(a["status"]["inhibitedBy"])
                       for a in http_json(url + "/api/v2/alerts")}
                if got == want:
                    break
                time.sleep(0.2)
            self.assertEqual(got, want)
        finally:
            if am is not None:
                am.stop()
            shutil.rmtree(work, ignore_errors=True)

    @staticmethod
    def key(labels):
        return tuple(sorted((k, v) for k, v in labels.items() if k != "job"))


if __name__ == "__main__":
    unittest.main()
