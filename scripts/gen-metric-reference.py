#!/usr/bin/env python3
"""Writes docs/metrics.md (the metric reference) and the README's collector and flag sections
from what the real binary exports and prints.

Runs pagescope on every fixture tree with every collector enabled and asks each collector
separately (collect[]=NAME), so every metric is listed under the collector that emits it, with
its type, labels and help text. `--check` compares with the committed file instead of writing
(the test suite runs that, so the reference cannot drift from the code).
"""

import argparse
import glob
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
from pagescope_test import FIXTURES, SOURCE_DIR, Exporter, all_collectors, fixture_args  # noqa: E402

OUT = os.path.join(SOURCE_DIR, "docs", "metrics.md")
README = os.path.join(SOURCE_DIR, "README.md")
SECURITY = os.path.join(SOURCE_DIR, "docs", "security.md")
NAMES = os.path.join(SOURCE_DIR, "docs", "metric-names.md")
# The standard process metrics of Prometheus client libraries (exporter/process_metrics.h): the
# one unprefixed family, named as every client names them.
CLIENT_STANDARD = {"process_cpu_seconds_total", "process_resident_memory_bytes",
                   "process_virtual_memory_bytes", "process_virtual_memory_max_bytes",
                   "process_open_fds", "process_max_fds", "process_start_time_seconds"}
EXPORTER_ONLY = {"pagescope_scrape_collector_success", "pagescope_scrape_collector_duration_seconds",
                 "pagescope_scrape_collector_deadline_exceeded_total", "pagescope_build_info",
                 "pagescope_scrape_denied_reads", "pagescope_scrape_walks_total",
                 "pagescope_scrape_walk_seconds_total", "pagescope_scrape_walk_max_seconds",
                 "pagescope_http_requests_total",
                 "pagescope_http_requests_refused_total"} | CLIENT_STANDARD


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


def unit_test_families(test_filter, out_env, env=None):
    """Families that fixture files cannot produce, from a unit test that writes its scrape to
    the file named by the environment variable `out_env` (with `env` added)."""
    import subprocess
    import tempfile
    from pagescope_test import BUILD_DIR
    run_env = dict(os.environ, **(env or {}))
    with tempfile.NamedTemporaryFile(suffix=".prom") as out:
        run_env[out_env] = out.name
        subprocess.run([os.path.join(BUILD_DIR, "tests", "pagescope_unit_tests"),
                        "--gtest_filter=" + test_filter], check=True, capture_output=True,
                       env=run_env)
        with open(out.name) as f:
            return families(f.read())


def tlb_families(events=None):
    """The tlb collector counts with perf_event_open, so its output cannot come from fixture
    files: its series come from the collector on the unit tests' fake perf backend (with
    `events`, a comma-separated list, instead of the default events)."""
    return unit_test_families("TlbReference.*", "PAGESCOPE_TLB_REFERENCE",
                              {"PAGESCOPE_TLB_REFERENCE_EVENTS": events} if events else None)


def harm_families():
    """Series a fixture tree cannot produce: a sampled placement (move_pages on a live process)
    and a denied read (the tests run as root). The unit test HarmReference.* makes them with the
    real collectors on its own process."""
    return unit_test_families("HarmReference.*", "PAGESCOPE_HARM_REFERENCE")


# The options under which the HarmReference families appear (they are off by default).
HARM_OPTIONS = {"pagescope_vm_placement_sample_pages": ("qemu", "numa_locality"),
                "pagescope_process_placement_sampled_processes": ("processes", "hugetlb_numa"),
                "pagescope_process_placement_sample_pages": ("processes", "hugetlb_numa")}


# Values that turn on the detail of an option that is not a switch (a switch, a flag whose
# default is false, is turned on with true).
ON_VALUES = {("vmstat", "fields"): ".*", ("buddyinfo", "free_blocks"): "all"}


def collector_options(help_):
    """{collector: {option (YAML name): (kind, default)}}, kind "flag" or "yaml", from --help."""
    out = {}
    for line in help_.splitlines():
        m = re.match(r"^  --collector\.([a-z0-9_]+)\.([a-z0-9-]+)(=[A-Z]+)?\s+(.*)$", line)
        if m:
            d = re.search(r"\(default: (.*)\)$", m.group(4))
            out.setdefault(m.group(1), {})[m.group(2).replace("-", "_")] = (
                "flag", d.group(1) if d else "", m.group(3) is None)
            continue
        m = re.match(r"^    collectors\.([a-z0-9_]+)\.([a-z0-9_]+)\s+.*\(YAML only\)$", line)
        if m:
            out.setdefault(m.group(1), {})[m.group(2)] = ("yaml", "", False)
    return out


