"""The monitoring mixin: generated files up to date, rules valid and unit-tested (every alert
fires, stays quiet and clears; every recording rule checked; every host-shape scenario of
tests/rules/scenario_*_test.yml says of every alert whether it fires), the alerting policy's
settings (host kinds, severities, expected THP modes) reaching the rules, runbook sections for
every alert with its scenario, meaning and action, dashboards complete (datasource, unit,
description on every panel, the fleet labels' variables on every per-host dashboard) with
queries that parse."""

import json
import os
import re
import subprocess
import tempfile
import unittest

import yaml

from mixin_test import (DASHBOARD_DIR, RULE_TESTS, RULES_FILE, RUNBOOK, SOURCE_DIR, alerts, build,
                        label_values_query, load_dashboards, load_rules, panels, recordings,
                        substitute, variables)


class GeneratedFiles(unittest.TestCase):
    def test_committed_files_match_the_jsonnet_sources(self):
        with tempfile.TemporaryDirectory() as tmp:
            generated = build(tmp)
        self.assertIn(os.path.join("alerts", "pagescope-rules.yml"), generated)
        for rel, text in generated.items():
            path = os.path.join(SOURCE_DIR, rel)
            self.assertTrue(os.path.exists(path), rel + " is generated but not committed")
            with open(path, encoding="utf-8") as f:
                self.assertEqual(f.read(), text, rel + " differs: run mixin/build.sh and commit")
        committed = {os.path.join("dashboards", n) for n in os.listdir(DASHBOARD_DIR)
                     if n.endswith(".json")}
        self.assertEqual(committed - set(generated), set(), "stale dashboards in dashboards/")

    def test_config_overrides_reach_the_rules(self):
        # No THP mode expected anywhere (the database kind's expectation switched off too): no
        # THP rule, and no fleet drift rule.
        with tempfile.TemporaryDirectory() as tmp:
            gen = build(tmp, {"selector": 'job="node"', "forOverride": "1s",
                              "thpExpectedMode": None,
                              "hostKinds": {"database": {"thpExpectedMode": None}}})
        rules = yaml.safe_load(gen[os.path.join("alerts", "pagescope-rules.yml")])
        for a in alerts(rules):
            self.assertEqual(a["for"], "1s", a["alert"])
            self.assertNotIn('job="pagescope"', a["expr"], a["alert"])
        self.assertNotIn("PagescopeThpModeUnexpected", [a["alert"] for a in alerts(rules)])
        self.assertNotIn("fleet:pagescope_thp_mode_unexpected_hosts:sum",
                         [r["record"] for r in recordings(rules)])
        with tempfile.TemporaryDirectory() as tmp:
            gen = build(tmp, {"for": {"PagescopeHugepagesLow": "1m",
                                      "PagescopeMemoryAvailableLow": {"critical": "2m"}}})
        fors = {(a["alert"], a["labels"]["severity"]): a["for"]
                for a in alerts(yaml.safe_load(gen[os.path.join("alerts", "pagescope-rules.yml")]))}
        self.assertEqual(fors[("PagescopeHugepagesLow", "warning")], "1m")
        self.assertEqual(fors[("PagescopeHugepagesExhausted", "warning")], "15m")
        # A per-severity duration is merged key by key as well.
        self.assertEqual(fors[("PagescopeMemoryAvailableLow", "critical")], "2m")
        self.assertEqual(fors[("PagescopeMemoryAvailableLow", "warning")], "15m")

    def test_host_kinds_and_severities(self):
        """The default rules: where a full pool is the goal (hypervisor, kubernetes, dedicated,
        database hosts) the pool-state alerts are left out, by kind; failures page everywhere.
        Changing one kind's severity splits an alert into one rule per severity, each on its own
        kinds; a site-wide severity, a new kind and detection switched off reach the rules."""
        rules = load_rules()
        by = {}
        for a in alerts(rules):
            by.setdefault(a["alert"], []).append(a)
        (exhausted,) = by["PagescopeHugepagesExhausted"]
        self.assertEqual(exhausted["labels"]["severity"], "warning")
        self.assertIn('unless on (job, instance, cluster) instance:pagescope_host_kind:info'
                      '{kind=~"database|dedicated|hypervisor|kubernetes"}', exhausted["expr"])
        predicted = {a["labels"]["severity"]: a["expr"]
                     for a in by["PagescopeHugepagesExhaustionPredicted"]}
        self.assertIn('and on (job, instance, cluster) instance:pagescope_host_kind:info'
                      '{kind=~"hypervisor|kubernetes"}', predicted["info"])
        for name in ("PagescopeVmHugepagesMissing", "PagescopeCgroupHugetlbLimitHits"):
            (a,) = by[name]
            self.assertEqual(a["labels"]["severity"], "critical", name)
            self.assertNotIn("host_kind", a["expr"], name)
        kind = [r for r in recordings(rules) if r["record"] == "instance:pagescope_host_kind:info"]
        self.assertIn('"kind", "hypervisor"', kind[0]["expr"])
        with tempfile.TemporaryDirectory() as tmp:
            gen = build(tmp, {
                "hostKinds": {"hypervisor": {"severities": {"PagescopeHugepagesExhausted": "info"}},
                              "spare": {"severities": {"PagescopeHugepagesLow": "critical"}}},
                "severities": {"PagescopeCgroupOomKills": "critical"},
                "hostKindDetect": [], "hostKindDefault": "spare",
            })
        text = gen[os.path.join("alerts", "pagescope-rules.yml")]
        rules = yaml.safe_load(text)
        by = {}
        for a in alerts(rules):
            by.setdefault(a["alert"], {})[a["labels"]["severity"]] = a["expr"]
        self.assertEqual(sorted(by["PagescopeHugepagesExhausted"]), ["info", "warning"])
        self.assertIn('and on (job, instance, cluster) instance:pagescope_host_kind:info'
                      '{kind=~"hypervisor"}', by["PagescopeHugepagesExhausted"]["info"])
        # The default kind is now "spare": hosts without a kind get its severities.
        self.assertIn('unless on (job, instance, cluster) instance:pagescope_host_kind:info'
                      '{kind=~"database|dedicated|general|hypervisor|kubernetes"}',
                      by["PagescopeHugepagesLow"]["critical"])
        self.assertEqual(sorted(by["PagescopeCgroupOomKills"]), ["critical"])
        kind = [r for r in recordings(rules) if r["record"] == "instance:pagescope_host_kind:info"]
        self.assertNotIn("pagescope_vm_info", kind[0]["expr"])
        self.assertIn('"kind", "spare"', kind[0]["expr"])
        r = subprocess.run(["promtool", "check", "rules", "/dev/stdin"], input=text,
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_fleet_config(self):
        """fleetLabels reach every fleet rule and the fleet dashboard's variables; the KSM drift
        rule exists only with ksmExpectedMode; per-flavor minimums split the slots alert."""
        rules = load_rules()
        fleet = [g for g in rules["groups"] if g["name"] == "pagescope-fleet"][0]["rules"]
        self.assertNotIn("fleet:pagescope_ksm_run_unexpected_hosts:sum",
                         [r["record"] for r in fleet])
        with tempfile.TemporaryDirectory() as tmp:
            gen = build(tmp, {"fleetLabels": ["region", "az"], "ksmExpectedMode": "run",
                              "fleetFlavorSlotsMinByFlavor": {"g1.large": 2}})
        rules = yaml.safe_load(gen[os.path.join("alerts", "pagescope-rules.yml")])
        fleet = [g for g in rules["groups"] if g["name"] == "pagescope-fleet"][0]["rules"]
        by_name = {r["record"]: r["expr"] for r in fleet}
        self.assertIn('sum by (region, az) (pagescope_ksm_run{job="pagescope", mode!="run"})',
                      by_name["fleet:pagescope_ksm_run_unexpected_hosts:sum"])
        for name, expr in by_name.items():
            if "sum by" in expr or "count by" in expr:
                self.assertIn("by (region, az", expr, name)
            self.assertNotIn("cluster", expr, name)
        slots = [a for a in alerts(rules) if a["alert"] == "PagescopeFleetFlavorSlotsLow"][0]
        self.assertIn('{flavor!="g1.large"} < 10', slots["expr"])
        self.assertIn('{flavor="g1.large"} < 2', slots["expr"])
        self.assertIn("$labels.region $labels.az", slots["annotations"]["description"])
        d = json.loads(gen[os.path.join("dashboards", "pagescope-fleet.json")])
        self.assertEqual([v["name"] for v in d["templating"]["list"]][:3],
                         ["datasource", "region", "az"])
        r = subprocess.run(["promtool", "check", "rules", "/dev/stdin"],
                           input=gen[os.path.join("alerts", "pagescope-rules.yml")],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)


class Rules(unittest.TestCase):
    def test_promtool_check_rules(self):
        r = subprocess.run(["promtool", "check", "rules", RULES_FILE], capture_output=True,
                           text=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_promtool_unit_tests(self):
        self.assertTrue(RULE_TESTS)
        r = subprocess.run(["promtool", "test", "rules"] + RULE_TESTS, capture_output=True,
                           text=True, cwd=os.path.dirname(RULE_TESTS[0]))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_every_alert_fires_stays_quiet_and_clears_in_a_unit_test(self):
        fired, quiet_before, cleared = {}, {}, {}
        healthy = set()
        expr_tests = []
        for path in RULE_TESTS:
            with open(path, encoding="utf-8") as f:
                doc = yaml.safe_load(f)
            for t in doc["tests"]:
                expr_tests += [e["expr"] for e in t.get("promql_expr_test", [])]
                by_alert = {}
                for a in t.get("alert_rule_test", []):
                    by_alert.setdefault(a["alertname"], []).append(
                        (_minutes(a["eval_time"]), bool(a.get("exp_alerts"))))
                for name, evals in by_alert.items():
                    if path.endswith("healthy_host_test.yml"):
                        if not any(firing for _, firing in evals):
                            healthy.add(name)
                        continue
                    times = [m for m, firing in evals if firing]
                    if not times:
                        continue
                    fired[name] = True
                    quiet_before[name] = quiet_before.get(name) or any(
                        m < min(times) and not firing for m, firing in evals)
                    cleared[name] = cleared.get(name) or any(
                        m > max(times) and not firing for m, firing in evals)
        rules = load_rules()
        for a in alerts(rules):
            name = a["alert"]
            self.assertTrue(fired.get(name), name + ": no unit test where it fires")
            self.assertTrue(quiet_before.get(name), name + ": no unit test where it does not fire")
            self.assertTrue(cleared.get(name), name + ": no unit test where it clears")
            self.assertIn(name, healthy, name + ": not checked on the healthy host")
        for r in recordings(rules):
            self.assertTrue(any(r["record"] in e for e in expr_tests),
                            r["record"] + ": no promql_expr_test")

    def test_every_scenario_says_of_every_alert_whether_it_fires(self):
        """One scenario file per host shape of issue 22 (a realistic series set over hours); each
        checks every alert at least once, so an alert added later is judged on every shape."""
        names = {a["alert"] for a in alerts(load_rules())}
        scenarios = [p for p in RULE_TESTS if os.path.basename(p).startswith("scenario_")]
        self.assertGreaterEqual(len(scenarios), 7)
        for path in scenarios:
            with open(path, encoding="utf-8") as f:
                doc = yaml.safe_load(f)
            checked = {a["alertname"] for t in doc["tests"] for a in t.get("alert_rule_test", [])}
            self.assertEqual(names - checked, set(), os.path.basename(path))
            hours = max(_minutes(a["eval_time"]) for t in doc["tests"]
                        for a in t["alert_rule_test"]) / 60
            self.assertGreaterEqual(hours, 4, os.path.basename(path) + ": over hours")

    def test_alerts_have_severity_summary_description_and_runbook_section(self):
        with open(RUNBOOK, encoding="utf-8") as f:
            runbook = f.read()
        headings = re.findall(r"^## (Pagescope\S+)\s*$", runbook, re.M)
        names = {a["alert"] for a in alerts(load_rules())}
        self.assertEqual(sorted(headings), sorted(names), "runbook sections vs alerts")
        # The policy comes first, and every alert's section names its scenario, what it means
        # and what to do.
        self.assertRegex(runbook, r"(?m)^## Alerting policy$")
        for name, body in re.findall(r"(?ms)^## (Pagescope\S+)\s*$(.*?)(?=^## |\Z)", runbook):
            for part in ("**Scenario:**", "**Meaning:**", "**Action:**"):
                self.assertIn(part, body, name)
        for a in alerts(load_rules()):
            name = a["alert"]
            self.assertIn(a["labels"].get("severity"), ("critical", "warning", "info"), name)
            ann = a["annotations"]
            self.assertTrue(ann.get("summary"), name)
            # The value must be in the description; where the value is a constant 0 or 1
            # (a state), the state's label is quoted instead.
            self.assertRegex(ann.get("description", ""),
                             r"\{\{ \$value|\$labels\.(mode|collector|job)",
                             name + " quotes no value")
            self.assertTrue(ann.get("runbook_url", "").endswith("docs/runbook.md#" + name.lower()),
                            name)


def _minutes(duration):
    total = 0
    for n, unit in re.findall(r"(\d+)([hms])", duration):
        total += int(n) * {"h": 60, "m": 1, "s": 1 / 60}[unit]
    return total


class Dashboards(unittest.TestCase):
    def setUp(self):
        self.dashboards = load_dashboards()
        self.assertEqual(len(self.dashboards), 5)

    def test_schema_variables_and_panel_fields(self):
        for name, d in self.dashboards.items():
            self.assertGreaterEqual(d["schemaVersion"], 39, name)
            self.assertTrue(d["uid"] and d["title"] and d["description"], name)
            v = variables(d)
            self.assertEqual(v["datasource"]["type"], "datasource", name)
            self.assertEqual(v["datasource"]["query"], "prometheus", name)
            # The fleet dashboard selects fleet groups (default fleetLabels: cluster), the
            # others hosts within them.
            self.assertIn("cluster", v, name)
            if name != "pagescope-fleet.json":
                self.assertIn("instance", v, name)
                self.assertLess(list(v).index("cluster"), list(v).index("instance"), name)
                self.assertIn('cluster=~"$cluster"', v["instance"]["query"]["query"], name)
            ids = [p["id"] for p in d["panels"]]
            self.assertEqual(len(ids), len(set(ids)), name + ": duplicate panel ids")
            for p in panels(d):
                where = "%s / %s" % (name, p["title"])
                self.assertEqual(p["datasource"], {"type": "prometheus", "uid": "${datasource}"},
                                 where)
                self.assertTrue(p.get("description"), where + ": no description")
                self.assertTrue(p["fieldConfig"]["defaults"].get("unit"), where + ": no unit")
                self.assertLessEqual(p["gridPos"]["x"] + p["gridPos"]["w"], 24, where)
                self.assertTrue(p["targets"], where + ": no query")
                if p["type"] == "stat" and name != "pagescope-fleet.json":
                    # Several hosts selected: each value says whose it is.
                    for t in p["targets"]:
                        self.assertIn("{{instance}}", t["legendFormat"], where)
                for t in p["targets"]:
                    self.assertEqual(t["datasource"]["uid"], "${datasource}", where)
                    self.assertTrue(t["expr"], where)
                    for var in re.findall(r"\$(\w+)", t["expr"]):
                        self.assertTrue(var.startswith("__") or var in v,
                                        where + ": unknown variable $" + var)
        hugepages = variables(self.dashboards["pagescope-hugepages.json"])
        self.assertIn("node", hugepages)
        self.assertIn("page_size", hugepages)

    def test_every_query_parses(self):
        """promtool parses every panel and variable query (as recording rules)."""
        rules = []
        for name, d in self.dashboards.items():
            values = {n: ".*" for n in variables(d)}
            for v in variables(d).values():
                if v["type"] == "query":
                    selector, _ = label_values_query(v)
                    rules.append({"record": "dashboard_variable:check",
                                  "expr": substitute(selector, values)})
            for p in panels(d):
                for t in p["targets"]:
                    rules.append({"record": "dashboard_panel:check",
                                  "expr": substitute(t["expr"], values)})
        with tempfile.NamedTemporaryFile("w", suffix=".yml") as f:
            yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}, f)
            f.flush()
            r = subprocess.run(["promtool", "check", "rules", f.name], capture_output=True,
                               text=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_provisioning(self):
        base = os.path.join(DASHBOARD_DIR, "provisioning")
        with open(os.path.join(base, "datasources", "pagescope.yml"), encoding="utf-8") as f:
            ds = yaml.safe_load(f)
        self.assertEqual(ds["datasources"][0]["type"], "prometheus")
        with open(os.path.join(base, "dashboards", "pagescope.yml"), encoding="utf-8") as f:
            prov = yaml.safe_load(f)
        self.assertEqual(prov["providers"][0]["type"], "file")
        self.assertTrue(prov["providers"][0]["options"]["path"])


if __name__ == "__main__":
    unittest.main()
