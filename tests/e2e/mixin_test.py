"""Helpers for the monitoring-mixin tests: the generated rules and dashboards, their panels and
queries, and Grafana's template variables substituted the way Grafana does."""

import glob
import json
import os
import re
import subprocess

import yaml

from pagescope_test import SOURCE_DIR

MIXIN = os.path.join(SOURCE_DIR, "mixin")
RULES_FILE = os.path.join(SOURCE_DIR, "alerts", "pagescope-rules.yml")
DASHBOARD_DIR = os.path.join(SOURCE_DIR, "dashboards")
RULE_TESTS = sorted(glob.glob(os.path.join(SOURCE_DIR, "tests", "rules", "*_test.yml")))
RUNBOOK = os.path.join(SOURCE_DIR, "docs", "runbook.md")


def build(out_dir, config=None):
    """Runs mixin/build.sh into out_dir; returns {relative path: text}."""
    cmd = [os.path.join(MIXIN, "build.sh"), "--out", out_dir]
    if config is not None:
        cmd += ["--config", json.dumps(config)]
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    out = {}
    for path in glob.glob(os.path.join(out_dir, "**", "*"), recursive=True):
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as f:
                out[os.path.relpath(path, out_dir)] = f.read()
    return out


def load_rules(path=RULES_FILE):
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


def alerts(rules):
    return [r for g in rules["groups"] for r in g["rules"] if "alert" in r]


def recordings(rules):
    return [r for g in rules["groups"] for r in g["rules"] if "record" in r]


def load_dashboards():
    """{file name: dashboard dict} for dashboards/*.json."""
    out = {}
    for path in sorted(glob.glob(os.path.join(DASHBOARD_DIR, "*.json"))):
        with open(path, encoding="utf-8") as f:
            out[os.path.basename(path)] = json.load(f)
    return out


def panels(dashboard):
    """Every panel that shows data (rows left out, panels inside collapsed rows included)."""
    out = []
    for p in dashboard["panels"]:
        if p["type"] == "row":
            out.extend(p.get("panels", []))
        else:
            out.append(p)
    return out


def variables(dashboard):
    return {v["name"]: v for v in dashboard["templating"]["list"]}


def label_values_query(variable):
    """(metric selector, label) of a `label_values(selector, label)` query variable."""
    q = variable["query"]
    q = q["query"] if isinstance(q, dict) else q
    m = re.fullmatch(r"label_values\((.*), *(\w+)\)", q.strip())
    if not m:
        raise ValueError("unsupported variable query: " + q)
    return m.group(1), m.group(2)


# What Grafana puts in for its built-in variables, for a 1 s scrape interval.
BUILTINS = {"__rate_interval": "5s", "__interval": "1s", "__range": "1m"}


def substitute(expr, values):
    """Replaces $var and ${var} with values[var] (built-ins included); fails on leftovers."""
    merged = dict(BUILTINS, **values)

    def repl(m):
        name = m.group(1) or m.group(2)
        if name == "datasource":
            return m.group(0)
        if name not in merged:
            raise KeyError("no value for variable $" + name + " in " + expr)
        return merged[name]
    out = re.sub(r"\$\{(\w+)\}|\$(\w+)", repl, expr)
    return out


def regex_alternation(values):
    """A multi-valued variable as Grafana renders it inside a PromQL =~ string: (a|b), regex
    characters escaped with a backslash that is itself escaped for the PromQL string."""
    if not values:
        return ".*"
    esc = [re.sub(r"([\\.+*?()|\[\]{}^$])", r"\\\\\1", v) for v in values]
    return esc[0] if len(esc) == 1 else "(" + "|".join(esc) + ")"


# Metric names a PromQL expression reads from the exporter (recorded series such as
# instance_page_size:pagescope_... are left out: they have a colon before "pagescope_").
_METRIC = re.compile(r"(?<![\w:])(pagescope_[a-z0-9_]+|up)(?=\s*[{\[(]|\s*$|\s*[-+*/)]|\s)")


def exporter_metrics(expr):
    return sorted(set(m for m in _METRIC.findall(expr) if m != "up"))
