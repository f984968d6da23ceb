"""The rules and dashboards select pagescope's series by `job="pagescope"` (the mixin's
`selector`): installs that scrape pagescope under another job name must render the mixin with
their own selector, and the docs a user copies say so.

- Rendered with another selector (`mixin/build.sh --config '{"selector": ...}'`), every series
  selector of every recording rule, alert, dashboard query and dashboard variable carries it and
  none carries `job="pagescope"` (a selector of two matchers too); exempt are the fleet sums
  (summed over hosts, no job), the Kubernetes node records (node_page_size:pagescope_kubernetes_*,
  pagescope joined with kube-state-metrics per Kubernetes node, no job) and the right side of a
  join `on (job, ...)`, which the left side's job constrains.
- The Debian package's README, the systemd unit, deploy/README.md, the mixin's README and
  docs/fleet.md say that the job must be `pagescope` or show the render command; every shipped
  Prometheus or vmagent configuration scrapes pagescope as job `pagescope` (a federation job
  keeps the sites' job labels with honor_labels)."""

import glob
import json
import os
import re
import shlex
import subprocess
import tempfile
import unittest

import yaml

from mixin_test import build
from pagescope_test import SOURCE_DIR

# A metric name in a PromQL expression and its label matchers: pagescope's own series, the
# recorded per-host ones ("level:pagescope_...:op") and `up`.
SERIES = re.compile(r"(?<![\w:.$])((?:[a-zA-Z_:][\w:]*)?pagescope_[\w:]*|up)\b"
                    r"(\{(?:[^}\"]|\"(?:[^\"\\]|\\.)*\")*\})?")
JOINED = re.compile(r"\bon\s*\([^)]*\bjob\b[^)]*\)\s*$")
STRING = re.compile(r'"(?:[^"\\]|\\.)*"')


def series_selectors(expr):
    """(metric name, label matchers or "") of every series an expression selects (names inside
    quoted strings, such as label values, are not series)."""
    strings = [m.span() for m in STRING.finditer(expr)]
    out = []
    for m in SERIES.finditer(expr):
        if any(a <= m.start() < b for a, b in strings):
            continue
        if m.group(1).startswith("fleet"):
            continue  # the fleet sums (fleet*:...) are summed over hosts: they have no job
        if m.group(1).startswith("node_page_size:pagescope_kubernetes_"):
            continue  # per Kubernetes node, joined with kube-state-metrics' job: no job label
        if JOINED.search(expr[:m.start()]):
            continue  # the right side of `and/unless/or on (job, ...)`: the join keeps the job
        out.append((m.group(1), m.group(2) or ""))
    return out


def dashboard_expressions(d):
    """Every target expression and variable query of a dashboard."""
    out = []

    def walk(panels):
        for p in panels:
            for t in p.get("targets", []):
                if "expr" in t:
                    out.append(t["expr"])
            walk(p.get("panels", []))
    walk(d.get("panels", []))
    for v in d.get("templating", {}).get("list", []):
        q = v.get("query")
        if isinstance(q, dict):
            q = q.get("query")
        if isinstance(q, str) and v.get("type") == "query":
            out.append(q)
    return out


