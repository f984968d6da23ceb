"""Every dashboard type-checks against Grafana's own dashboard model: the `@grafana/schema` npm
package (version pinned in tests/grafana-schema/package-lock.json) and TypeScript in strict mode.

Each dashboards/*.json is written into a .ts file as a constant typed `Dashboard`, and each
panel's `options` and `fieldConfig.defaults.custom` as constants typed with the Options and
FieldConfig of its panel plugin (timeseries, stat, bargauge, table), then `tsc --strict --noEmit`
must report nothing. Grafana merges a panel plugin's defaults into the saved options, so those are
checked as Partial<Options> (a key the model does not have, or a value of the wrong type, still
fails). JSON has no TypeScript enums, so the model is checked in its JSON form: an enum-typed field
accepts the enum's string values ("absolute" for ThresholdsMode.Absolute) and nothing else.
"""

import glob
import json
import os
import re
import subprocess
import tempfile
import unittest

from mixin_test import DASHBOARD_DIR, load_dashboards, panels
from pagescope_test import SOURCE_DIR

PACKAGE = os.path.join(SOURCE_DIR, "tests", "grafana-schema")
TSC = os.path.join(PACKAGE, "node_modules", ".bin", "tsc")

# Panel type -> the module of its plugin's Options and FieldConfig in @grafana/schema.
# (stat and bargauge have no field config of their own.)
PANEL_MODULES = {
    "timeseries": ("timeseries/panelcfg/x/TimeSeriesPanelCfg_types.gen", True),
    "stat": ("stat/panelcfg/x/StatPanelCfg_types.gen", False),
    "bargauge": ("bargauge/panelcfg/x/BarGaugePanelCfg_types.gen", False),
    "table": ("table/panelcfg/x/TablePanelCfg_types.gen", True),
}

PRELUDE = """\
import type { Dashboard } from '@grafana/schema';
%(imports)s
// The JSON form of a model type: enums become the union of their string values.
type Json<T> = T extends string ? (string extends T ? string : `${T}`)
  : T extends number | boolean | null | undefined ? T
  : T extends Array<infer U> ? Array<Json<U>>
  : T extends object ? { [K in keyof T]: Json<T[K]> }
  : T;
"""

TSCONFIG = {
    "compilerOptions": {
        "strict": True,
        "noEmit": True,
        "target": "es2022",
        "module": "esnext",
        "moduleResolution": "bundler",
        "skipLibCheck": True,
        "types": [],
    },
    "include": ["*.ts"],
}


def ident(name):
    return re.sub(r"\W", "_", name)


def typescript_for(name, dashboard):
    """The .ts source that types one dashboard and each of its panels' options."""
    used = sorted({p["type"] for p in panels(dashboard)})
    unknown = [t for t in used if t not in PANEL_MODULES]
    if unknown:
        raise AssertionError("%s: panel types without a model here: %s" % (name, unknown))
    imports = "\n".join(
        "import type { Options as %sOptions%s } from '@grafana/schema/dist/esm/raw/composable/%s';"
        % (ident(t), ", FieldConfig as %sFieldConfig" % ident(t) if PANEL_MODULES[t][1] else "",
           PANEL_MODULES[t][0])
        for t in used)
    out = [PRELUDE % {"imports": imports}]
    out.append("export const dashboard: Json<Dashboard> = %s;\n" % json.dumps(dashboard, indent=1))
    for p in panels(dashboard):
        t = ident(p["type"])
        out.append("// panel %d: %s" % (p["id"], p["title"]))
        out.append("export const options_%d: Partial<Json<%sOptions>> = %s;"
                   % (p["id"], t, json.dumps(p.get("options", {}), indent=1)))
        custom = p.get("fieldConfig", {}).get("defaults", {}).get("custom")
        if custom is not None:
            if not PANEL_MODULES[p["type"]][1]:
                raise AssertionError("%s / %s: a %s panel has no custom field config"
                                     % (name, p["title"], p["type"]))
            out.append("export const custom_%d: Partial<Json<%sFieldConfig>> = %s;"
                       % (p["id"], t, json.dumps(custom, indent=1)))
    return "\n".join(out) + "\n"


def check(dashboards):
    """Runs tsc over the dashboards; returns (exit code, output, error count)."""
    with tempfile.TemporaryDirectory(prefix="pagescope-schema-") as tmp:
        os.symlink(os.path.join(PACKAGE, "node_modules"), os.path.join(tmp, "node_modules"))
        with open(os.path.join(tmp, "tsconfig.json"), "w") as f:
            json.dump(TSCONFIG, f)
        for name, d in dashboards.items():
            with open(os.path.join(tmp, ident(name[:-len(".json")]) + ".ts"), "w") as f:
                f.write(typescript_for(name, d))
        r = subprocess.run(["node", TSC, "-p", tmp], capture_output=True, text=True, cwd=tmp)
    out = r.stdout + r.stderr
    return r.returncode, out, len(re.findall(r"error TS\d+", out))


class DashboardSchema(unittest.TestCase):
    def setUp(self):
        if not os.path.exists(TSC):
            self.fail("%s missing: run scripts/install-deps.sh (npm ci in tests/grafana-schema)"
                      % TSC)

    def test_every_dashboard_type_checks_against_grafana_schema(self):
        dashboards = load_dashboards()
        self.assertEqual(sorted(dashboards),
                         sorted(os.path.basename(p)
                                for p in glob.glob(os.path.join(DASHBOARD_DIR, "*.json"))))
        code, out, errors = check(dashboards)
        with open(os.path.join(PACKAGE, "package-lock.json"), encoding="utf-8") as f:
            lock = json.load(f)["packages"]
        print("\n@grafana/schema %s, typescript %s: %d dashboards, %d panels, %d errors"
              % (lock["node_modules/@grafana/schema"]["version"],
                 lock["node_modules/typescript"]["version"], len(dashboards),
                 sum(len(panels(d)) for d in dashboards.values()), errors))
        self.assertEqual(code, 0, out)

    def test_the_check_catches_what_the_model_rejects(self):
        """The check is not vacuous: the defects the generator used to produce are reported."""
        d = json.loads(json.dumps(load_dashboards()["pagescope-hugepages.json"]))
        d["templating"]["list"][0]["current"] = {}
        d["links"][0] = {k: v for k, v in d["links"][0].items()
                         if k not in ("icon", "targetBlank", "tooltip")}
        table = [p for p in panels(d) if p["type"] == "table"][0]
        table["options"]["footer"] = {"show": False}
        stat = [p for p in panels(d) if p["type"] == "stat"][0]
        stat["fieldConfig"]["defaults"]["thresholds"]["mode"] = "absolut"
        code, out, errors = check({"broken.json": d})
        self.assertNotEqual(code, 0)
        for what in (": text, value", ": icon, targetBlank, tooltip", "'\"footer\"'", '"absolut"'):
            self.assertIn(what, out)
        self.assertEqual(errors, 4, out)


if __name__ == "__main__":
    unittest.main()
