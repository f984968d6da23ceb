#!/usr/bin/env python3
"""Writes docs/metrics.md (the metric reference) and the README's collector and flag sections
from what the real binary exports and prints.

Runs pagescope on every fixture tree with every collector enabled and asks each collector
separately (collect[]=NAME), so every metric is listed under the collector that emits it, with
its type, labels and help text. `--check` compares with the committed file instead of writing
(the test suite runs that, so the reference cannot drift from the code).
"""

import argparse
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
from pagescope_test import FIXTURES, SOURCE_DIR, Exporter, all_collectors, fixture_args  # noqa: E402

OUT = os.path.join(SOURCE_DIR, "docs", "metrics.md")
README = os.path.join(SOURCE_DIR, "README.md")
EXPORTER_ONLY = {"pagescope_scrape_collector_success", "pagescope_scrape_collector_duration_seconds",
                 "pagescope_build_info"}


def families(text):
    """{name: (type, help, set(label names))}"""
    out = {}
    helps, types = {}, {}
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name, _, h = line[7:].partition(" ")
            helps[name] = h.replace("\\n", " ").replace("\\\\", "\\")
        elif line.startswith("# TYPE "):
            name, _, t = line[7:].partition(" ")
            types[name] = t
        elif line and not line.startswith("#"):
            m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s", line)
            name = m.group(1)
            labels = set(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="', m.group(3) or ""))
            entry = out.setdefault(name, [types.get(name, "untyped"), helps.get(name, ""), set()])
            entry[2] |= labels
    return out


def tlb_families():
    """The tlb collector counts with perf_event_open, so its output cannot come from fixture
    files: its series come from the collector on the unit tests' fake perf backend."""
    import subprocess
    import tempfile
    from pagescope_test import BUILD_DIR
    with tempfile.NamedTemporaryFile(suffix=".prom") as out:
        subprocess.run([os.path.join(BUILD_DIR, "tests", "pagescope_unit_tests"),
                        "--gtest_filter=TlbReference.*"], check=True, capture_output=True,
                       env=dict(os.environ, PAGESCOPE_TLB_REFERENCE=out.name))
        with open(out.name) as f:
            return families(f.read())


def collect():
    collectors = all_collectors()
    by_collector = {c: {} for c in collectors}
    live = [c for c in collectors if c != "tlb"]
    exporter_fams = {}
    cases = sorted(d for d in os.listdir(FIXTURES) if os.path.isdir(os.path.join(FIXTURES, d)))
    for case in cases:
        args = fixture_args(case) + ["--collector." + c for c in live]
        cfg = os.path.join(FIXTURES, case, "pagescope.yml")
        if os.path.exists(cfg):
            args.append("--config.file=" + cfg)
        with Exporter(args) as exp:
            for c in live:
                for name, (typ, help_, labels) in families(
                        exp.scrape("/metrics?collect[]=" + c)).items():
                    target = exporter_fams if name in EXPORTER_ONLY else by_collector[c]
                    target.setdefault(name, [typ, help_, set()])[2].update(labels)
    if "tlb" in by_collector:
        by_collector["tlb"] = {n: v for n, v in tlb_families().items()
                               if n not in EXPORTER_ONLY}
    return collectors, by_collector, exporter_fams


# What each collector costs, in series per host, by what it grows with. Hand-written (the shape
# of each collector's output), next to the figures measured on the generated hosts below.
COST = {
    "hugepages": "6 per hugepage size",
    "numa_hugepages": "3 per node and hugepage size",
    "meminfo": "about 20, fixed",
    "thp": "17 fixed (3 policy statesets: 14; use_zero_page, hpage_pmd_size, shrink_underused; "
           "2 khugepaged counters) + per usable or used size (usually the PMD size only): 9 "
           "stateset series + up to 18 stats; `all_sizes` for every size, `khugepaged_tuning` "
           "for 7 settings",
    "ksm": "about 15 (run stateset, merge_across_nodes, counters, profit); `tuning` adds about 12",
    "vmstat": "one per /proc/vmstat field the `fields` expression selects (about 55 on 6.x)",
    "pressure": "2",
    "numa": "12 per node + node x node distances",
    "buddyinfo": "per node and zone, one per order from the smallest hugepage order up (2 on "
                 "x86: orders 9 and 10; `free_blocks: all` for all 11) + 2 per node and "
                 "hugepage size",
    "swap": "about 3 + 3 per swap device",
    "hugetlbfs": "3 per hugetlbfs mount",
    "hugepages_config": "about 4 + 1 per hugepage size requested",
    "cgroup_hugetlb": "3 + per cgroup below the parents (a guest's scope, not libvirt's cgroups "
                      "inside it): 2 per hugepage size it uses, is limited for or hit a limit "
                      "of (+1 with a limit); `numa` adds one per node, `zero_sizes` every size",
    "processes": "6 + 5 to 8 per group, at most `max_groups` (50) groups + the overflow group; "
                 "`numa_locality` groups: up to 4 + 3 per node + 1 per device, +1 in all",
    "qemu": "per guest: 7 + 1 per node and size it has hugepages on (+1 with KSM merging, +1 "
            "with smaps; `numa_locality`: +1, +2 with passthrough devices; `numa_detail`: 3 "
            "more, up to 3 per node, 1 per device); per flavor: 1 + nodes x usable sizes "
            "(single-node flavors)",
    "tlb": "off by default: per VM and counted group, one per event",
}
BUDGET_TEXT = (
    "A default scrape stays within a budget, checked by `tests/e2e/test_series_budget.py` on "
    "hosts generated by `tests/tools/gen_fleet_fixture.py`: on a two-node hypervisor with two "
    "hugepage sizes, 50 QEMU guests and 500 processes of 100 distinct names, under 1,500 series "
    "in all, under 300 from the kernel-wide collectors, at most 12 per guest (its `vm` series "
    "and its cgroup scope's series); on the same host without guests, under 1,000. The "
    "exporter's own series (`pagescope_scrape_collector_*`, two per collector, and "
    "`pagescope_build_info`) are counted apart. Detail that does not earn a series on every "
    "host is behind options: `thp.all_sizes`, `thp.khugepaged_tuning`, `ksm.tuning`, "
    "`buddyinfo.free_blocks`, `cgroup_hugetlb.numa`, `cgroup_hugetlb.zero_sizes`, "
    "`cgroup_hugetlb.guest_children`, and `vmstat.fields`.")


def measured():
    """Series per collector on the generated hosts the budget test uses."""
    import shutil
    import tempfile
    sys.path.insert(0, os.path.join(SOURCE_DIR, "tests", "tools"))
    from gen_fleet_fixture import HostSpec, generate
    from test_series_budget import count
    out = {}
    tmp = tempfile.mkdtemp(prefix="pagescope-reference-")
    try:
        for name, spec in (("hypervisor", HostSpec(guests=50, seed=17)),
                           ("no guests", HostSpec(guests=0, seed=18))):
            facts = generate(os.path.join(tmp, name.replace(" ", "_")), spec)
            with Exporter(facts["args"]) as exp:
                out[name] = count(exp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def render_budget(collectors, counts):
    lines = ["## Series budget and cost per collector", "", BUDGET_TEXT, "",
             "| collector | series per host | two-node hypervisor, 50 guests | without guests |",
             "|---|---|---|---|"]
    hv, plain = counts["hypervisor"], counts["no guests"]
    for c in collectors:
        a, b = hv["collectors"].get(c), plain["collectors"].get(c)
        lines.append("| `%s` | %s | %s | %s |" % (
            c, COST.get(c, ""), "off" if a is None else a, "off" if b is None else b))
    lines.append("| (exporter) | 2 per collector + 1 | %d | %d |" % (hv["exporter"],
                                                                  plain["exporter"]))
    lines.append("| **total** | | **%d** | **%d** |" % (hv["total"], plain["total"]))
    lines.append("")
    return lines


def render(collectors, by_collector, exporter_fams, counts=None):
    lines = ["# pagescope metric reference", "",
             "Generated by `scripts/gen-metric-reference.py` from the binary's own output on the "
             "fixture trees; the test suite fails when it is out of date. Every metric follows "
             "the scheme of the project's metric contract: base units in the name, `_total` only "
             "on counters, `node` is the NUMA node id, `page_size` the hugepage size in IEC "
             "units (`2MiB`, `1GiB`). A file the kernel lacks gives no series, never a zero. "
             "The `tlb` collector counts with perf_event_open, so its section comes from the "
             "collector on the unit tests' fake perf backend instead of a fixture tree.", ""]
    if counts is not None:
        lines += render_budget(collectors, counts)
    for c in collectors + ["(exporter)"]:
        fams = exporter_fams if c == "(exporter)" else by_collector[c]
        lines += ["## " + ("Exporter self-metrics" if c == "(exporter)" else "Collector `%s`" % c),
                  "", "| metric | type | labels | help |", "|---|---|---|---|"]
        for name in sorted(fams):
            typ, help_, labels = fams[name]
            lines.append("| `%s` | %s | %s | %s |" % (
                name, typ, ", ".join("`%s`" % l for l in sorted(labels)) or "—",
                help_.replace("|", "\\|")))
        if not fams:
            lines.append("| (none on the fixtures) | | | |")
        lines.append("")
    return "\n".join(lines)


def help_text():
    import subprocess
    from pagescope_test import BINARY
    return subprocess.run([BINARY, "--help"], check=True, capture_output=True, text=True).stdout


def collectors_table(help_):
    """The README's collector table, from --help (name, default, what, kernel source)."""
    rows = ["| collector | default | what it exports | reads |", "|---|---|---|---|"]
    lines = help_.splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"^  --collector\.([a-z0-9_]+)\s+(.*) \[(enabled|disabled)\]$", line)
        if not m:
            continue
        nxt = lines[i + 1].strip() if i + 1 < len(lines) else ""
        reads = nxt[len("reads "):] if nxt.startswith("reads ") else ""
        rows.append("| `%s` | %s | %s | `%s` |" % (m.group(1), m.group(3), m.group(2), reads))
    return "\n".join(rows)


def readme_with(text, marker, body):
    begin, end = "<!-- %s:begin -->" % marker, "<!-- %s:end -->" % marker
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    return head + begin + "\n" + body + "\n" + end + tail


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    text = render(*collect(), counts=measured())
    help_ = help_text()
    with open(README) as f:
        readme = f.read()
    new_readme = readme_with(readme, "collectors", collectors_table(help_))
    new_readme = readme_with(new_readme, "flags", "```\n" + help_.rstrip() + "\n```")
    if args.check:
        stale = []
        with open(OUT) as f:
            if f.read() != text:
                stale.append("docs/metrics.md")
        if new_readme != readme:
            stale.append("README.md (collectors or flags)")
        if stale:
            print("out of date: %s; run scripts/gen-metric-reference.py" % ", ".join(stale),
                  file=sys.stderr)
            return 1
        return 0
    with open(OUT, "w") as f:
        f.write(text)
    with open(README, "w") as f:
        f.write(new_readme)
    return 0


if __name__ == "__main__":
    sys.exit(main())