class JobSelector(unittest.TestCase):

    def rendered_expressions(self, config):
        with tempfile.TemporaryDirectory() as tmp:
            gen = build(tmp, config)
        exprs = []
        rules = yaml.safe_load(gen[os.path.join("alerts", "pagescope-rules.yml")])
        for g in rules["groups"]:
            for r in g["rules"]:
                exprs.append((r.get("record") or r.get("alert"), r["expr"]))
        dashboards = [k for k in gen if k.startswith("dashboards" + os.sep)
                      and k.endswith(".json")]
        self.assertGreaterEqual(len(dashboards), 4)
        for name in dashboards:
            for e in dashboard_expressions(json.loads(gen[name])):
                exprs.append((name, e))
        return exprs

    def test_another_selector_reaches_every_series_selector(self):
        for selector, matchers in (('job="node-exporter"', ['job="node-exporter"']),
                                   ('job="node", env="prod"', ['job="node"', 'env="prod"'])):
            exprs = self.rendered_expressions({"selector": selector})
            checked = 0
            for where, expr in exprs:
                self.assertNotIn('job="pagescope"', expr, where)
                for name, braces in series_selectors(expr):
                    for m in matchers:
                        self.assertIn(m, braces, "%s: %s%s in %s" % (where, name, braces, expr))
                    checked += 1
            self.assertGreater(checked, 200)
            print("\nselector %s: %d series selectors in %d expressions carry it"
                  % (selector, checked, len(exprs)))

    def test_default_is_job_pagescope(self):
        for where, expr in self.rendered_expressions(None):
            for name, braces in series_selectors(expr):
                self.assertIn('job="pagescope"', braces, "%s: %s in %s" % (where, name, expr))


def src(*parts):
    return os.path.join(SOURCE_DIR, *parts)


def read(*parts):
    with open(src(*parts), encoding="utf-8") as f:
        return f.read()


class JobNameDocs(unittest.TestCase):

    def render_as_documented(self, text, mixin_dir):
        """Runs the `.../mixin/build.sh --out DIR --config ...` command of a document (with its
        backslash continuation) against this checkout's mixin, into a temporary directory;
        returns the rendered rules' text."""
        m = re.search(r"(\S*mixin/build\.sh --out \S+ *(?:\\\n\s*)?--config '[^']*')", text)
        self.assertIsNotNone(m, "no mixin/build.sh --out ... --config command")
        args = shlex.split(m.group(1).replace("\\\n", " "))
        with tempfile.TemporaryDirectory() as tmp:
            args[0] = os.path.join(SOURCE_DIR, "mixin", "build.sh")
            args[args.index("--out") + 1] = tmp
            subprocess.run(args, check=True, capture_output=True, text=True)
            with open(os.path.join(tmp, "alerts", "pagescope-rules.yml"), encoding="utf-8") as f:
                rules = f.read()
            self.assertTrue(glob.glob(os.path.join(tmp, "dashboards", "*.json")))
        self.assertIn(mixin_dir, m.group(1))
        self.assertNotIn('job="pagescope"', rules)
        self.assertIn('job="node"', rules)
        return rules

    def test_debian_readme_and_unit_say_so(self):
        text = read("packaging", "README.Debian")
        self.assertIn('job="pagescope"', text)
        self.assertIn("job_name: pagescope", text)
        self.render_as_documented(text, "/usr/share/pagescope/mixin/")
        self.assertIn('job="pagescope"', read("packaging", "systemd", "pagescope.service"))
        self.assertIn("mixin/build.sh", read("packaging", "systemd", "pagescope.service"))

    def test_deploy_readme_says_so(self):
        text = read("deploy", "README.md")
        self.assertIn("## The job name", text)
        self.render_as_documented(text, "mixin/")
        for doc in (("mixin", "README.md"), ("docs", "fleet.md")):
            self.assertIn("deploy/README.md#the-job-name-jobpagescope", read(*doc), doc)

    def test_shipped_scrape_configs_use_job_pagescope(self):
        configs = [src("docker", "prometheus", "prometheus.yml")] + sorted(
            glob.glob(src("deploy", "fleet", "*.yml")))
        scraping = 0
        for path in configs:
            with open(path, encoding="utf-8") as f:
                doc = yaml.safe_load(f)
            for job in (doc or {}).get("scrape_configs", []):
                name = job["job_name"]
                if not name.startswith("pagescope"):
                    continue
                if job.get("metrics_path") == "/federate":
                    # Federated series keep the job the site scraped them as.
                    self.assertTrue(job.get("honor_labels"), path)
                    continue
                self.assertEqual(name, "pagescope", path)
                scraping += 1
        self.assertGreaterEqual(scraping, 4)


if __name__ == "__main__":
    unittest.main()