def opt_in(options, collector, option):
    """Whether the option adds detail that is off by default: a switch that is off, a YAML-only
    structure (unset by default), or an option of ON_VALUES."""
    kind, default, switch = options[collector][option]
    return (kind == "yaml" or (switch and default == "false")
            or (collector, option) in ON_VALUES)


def option_name(options, collector, option):
    if options[collector][option][0] == "yaml":
        return "`collectors.%s.%s` (YAML)" % (collector, option)
    return "`--collector.%s.%s`" % (collector, option.replace("_", "-"))


def collect(help_):
    """({collector: {family: [type, help, labels, opt-in option or None]}}, exporter families).

    Per fixture case: once with every option at its default (the case's pagescope.yml without
    its opt-in options), then once per opt-in option of each collector with only that option
    on (the case's value, or true, or ON_VALUES): a family that appears only then is listed with
    that option."""
    import tempfile
    import yaml
    collectors = all_collectors()
    options = collector_options(help_)
    by_collector = {c: {} for c in collectors}
    live = [c for c in collectors if c != "tlb"]
    exporter_fams = {}

    def run(case, cfg, names):
        args = fixture_args(case) + ["--collector.disable-defaults"] + \
            ["--collector." + c for c in names]
        with tempfile.NamedTemporaryFile("w", suffix=".yml") as f:
            yaml.safe_dump({"collectors": cfg}, f)
            f.flush()
            with Exporter(args + ["--config.file=" + f.name]) as exp:
                return {c: families(exp.scrape("/metrics?collect[]=" + c)) for c in names}

    def add(c, fams, option):
        for name, (typ, help_text, labels) in fams.items():
            if name in EXPORTER_ONLY:
                exporter_fams.setdefault(name, [typ, help_text, set(), None])[2].update(labels)
                continue
            entry = by_collector[c].setdefault(name, [typ, help_text, set(), option])
            entry[2].update(labels)
            if option is None:
                entry[3] = None  # on by default in some case: not opt-in

    cases = sorted(d for d in os.listdir(FIXTURES) if os.path.isdir(os.path.join(FIXTURES, d)))
    for case in cases:
        path = os.path.join(FIXTURES, case, "pagescope.yml")
        case_cfg = {}
        if os.path.exists(path):
            with open(path) as f:
                case_cfg = (yaml.safe_load(f) or {}).get("collectors") or {}
        base = {c: {o: v for o, v in (case_cfg.get(c) or {}).items()
                    if not opt_in(options, c, o)} for c in live}
        for c, fams in run(case, base, live).items():
            add(c, fams, None)
        for c in live:
            for o in options.get(c, {}):
                if not opt_in(options, c, o):
                    continue
                value = (case_cfg.get(c) or {}).get(o)
                if value is None:
                    if options[c][o][0] == "yaml":
                        continue  # a structure no fixture case gives
                    value = ON_VALUES.get((c, o), True)
                cfg = dict(base, **{c: dict(base[c], **{o: value})})
                add(c, run(case, cfg, [c])[c], option_name(options, c, o))
    # statfs(2) of hugetlbfs mounts cannot come from a fixture tree: the unit tests give the
    # collector statfs results through its factory (tests/fixtures/<case>/statfs.yml), and its
    # goldens hold what it exports with them.
    for path in sorted(glob.glob(os.path.join(SOURCE_DIR, "tests", "golden", "*",
                                              "hugetlbfs.prom"))):
        with open(path) as f:
            add("hugetlbfs", families(f.read()), None)
    for name, (typ, help_text, labels) in harm_families().items():
        if name in EXPORTER_ONLY:
            exporter_fams.setdefault(name, [typ, help_text, set(), None])[2].update(labels)
        elif name in HARM_OPTIONS:
            c, o = HARM_OPTIONS[name]
            by_collector[c].setdefault(name, [typ, help_text, labels, option_name(options, c, o)])
    if "tlb" in by_collector:
        default_events = tlb_families()
        events = re.search(r"Generic events to count: ([a-z_, ]+)\.",
                           help_).group(1).replace(" ", "")
        for name, (typ, help_text, labels) in tlb_families(events).items():
            if name not in EXPORTER_ONLY:
                by_collector["tlb"][name] = [typ, help_text, labels, None if name in
                                             default_events else "`--collector.tlb.events`"]
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
                      "inside it; a unit, not what it delegates; on v2 a pod, not its "
                      "containers) and hugepage size it uses, reserves, may use up to a limit "
                      "above 0 or hit a limit of: 1 (usage), +2 with a limit (limit, limit "
                      "hits), +1 where reservations exceed the usage, +1 with a reservation "
                      "limit; a size it may not use (kubelet's limit 0): the limit-hit counter "
                      "only; nothing for a size it does not touch and may use without limit; "
                      "`numa` adds one per node, `reservations` the reservations everywhere, "
                      "`zero_sizes` every size",
    "cgroup_memory": "3 + per cgroup below the parents: 2 (usage, pressure), +1 (OOM kills) "
                     "for each pod, guest and unit, +2 per limit set (memory.max, memory.high: "
                     "limit and its events); `containers` reads pods' containers, `events`, "
                     "`limits`, `swap`, `stat` and `pressure_full` add their lines",
    "processes": "6 + 5 to 8 per group, at most `max_groups` (50) groups + the overflow group; "
                 "`numa_locality` groups: up to 4 + 3 per node + 1 per device, +1 in all",
    "qemu": "per guest: 7 + 1 per node and size it has hugepages on (+1 with KSM merging, +1 "
            "with smaps; `numa_locality`: +1, +2 with passthrough devices; `numa_detail`: 3 "
            "more, up to 3 per node, 1 per device; +1 for a guest whose placement is sampled); "
            "per host: 2 (QEMU processes identified and unreadable), with guests 7 more (its "
            "walk counters); per flavor: 1 + nodes x usable sizes (single-node flavors)",
    "tlb": "off by default: per VM and counted group, one per event",
}
BUDGET_TEXT = (
    "A default scrape stays within a budget, checked by `tests/e2e/test_series_budget.py` on "
    "hosts generated by `tests/tools/gen_fleet_fixture.py`: on a two-node hypervisor with two "
    "hugepage sizes, 50 QEMU guests and 500 processes of 100 distinct names, under 1,500 series "
    "in all, under 300 from the kernel-wide collectors, at most 12 per guest (its `vm` series "
    "and its cgroup scope's series); on the same host without guests, under 1,000; on the same "
    "host as a Kubernetes node with 110 pods (kubelet's default maximum; Burstable pods without "
    "memory limits, one container each, every hugepage size limited to 0 as kubelet does for "
    "sizes a pod did not request: the pod's limit-hit counter per size), under 1,500 in all "
    "and at most 5 per pod. The "
    "exporter's own series (`pagescope_scrape_collector_*`, three per collector, "
    "`pagescope_build_info`, the standard `process_*` metrics and `pagescope_http_*`) are counted "
    "apart. Detail that does not earn a series on every "
    "host is behind options: `thp.all_sizes`, `thp.khugepaged_tuning`, `ksm.tuning`, "
    "`buddyinfo.free_blocks`, `cgroup_hugetlb.numa`, `cgroup_hugetlb.zero_sizes`, "
    "`cgroup_hugetlb.reservations`, `cgroup_hugetlb.guest_children`, `cgroup_memory.events`, "
    "and `vmstat.fields`. Every pod, guest and unit has its OOM kill counter by default (one "
    "series per such cgroup); its room in the per-guest budget came from the hugetlb "
    "limit-hit counter, which a cgroup without a hugetlb limit and without hits no longer has.")


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
                           ("no guests", HostSpec(guests=0, seed=18)),
                           ("kubernetes", HostSpec(guests=0, kubepods=110, seed=19))):
            facts = generate(os.path.join(tmp, name.replace(" ", "_")), spec)
            with Exporter(facts["args"]) as exp:
                out[name] = count(exp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def render_budget(collectors, counts):
    lines = ["## Series budget and cost per collector", "", BUDGET_TEXT, "",
             "| collector | series per host | two-node hypervisor, 50 guests | without guests "
             "| Kubernetes node, 110 pods |",
             "|---|---|---|---|---|"]
    hosts = [counts["hypervisor"], counts["no guests"], counts["kubernetes"]]
    for c in collectors:
        got = [h["collectors"].get(c) for h in hosts]
        lines.append("| `%s` | %s | %s |" % (
            c, COST.get(c, ""), " | ".join("off" if n is None else str(n) for n in got)))
    lines.append("| (exporter) | 3 per collector + 8 (`pagescope_build_info`, 7 `process_*`) + 1 per "
                 "HTTP status code answered so far + 4 refusal reasons (5 with TLS) | %s |"
                 % " | ".join(str(h["exporter"]) for h in hosts))
    lines.append("| **total** | | %s |" % " | ".join("**%d**" % h["total"] for h in hosts))
    lines.append("")
    return lines


def render(collectors, by_collector, exporter_fams, counts=None):
    lines = ["# pagescope metric reference", "",
             "Generated by `scripts/gen-metric-reference.py` from the binary's own output on the "
             "fixture trees; the test suite fails when it is out of date. It lists every metric, "
             "including those only an option turns on: their \"opt-in\" column names the option "
             "(found by running each fixture case once with every option at its default and "
             "once per option with only that option on). Every metric follows the naming rules "
             "of [metric-names.md](metric-names.md): base units in the name, `_total` only "
             "on counters, `node` is the NUMA node id, `page_size` the hugepage size in IEC "
             "units (`2MiB`, `1GiB`). A file the kernel lacks gives no series, never a zero. "
             "The `tlb` collector counts with perf_event_open, so its section comes from the "
             "collector on the unit tests' fake perf backend instead of a fixture tree; the "
             "`hugetlbfs` collector's sizes come from statfs(2) of mounts, which the unit tests "
             "give it through its factory (its goldens).", ""]
    if counts is not None:
        lines += render_budget(collectors, counts)
    for c in collectors + ["(exporter)"]:
        fams = exporter_fams if c == "(exporter)" else by_collector[c]
        lines += ["## " + ("Exporter self-metrics" if c == "(exporter)" else "Collector `%s`" % c),
                  "", "| metric | type | labels | opt-in | help |", "|---|---|---|---|---|"]
        for name in sorted(fams):
            typ, help_, labels, option = fams[name]
            lines.append("| `%s` | %s | %s | %s | %s |" % (
                name, typ, ", ".join("`%s`" % l for l in sorted(labels)) or "—",
                option or "—", help_.replace("|", "\\|")))
        if not fams:
            lines.append("| (none on the fixtures) | | | | |")
        lines.append("")
    return "\n".join(lines)


def naming_areas():
    """The areas of docs/metric-names.md's table: the second word of every metric name."""
    with open(NAMES) as f:
        text = f.read()
    areas = set()
    for row in re.findall(r"^\s*\| (`[a-z_]+`(?:, `[a-z_]+`)*) \|", text, re.M):
        areas.update(re.findall(r"`([a-z_]+)`", row))
    return areas


def misnamed(by_collector, exporter_fams):
    """Metric names whose area is not in docs/metric-names.md."""
    areas = naming_areas()
    names = set(exporter_fams)
    for fams in by_collector.values():
        names.update(fams)
    return sorted(n for n in names if n not in CLIENT_STANDARD
                  and not any(n.startswith("pagescope_%s_" % a) for a in areas))


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


# What reading a file needs beyond what any user may do. A property of the kernel's file (its
# mode, or the ptrace check the kernel makes before showing another process's memory), not of the
# collector reading it, so written once here: each collector names its files in its spec
# (`sources`, "reads …" in --help) and the table in docs/security.md is made from both.
# tests/e2e/test_metric_reference.py checks on the running kernel that every file named there
# that not everyone may read matches a rule below.
PRIVILEGES = [
    (r"^/proc/pagetypeinfo$", "root only (mode 0400): CAP_DAC_READ_SEARCH"),
    (r"^/proc/<pid>/(smaps|smaps_rollup|numa_maps|maps|exe|environ|mem|pagemap)$",
     "own processes (mode 0444, but the kernel checks ptrace read access), others need root or "
     "CAP_SYS_PTRACE"),
    (r"^/proc/<pid>/(ksm_stat|ksm_merging_pages)$",
     "own processes (mode 0400 to the owner, and the ptrace check), others need CAP_SYS_PTRACE "
     "and CAP_DAC_READ_SEARCH"),
    (r"^perf_event_open\(2\)",
     "own processes at `perf_event_paranoid` ≤ 1 (≤ 2 with `exclude_kernel`), others (and any "
     "process at Debian's 3) need CAP_PERFMON or root, and a seccomp filter must allow "
     "`perf_event_open` (docs/tlb.md)"),
    (r"^move_pages\(2\)", "own processes; others need CAP_SYS_PTRACE (ptrace read access to the "
     "process, as for numa_maps)"),
    (r"^bpf\(2\)", "only with `source=bpf`: CAP_BPF and CAP_PERFMON, or root (kernel 5.8+ with "
     "BTF; docs/performance.md)"),
    (r"^statfs\(2\)", "search permission on every directory of the mount point's path"),
]


def source_items(sources):
    """A spec's sources ("a, b/{c,d} (note), …") as single paths: notes dropped, braces
    expanded."""
    def split_top(text):
        parts, depth, cur = [], 0, ""
        for ch in text:
            depth += ch == "{"
            depth -= ch == "}"
            if ch == "," and depth == 0:
                parts.append(cur)
                cur = ""
            else:
                cur += ch
        return parts + [cur]

    def expand(item):
        start = item.find("{")
        if start < 0:
            return [item]
        depth = 0
        for end in range(start, len(item)):
            depth += item[end] == "{"
            depth -= item[end] == "}"
            if depth == 0:
                break
        out = []
        for alt in split_top(item[start + 1:end]):
            out += expand(item[:start] + alt + item[end + 1:])
        return out

    out = []
    for item in split_top(re.sub(r"\s+\([^)]*\)", "", sources)):
        out += expand(item.strip())
    return out


def needs(path):
    """What reading `path` (as a spec names it) needs; None: any user may."""
    for pattern, need in PRIVILEGES:
        if re.search(pattern, path):
            return need
    return None


def collector_sources(help_):
    """[(collector, default, sources)] from --help."""
    out = []
    lines = help_.splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"^  --collector\.([a-z0-9_]+)\s+.* \[(enabled|disabled)\]$", line)
        if m:
            nxt = lines[i + 1].strip() if i + 1 < len(lines) else ""
            out.append((m.group(1), m.group(2), nxt[len("reads "):]
                        if nxt.startswith("reads ") else ""))
    return out


