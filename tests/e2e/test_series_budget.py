"""The series budget per host (docs/metrics.md, "Series budget"), on generated fixture hosts.

The real binary with its default collectors scrapes a host made by
tests/tools/gen_fleet_fixture.py:
- a two-node hypervisor with two hugepage sizes (2MiB and 1GiB pools on both nodes), 50 QEMU
  guests (one cgroup scope each under machine.slice), 500 processes with 100 distinct names and
  20 system.slice services: under 1,500 series in all, the kernel-wide collectors under 300, at
  most 12 series per guest;
- the same host without guests: under 1,000 series;
- the same host as a Kubernetes node with 110 pods (kubelet's default maximum), each a Burstable
  pod without memory limits and with one container, shaped as kubelet makes them: under 1,500
  series in all, at most 5 per pod (a pod with a memory limit has 5, without one 3).

Series are counted per collector with collect[]=NAME. A guest's series are every series with
its vm label plus every series of its cgroup scope (label cgroup under
machine.slice/machine-qemu...<name>.scope), from whichever default collector reports it. The
exporter's own series (pagescope_scrape_collector_*, pagescope_build_info, process_*,
pagescope_http_*) are counted apart
from the kernel-wide collectors (they grow with the number of collectors, not with the host);
the test prints them in the table.

Run as a script to print the table for any generated host or for a running exporter:
    python3 test_series_budget.py --url http://127.0.0.1:9xxx
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
from gen_fleet_fixture import HostSpec, generate, set_free_pages  # noqa: E402
from pagescope_test import (BINARY, Exporter, parse_exposition,  # noqa: E402
                            promtool_check_metrics, value)

BUDGET_TOTAL = 1500
BUDGET_KERNEL = 300
BUDGET_PER_GUEST = 12
BUDGET_NO_GUESTS = 1000
BUDGET_PODS = 110
BUDGET_PER_POD = 5
# Collectors whose series grow with processes, guests or cgroups; the rest are kernel-wide.
PER_WORKLOAD = {"processes", "qemu", "cgroup_hugetlb", "cgroup_memory", "tlb"}
EXPORTER_OWN = re.compile(r"^(pagescope_(scrape_collector_|build_info|http_)|process_)")


def default_collectors(binary=BINARY):
    out = subprocess.run([binary, "--help"], check=True, capture_output=True, text=True).stdout
    return re.findall(r"^\s+--collector\.([a-z0-9_]+)\s.*\[enabled\]$", out, re.M)


def count(exporter, binary=BINARY):
    """{'total': n, 'exporter': n, 'collectors': {name: n}, 'samples': {(name, labels): v}}"""
    whole = parse_exposition(exporter.scrape("/metrics"))
    by = {}
    for c in default_collectors(binary):
        samples = parse_exposition(exporter.scrape("/metrics?collect[]=" + c))
        by[c] = sum(1 for (name, _) in samples if not EXPORTER_OWN.match(name))
    own = sum(1 for (name, _) in whole if EXPORTER_OWN.match(name))
    return {"total": len(whole), "exporter": own, "collectors": by, "samples": whole}


def per_guest(samples, guests):
    """{guest name: (vm series, cgroup series)}: series with vm="<name>", and series of its
    machine.slice scope (and below)."""
    out = {}
    for g in guests:
        # Label values as exposed: the scope's backslashes are escaped ("\\x2d").
        dash = r"(\\)+x2d"  # systemd escapes "-" in the unit name as \x2d
        name = dash.join(re.escape(part) for part in g.split("-"))
        scope = re.compile(r"^machine\.slice/machine-qemu%s\d+%s%s\.scope(/|$)"
                           % (dash, dash, name))
        vm = cg = 0
        for (_, labels) in samples:
            d = dict(labels)
            # Cgroup series carry the guest's name in vm= too (the identity its scope tells).
            if scope.match(d.get("cgroup", "")):
                cg += 1
            elif d.get("vm") == g:
                vm += 1
        out[g] = (vm, cg)
    return out


def per_pod(samples, pods):
    """{pod cgroup: series of it and below}."""
    out = {p: 0 for p in pods}
    for (_, labels) in samples:
        cg = dict(labels).get("cgroup", "")
        for p in pods:
            if cg == p or cg.startswith(p + "/"):
                out[p] += 1
    return out


def table(result):
    by = result["collectors"]
    lines = ["%-20s %6s  %s" % ("collector", "series", "kind")]
    for c in sorted(by, key=lambda c: -by[c]):
        lines.append("%-20s %6d  %s" % (c, by[c], "workload" if c in PER_WORKLOAD
                                         else "kernel-wide"))
    lines.append("%-20s %6d  %s" % ("(exporter itself)", result["exporter"], "exporter"))
    lines.append("%-20s %6d" % ("kernel-wide", kernel_wide(result)))
    lines.append("%-20s %6d" % ("total", result["total"]))
    return "\n".join(lines)


def kernel_wide(result):
    return sum(n for c, n in result["collectors"].items() if c not in PER_WORKLOAD)


class SeriesBudget(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="pagescope-budget-")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def host(self, name, spec):
        facts = generate(os.path.join(self.tmp, name), spec)
        with Exporter(facts["args"]) as exp:
            result = count(exp)
            code, out = promtool_check_metrics(exp.scrape())
            self.assertEqual((code, out), (0, ""), "promtool check metrics")
            # Every default collector succeeds on the generated host.
            failed = [dict(l)["collector"] for (n, l), v in result["samples"].items()
                      if n == "pagescope_scrape_collector_success" and v != 1]
            self.assertEqual(failed, [], exp.log_text())
        print("\n%s (%d guests, %d processes of %d names):\n%s"
              % (name, spec.guests, spec.processes, spec.process_names, table(result)))
        return facts, result

    def test_two_node_hypervisor(self):
        facts, r = self.host("hypervisor", HostSpec(nodes=2, guests=50, processes=500,
                                                    process_names=100, seed=17))
        split = per_guest(r["samples"], [g["name"] for g in facts["guests"]])
        guests = {g: vm + cg for g, (vm, cg) in split.items()}
        worst = max(guests.items(), key=lambda kv: kv[1])
        print("per guest: max %d (%s: %d vm, %d cgroup), min %d"
              % (worst[1], worst[0], split[worst[0]][0], split[worst[0]][1],
                 min(guests.values())))
        # Every guest is seen by the qemu collector and by its cgroup scope's series.
        self.assertGreater(min(vm for vm, _ in split.values()), 0, "guests not seen")
        self.assertGreater(min(cg for _, cg in split.values()), 0, "guest scopes not seen")
        self.assertLessEqual(worst[1], BUDGET_PER_GUEST, worst)
        self.assertLess(kernel_wide(r), BUDGET_KERNEL, table(r))
        self.assertLess(r["total"], BUDGET_TOTAL, table(r))
        # The processes were grouped, within max_groups plus the overflow group.
        groups = {dict(l)["group"] for (n, l) in r["samples"]
                  if n == "pagescope_process_num_procs"}
        self.assertLessEqual(len(groups), 51)
        self.assertIn("(other processes)", groups)

    def test_kubernetes_node(self):
        facts, r = self.host("kubernetes", HostSpec(nodes=2, guests=0, kubepods=BUDGET_PODS,
                                                    processes=500, process_names=100, seed=19))
        pods = per_pod(r["samples"], facts["cgroups"]["kubepods"])
        print("per pod: max %d, min %d" % (max(pods.values()), min(pods.values())))
        self.assertEqual(len(pods), BUDGET_PODS)
        self.assertGreater(min(pods.values()), 0, "pods not seen")
        self.assertLessEqual(max(pods.values()), BUDGET_PER_POD, pods)
        # Every pod's OOM kills, by default, without a memory limit.
        kills = [l for (n, l) in r["samples"] if n == "pagescope_cgroup_memory_events_total"
                 and ("event", "oom_kill") in l and dict(l).get("pod")]
        self.assertEqual(len(kills), BUDGET_PODS)
        self.assertLess(r["total"], BUDGET_TOTAL, table(r))
        self.assertLess(kernel_wide(r), BUDGET_KERNEL, table(r))

    def test_host_without_guests(self):
        _, r = self.host("plain", HostSpec(nodes=2, guests=0, processes=500,
                                           process_names=100, seed=18))
        self.assertLess(r["total"], BUDGET_NO_GUESTS, table(r))
        self.assertLess(kernel_wide(r), BUDGET_KERNEL, table(r))


class GeneratedHost(unittest.TestCase):
    """The generator's facts are what the exporter reads, and set_free_pages changes them."""

    def test_facts_match_the_exporter_and_pools_can_be_exhausted(self):
        tmp = tempfile.mkdtemp(prefix="pagescope-gen-")
        try:
            root = os.path.join(tmp, "host")
            spec = HostSpec(nodes=3, pools={"2MiB": [2048, 1024, 512], "1GiB": [8, 0, 4]},
                            guests=7, guest_memory_mib=1024, processes=30, process_names=10,
                            services=3, kubepods=2, seed=5,
                            flavors=[{"name": "m1", "memory": "1GiB", "page_size": "2MiB"}])
            facts = generate(root, spec)
            self.assertEqual(facts, generate(root, spec), "not deterministic")
            with Exporter(facts["args"]) as exp:
                m = exp.metrics()
                for size, per_node in facts["pools"].items():
                    for node, pool in per_node.items():
                        self.assertEqual(value(m, "pagescope_numa_hugepages_free_pages",
                                               node=node, page_size=size), pool["free"])
                        self.assertEqual(value(m, "pagescope_numa_hugepages_pool_pages",
                                               node=node, page_size=size), pool["pool"])
                vms = {dict(l)["vm"] for (n, l) in m if n == "pagescope_vm_info"}
                self.assertEqual(vms, {g["name"] for g in facts["guests"]})
                free = {n: p["free"] for n, p in facts["pools"]["2MiB"].items()}
                self.assertEqual(value(m, "pagescope_capacity_host_vm_slots", flavor="m1"),
                                 sum(f // 512 for f in free.values()))
                set_free_pages(root, "2MiB", node=0, free=0)
                m = exp.metrics()
                self.assertEqual(value(m, "pagescope_numa_hugepages_free_pages", node="0",
                                       page_size="2MiB"), 0)
                self.assertEqual(value(m, "pagescope_hugepages_free_pages", page_size="2MiB"),
                                 free["1"] + free["2"])
                self.assertEqual(value(m, "pagescope_capacity_host_vm_slots", flavor="m1"),
                                 free["1"] // 512 + free["2"] // 512)
                failed = [dict(l)["collector"] for (n, l), v in m.items()
                          if n == "pagescope_scrape_collector_success" and v != 1]
                self.assertEqual(failed, [], exp.log_text())
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def main():
    import argparse
    ap = argparse.ArgumentParser(description="Series per collector of an exporter.")
    ap.add_argument("--url", help="a running exporter, e.g. http://127.0.0.1:9xxx")
    ap.add_argument("--binary", default=BINARY, help="for the list of default collectors")
    ap.add_argument("args", nargs="*", help="else: start the binary with these arguments")
    a = ap.parse_args()

    class Remote:
        def __init__(self, url):
            self.url = url.rstrip("/")

        def scrape(self, path):
            import urllib.request
            with urllib.request.urlopen(self.url + path, timeout=60) as r:
                return r.read().decode()

    if a.url:
        print(table(count(Remote(a.url), a.binary)))
    else:
        with Exporter(a.args, binary=a.binary) as exp:
            print(table(count(exp, a.binary)))


if __name__ == "__main__":
    if len(sys.argv) > 1 and not sys.argv[1].startswith("SeriesBudget"):
        main()
    else:
        unittest.main()