def privileges_table(help_):
    """docs/security.md's table: what each collector reads and what that needs."""
    rows = ["| collector | default | reads | needs |", "|---|---|---|---|"]
    for name, default, sources in collector_sources(help_):
        by_need = {}
        items = source_items(sources)
        for item in items:
            need = needs(item)
            if need:
                by_need.setdefault(need, []).append(item)
        parts = ["%s: %s" % (", ".join("`%s`" % i for i in files), need)
                 for need, files in by_need.items()]
        if len(items) > sum(len(f) for f in by_need.values()):
            parts.append(("the rest: " if parts else "") + "any user")
        rows.append("| `%s` | %s | `%s` | %s |" % (name, default, sources, "; ".join(parts)))
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
    help_ = help_text()
    collectors, by_collector, exporter_fams = collect(help_)
    bad = misnamed(by_collector, exporter_fams)
    if bad:
        print("metric names outside the areas of docs/metric-names.md: %s" % ", ".join(bad),
              file=sys.stderr)
        return 1
    text = render(collectors, by_collector, exporter_fams, counts=measured())
    files = {}
    with open(README) as f:
        readme = f.read()
    new_readme = readme_with(readme, "collectors", collectors_table(help_))
    files[README] = (readme, readme_with(new_readme, "flags",
                                         "```\n" + help_.rstrip() + "\n```"))
    with open(SECURITY) as f:
        security = f.read()
    files[SECURITY] = (security, readme_with(security, "privileges", privileges_table(help_)))
    with open(OUT) as f:
        files[OUT] = (f.read(), text)
    if args.check:
        stale = [os.path.relpath(p, SOURCE_DIR) for p, (old, new) in files.items() if old != new]
        if stale:
            print("out of date: %s; run scripts/gen-metric-reference.py" % ", ".join(stale),
                  file=sys.stderr)
            return 1
        return 0
    for path, (old, new) in files.items():
        if old != new:
            with open(path, "w") as f:
                f.write(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
