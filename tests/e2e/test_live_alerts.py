"""Live: the real pagescope scraped by Debian's real Prometheus (loopback, 1 s scrape and rule
evaluation) with the mixin's rules, `for` shortened through the mixin config.

- The exporter is scraped as two targets: one marked host_kind="general" (a target label), one
  unmarked, which its QEMU guest makes a hypervisor (instance:pagescope_host_kind:info says so).
- A real 2 MiB pool of 16 pages raises no hugepage alert while free; holding all 16 pages
  (tests/tools/hugetlb_hold) makes PagescopeHugepagesExhausted pending or firing in
  /api/v1/alerts for the general host, never for the hypervisor (a full pool is its goal);
  releasing them clears it. Held or free, the pool's pages are never available memory: the
  memory outside the pools is MemTotal minus Hugetlb throughout.
- Where the tlb collector can count nothing (no PMU, as in this VM), PagescopeCoverageIncomplete
  {gap="tlb_nothing_counted"} fires; where it can, it does not.
- Every dashboard panel query (template variables resolved against this Prometheus) returns data,
  except panels whose metrics this machine cannot have (NO_DATA_METRICS, with the reason), or
  panels listed in NO_DATA_PANELS. Exemptions that are no longer needed are reported.
- So that the VM, hugetlbfs and cgroup panels have something to show, the test adds what a
  hugepage host has: a size-limited hugetlbfs mount, one QEMU guest (TCG, -S, 64 MiB) on it with
  prealloc=on (it holds 32 pages of the pool, and PagescopeVmNotBackedByHugepages must stay
  silent for it), a QEMU flavor for the capacity metric, smaps_rollup reading, and a hugetlb
  cgroup (v2) with a limit that the pool holder runs in, and on a hybrid host the same cgroup in
  the v1 memory hierarchy with a memory limit (for the cgroup memory panels; its pressure comes
  from the unified one). All are removed even on failure.
  The guest's backend is bound to node 0 and numa_detail is on; its process group is opted in
  to numa_locality with one of this machine's PCI devices: on this one-node host no NUMA
  locality alert may fire.
"""

import contextlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.parse
import urllib.request

from mixin_test import (build, exporter_metrics, label_values_query, load_dashboards, load_rules,
                        panels, recordings, regex_alternation, substitute, variables)
from pagescope_test import (Exporter, SysfsRestorer, all_collectors, kernel_lock, stop_process,
                            parse_exposition, require_root, tool)

POOL = "/sys/kernel/mm/hugepages/hugepages-2048kB"
PAGES = 16
# The exporter's two targets (instance labels).
GENERAL, DETECTED = "marked-general", "detected-hypervisor"

# A panel may lack data only if one of the exporter metrics it reads is missing from pagescope's
# own /metrics output on this machine, for a reason listed here (metric name prefix -> reason).
# When the machine gains the feature, the metric appears and the panel must then show data:
# delete the stale line (the test prints them).
NO_DATA_METRICS = {
    "pagescope_swap_device_": "this machine has no swap device (/proc/swaps is empty); the test "
                              "adds none, since swapon would change memory behaviour for every "
                              "other test running on the machine",
    "pagescope_hugepages_requested": "no hugepages= on this machine's kernel command line and "
                                     "no vm.nr_hugepages in its sysctl configuration files",
    "pagescope_vm_device": "no vfio-pci device can be passed through to a guest here (no IOMMU "
                           "group to give away); guests' devices are covered by fixtures",
}
# Panels whose metrics exist but whose query can still be empty here (title -> reason).
NO_DATA_PANELS = {}

GUEST_MIB = 64
GUEST_PAGES = GUEST_MIB // 2
# A flavor half the guest's size: the 16 pages left free while the guest runs fit one more, so
# PagescopeHugepagesLow (no slot for any flavor) stays quiet until the pool is exhausted.
FLAVOR_MIB = GUEST_MIB // 2
# NUMA locality: the guest's numa_detail series, and the guest's process group opted in with
# one of this machine's PCI devices (no device can be passed through to a guest here).
PCI_DEVICES = sorted(os.listdir("/sys/bus/pci/devices")) if os.path.isdir(
    "/sys/bus/pci/devices") else []
CONFIG = """
collectors:
  qemu:
    smaps: true
    numa_detail: true
    flavors:
      - {name: m1.tiny, memory: %d, page_size: 2MiB}
  processes:
    smaps: true
    max_groups: 0
    numa_locality:
      - {group: qemu-system-x86, devices: %s}
""" % (FLAVOR_MIB, json.dumps(PCI_DEVICES[:1]))

PROMETHEUS_CONFIG = """
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - {rules}
scrape_configs:
  - job_name: pagescope
    static_configs:
{targets}
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Prometheus:
    """Debian's prometheus on 127.0.0.1:<free port> with a temporary storage directory; scrapes
    pagescope on target_port, or runs the configuration text given instead."""

    def __init__(self, workdir, rules, target_port, config_text=None, targets=None):
        self.port = free_port()
        config = os.path.join(workdir, "prometheus.yml")
        with open(config, "w") as f:
            f.write(config_text or PROMETHEUS_CONFIG.format(
                rules=rules,
                targets=targets or "      - targets: ['127.0.0.1:%d']" % target_port))
        self.log = open(os.path.join(workdir, "prometheus.log"), "w")
        self.proc = subprocess.Popen(
            ["prometheus", "--config.file=" + config,
             "--storage.tsdb.path=" + os.path.join(workdir, "data"),
             "--web.listen-address=127.0.0.1:%d" % self.port, "--log.level=warn"],
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while True:
            try:
                with urllib.request.urlopen(self.url("/-/ready"), timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if self.proc.poll() is not None or time.time() > deadline:
                self.stop()
                raise RuntimeError("prometheus did not start: " + self.log_text())
            time.sleep(0.2)

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def api(self, path, **params):
        q = urllib.parse.urlencode(params, doseq=True)
        with urllib.request.urlopen(self.url("/api/v1/" + path + ("?" + q if q else "")),
                                    timeout=10) as r:
            body = json.load(r)
        if body.get("status") != "success":
            raise AssertionError("%s: %s" % (path, body))
        return body["data"]

    def query(self, expr):
        return self.api("query", query=expr)["result"]

    def alerts(self, name):
        return [a for a in self.api("alerts")["alerts"] if a["labels"].get("alertname") == name]

    def log_text(self):
        with open(self.log.name, encoding="utf-8", errors="replace") as f:
            return f.read()[-3000:]

    def stop(self):
        stop_process(self.proc, timeout=15)
        self.log.close()


def wait_for(what, check, timeout=30, interval=0.5):
    deadline = time.time() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.time() > deadline:
            raise AssertionError("timed out after %ds waiting for %s" % (timeout, what))
        time.sleep(interval)


@contextlib.contextmanager
def prometheus_with_alerts(target_port, prefix):
    """Debian's Prometheus scraping pagescope on target_port with the mixin's rules, every `for`
    set to 0s; yields it once the target is up, and removes it and its directory afterwards."""
    if not shutil.which("prometheus"):
        raise AssertionError("prometheus is not installed (scripts/install-deps.sh test)")
    work = tempfile.mkdtemp(prefix=prefix)
    prom = None
    try:
        rules_dir = os.path.join(work, "mixin")
        build(rules_dir, {"forOverride": "0s"})
        prom = Prometheus(work, os.path.join(rules_dir, "alerts", "pagescope-rules.yml"),
                          target_port)
        wait_for("the target scraped (up == 1)",
                 lambda: prom.query('up{job="pagescope"} == 1'), timeout=60)
        yield prom
    finally:
        if prom is not None:
            prom.stop()
        shutil.rmtree(work, ignore_errors=True)


@contextlib.contextmanager
def hugetlbfs_mount(workdir):
    """A 2 MiB hugetlbfs mount limited to the guest's RAM (size= gives size and free bytes)."""
    d = os.path.join(workdir, "hugetlbfs")
    os.mkdir(d)
    subprocess.run(["mount", "-t", "hugetlbfs", "-o", "pagesize=2M,size=%dM" % GUEST_MIB,
                    "none", d], check=True)
    try:
        yield d
    finally:
        subprocess.run(["umount", d], check=False)


def unified_root():
    """The cgroup v2 hierarchy if it offers the hugetlb controller, else None."""
    for root in ("/sys/fs/cgroup", "/sys/fs/cgroup/unified"):
        try:
            with open(os.path.join(root, "cgroup.controllers")) as f:
                return root if "hugetlb" in f.read().split() else None
        except OSError:
            continue
    return None


@contextlib.contextmanager
def hugetlb_cgroup(name, limit_bytes):
    """<v2 root>/<name> with hugetlb.2MB.max = limit_bytes; yields its path, or None when this
    host has no v2 hugetlb controller. Removed (and the root's subtree_control restored) after."""
    root = unified_root()
    if root is None:
        yield None
        return
    control = os.path.join(root, "cgroup.subtree_control")
    path = os.path.join(root, name)
    enabled_at_root = False
    try:
        with open(control) as f:
            if "hugetlb" not in f.read().split():
                with open(control, "w") as w:
                    w.write("+hugetlb")
                enabled_at_root = True
        os.mkdir(path)
        with open(os.path.join(path, "hugetlb.2MB.max"), "w") as f:
            f.write(str(limit_bytes))
        yield path
    finally:
        if os.path.isdir(path):
            os.rmdir(path)
        if enabled_at_root:
            with open(control, "w") as w:
                w.write("-hugetlb")


@contextlib.contextmanager
def memory_cgroup_v1(name, limit_bytes):
    """/sys/fs/cgroup/memory/<name> with memory.limit_in_bytes = limit_bytes, where the memory
    controller is on cgroup v1 (a hybrid host); yields its path, or None. Removed after."""
    root = "/sys/fs/cgroup/memory"
    if not os.path.exists(os.path.join(root, "memory.limit_in_bytes")):
        yield None
        return
    path = os.path.join(root, name)
    try:
        os.mkdir(path)
        with open(os.path.join(path, "memory.limit_in_bytes"), "w") as f:
            f.write(str(limit_bytes))
        yield path
    finally:
        if os.path.isdir(path):
            os.rmdir(path)


def start_guest(qemu, mnt, name):
    cmd = [qemu, "-S", "-display", "none", "-nodefaults", "-accel", "tcg",
           "-name", "guest=%s,debug-threads=on" % name, "-m", "%dM" % GUEST_MIB,
           "-object", "memory-backend-file,id=ram0,size=%dM,mem-path=%s,share=on,prealloc=on,"
           "host-nodes=0,policy=bind" % (GUEST_MIB, mnt),
           "-machine", "pc,memory-backend=ram0"]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL)


def stop(proc):
    stop_process(proc, timeout=20)


class LiveAlerts(unittest.TestCase):
    @require_root
    def test_exhaustion_alert_and_dashboard_queries(self):
        qemu = shutil.which("qemu-system-x86_64")
        if not qemu:
            self.skipTest("qemu-system-x86_64 is not installed (scripts/install-deps.sh)")
        workdir = tempfile.mkdtemp(prefix="pagescope-live-alerts-")
        holder = prom = exporter = guest = None
        cgroup_name = "pagescope-alerts-%d" % os.getpid()
        try:
            with kernel_lock(), SysfsRestorer() as sysfs, hugetlbfs_mount(workdir) as mnt, \
                    hugetlb_cgroup(cgroup_name, PAGES * 2 * 1024 * 1024) as cgroup, \
                    memory_cgroup_v1(cgroup_name, 256 << 20) as memcg:
                try:
                    sysfs.set(POOL + "/nr_overcommit_hugepages", 0)
                    sysfs.set(POOL + "/nr_hugepages", PAGES + GUEST_PAGES)
                    self.assertEqual(sysfs.read(POOL + "/nr_hugepages"), str(PAGES + GUEST_PAGES),
                                     "the kernel could not give %d free 2 MiB pages"
                                     % (PAGES + GUEST_PAGES))
                    guest = start_guest(qemu, mnt, "ps-alerts-%d" % os.getpid())
                    # The shipped rules with every `for` at 2 s.
                    build(workdir, {"forOverride": "2s"})
                    rules = self.rules = os.path.join(workdir, "alerts", "pagescope-rules.yml")
                    config = os.path.join(workdir, "pagescope.yml")
                    with open(config, "w") as f:
                        f.write(CONFIG)
                    args = ["--config.file=" + config]
                    args += ["--collector." + c for c in all_collectors()]
                    if cgroup is not None:
                        args.append("--collector.cgroup_hugetlb.parents=" + cgroup_name)
                    # The same cgroup for cgroup_memory: v1 memory (hybrid) with PSI from the
                    # unified one, or the v2 one where memory is on v2.
                    args.append("--collector.cgroup_memory.parents=" + cgroup_name)
                    exporter = Exporter(args)
                    # The same exporter as two hosts: one marked general, one left to detection.
                    targets = ("      - targets: ['127.0.0.1:%d']\n"
                               "        labels: {host_kind: general, instance: %s}\n"
                               "      - targets: ['127.0.0.1:%d']\n"
                               "        labels: {instance: %s}"
                               % (exporter.port, GENERAL, exporter.port, DETECTED))
                    prom = Prometheus(workdir, rules, exporter.port, targets=targets)
                    start = time.time()

                    def pool_seen():
                        if guest.poll() is not None:
                            self.fail("qemu exited: " + guest.stderr.read().decode())
                        r = prom.query('instance_page_size:pagescope_hugepages_available_pages'
                                       '{page_size="2MiB"}')
                        return len(r) == 2 and all(float(x["value"][1]) == PAGES for x in r)
                    # The guest preallocates its 32 pages; 16 stay free.
                    wait_for("Prometheus to record the 2 MiB pool with the guest's pages taken",
                             pool_seen, timeout=60)
                    kinds = wait_for("both hosts' kinds", lambda: {
                        r["metric"]["instance"]: r["metric"]["kind"]
                        for r in prom.query("instance:pagescope_host_kind:info")} or None)
                    self.assertEqual(kinds, {GENERAL: "general", DETECTED: "hypervisor"})
                    time.sleep(4)  # several evaluations with the pool free
                    # The pool's pages, free or not, are not memory the host can use otherwise
                    # (no 1 GiB pool here).
                    self.assertEqual(self.hugetlb_outside_memory(prom),
                                     (PAGES + GUEST_PAGES) * 2 * 1024 * 1024)
                    for name in ("PagescopeHugepagesExhausted", "PagescopeHugepagesLow",
                                 "PagescopeNumaNodeHugepagesExhausted",
                                 "PagescopeVmNotBackedByHugepages", "PagescopeVmHugepagesMissing",
                                 "PagescopeNumaMemoryRemote", "PagescopeNumaDeviceRemote",
                                 "PagescopeNumaMemoryUnrequested"):
                        self.assertEqual(prom.alerts(name), [], name + " on a free pool")
                    # The rule saw the guest (preallocated, fully on hugetlb) and kept silent.
                    held = prom.query('sum by (instance, vm) (pagescope_vm_hugetlb_bytes) and on '
                                      '(instance, vm) pagescope_vm_info{prealloc="true"}')
                    self.assertEqual([float(r["value"][1]) for r in held], [GUEST_MIB << 20] * 2)

                    hold = [tool("hugetlb_hold"), "2048", str(PAGES), str(PAGES)]
                    # The holder joins the cgroups before it maps anything.
                    for cg in (cgroup, memcg):
                        if cg is not None:
                            hold = ["sh", "-c", 'echo $$ > "$1/cgroup.procs" && shift && exec "$@"',
                                    "sh", cg] + hold
                    holder = subprocess.Popen(hold, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                              text=True)
                    self.assertEqual(holder.stdout.readline().strip(), "ready")
                    t_hold = time.time()

                    def exhausted():
                        return [a for a in prom.alerts("PagescopeHugepagesExhausted")
                                if a["labels"].get("page_size") == "2MiB"
                                and a["state"] in ("pending", "firing")]
                    got = wait_for("PagescopeHugepagesExhausted for 2MiB", exhausted)
                    print("\nPagescopeHugepagesExhausted %s %.1f s after the pages were taken: %s"
                          % (got[0]["state"], time.time() - t_hold,
                             got[0]["annotations"]["description"]))
                    wait_for("PagescopeHugepagesExhausted firing",
                             lambda: [a for a in exhausted() if a["state"] == "firing"])
                    self.assertIn("All %d pages of the 2MiB hugepage pool" % (PAGES + GUEST_PAGES),
                                  got[0]["annotations"]["description"])
                    # Only for the general host: on the hypervisor a full pool is the goal.
                    self.assertEqual({a["labels"]["instance"] for a in exhausted()}, {GENERAL})
                    self.assertEqual(got[0]["labels"]["severity"], "warning")
                    numa = [a for a in prom.alerts("PagescopeNumaNodeHugepagesExhausted")
                            if a["labels"].get("page_size") == "2MiB"]
                    self.assertEqual(numa, [], "one node only: no 'other node still has pages'")

                    self.assertEqual(self.hugetlb_outside_memory(prom),
                                     (PAGES + GUEST_PAGES) * 2 * 1024 * 1024)
                    no_data = dict(NO_DATA_METRICS)
                    if cgroup is None:
                        no_data["pagescope_cgroup_hugetlb_"] = (
                            "no cgroup v2 hierarchy with the hugetlb controller on this host")
                    if memcg is None and not (cgroup is not None and os.path.exists(
                            os.path.join(cgroup, "memory.current"))):
                        for prefix in ("pagescope_cgroup_memory_",
                                       "pagescope_cgroup_pressure_memory_"):
                            no_data[prefix] = ("no memory controller on the test cgroup (neither "
                                               "v1 nor enabled for it on v2)")
                    tlb = [dict(ls).get("mode") for (n, ls), v
                           in parse_exposition(exporter.scrape()).items()
                           if n == "pagescope_tlb_event_status" and v == 1
                           and dict(ls).get("event") == "instructions"]
                    if tlb and tlb[0] != "available":
                        no_data["pagescope_tlb_"] = (
                            "the tlb collector cannot count instructions here (%s: e.g. no "
                            "hardware PMU in this VM), so it exports no counters" % tlb[0])
                    self.check_tlb_coverage(prom, exporter)
                    self.check_dashboards(prom, exporter, start, no_data)

                    holder.stdin.close()
                    holder.wait(timeout=10)
                    holder.stdout.close()
                    holder = None
                    t_release = time.time()
                    wait_for("PagescopeHugepagesExhausted to clear", lambda: not exhausted())
                    print("cleared %.1f s after the pages were released"
                          % (time.time() - t_release))
                finally:  # before the cgroup, the mount and the pool are restored
                    if holder is not None:
                        holder.stdin.close()
                        holder.wait(timeout=10)
                        holder.stdout.close()
                        holder = None
                    if guest is not None:
                        stop(guest)
                        guest.stderr.close()
                        guest = None
        finally:
            if prom is not None:
                prom.stop()
            if exporter is not None:
                exporter.stop()
            shutil.rmtree(workdir, ignore_errors=True)

    def hugetlb_outside_memory(self, prom):
        """MemTotal minus the memory outside the pools (the recording rule's expression,
        evaluated at one instant), for the one pool of this host."""
        expr = [r["expr"] for r in recordings(load_rules(self.rules))
                if r["record"] == "instance:pagescope_memory_outside_hugetlb_bytes"][0]
        r = prom.query("pagescope_memory_total_bytes - (%s)" % expr)
        self.assertEqual(len(r), 2, r)
        values = {float(x["value"][1]) for x in r}
        self.assertEqual(len(values), 1, r)
        return values.pop()

    def check_tlb_coverage(self, prom, exporter):
        """The coverage warning for a tlb collector that can count nothing (this machine has no
        PMU), and none where it can."""
        metrics = parse_exposition(exporter.scrape())
        available = [ls for (n, ls), v in metrics.items()
                     if n == "pagescope_tlb_event_status" and v == 1
                     and dict(ls).get("mode") == "available"]

        def gap():
            return [a for a in prom.alerts("PagescopeCoverageIncomplete")
                    if a["labels"].get("gap") == "tlb_nothing_counted"
                    and a["state"] == "firing"]
        if available:
            self.assertEqual(gap(), [])
            return
        got = wait_for("PagescopeCoverageIncomplete{gap=\"tlb_nothing_counted\"}", gap)
        self.assertEqual({a["labels"]["instance"] for a in got}, {GENERAL, DETECTED})
        self.assertEqual(got[0]["labels"]["severity"], "warning")
        print("tlb without a PMU: " + got[0]["annotations"]["description"])

    def check_dashboards(self, prom, exporter, start, no_data_metrics):
        scraped = {name for name, _ in parse_exposition(exporter.scrape())}
        failures, no_data, n_panels = [], [], 0
        end = time.time()
        for dname, d in load_dashboards().items():
            if dname == "pagescope-fleet.json":
                continue  # fleet groups of several hosts: tests/e2e/test_fleet_dashboard.py
            values = {}
            for v in variables(d).values():  # in order: later ones use earlier ones
                if v["type"] != "query":
                    continue
                selector, label = label_values_query(v)
                found = prom.api("label/%s/values" % label,
                                 **{"match[]": substitute(selector, values),
                                    "start": str(start), "end": str(end)})
                values[v["name"]] = regex_alternation(found)
            for p in panels(d):
                n_panels += 1
                title = "%s / %s" % (dname, p["title"])
                empty_targets = []
                for t in p["targets"]:
                    expr = substitute(t["expr"], values)
                    r = prom.api("query_range", query=expr, start=str(start), end=str(end),
                                 step="1")["result"]
                    if not r:
                        empty_targets.append(expr)
                if len(empty_targets) < len(p["targets"]):
                    continue
                exprs = " ".join(t["expr"] for t in p["targets"])
                absent = [m for m in exporter_metrics(exprs) if m not in scraped]
                reasons = sorted({r for m in absent for prefix, r in no_data_metrics.items()
                                  if m.startswith(prefix)})
                if reasons:
                    no_data.append((title, "; ".join(reasons)))
                elif p["title"] in NO_DATA_PANELS:
                    no_data.append((title, NO_DATA_PANELS[p["title"]]))
                else:
                    failures.append("%s: no data (absent exporter metrics: %s; queries: %s)"
                                    % (title, absent or "none", empty_targets))
        print("dashboard panels: %d, with data: %d, without data: %d"
              % (n_panels, n_panels - len(no_data) - len(failures), len(no_data)))
        for title, why in no_data:
            print("  no data (expected): %s: %s" % (title, why))
        every_expr = " ".join(t["expr"] for d in load_dashboards().values() for p in panels(d)
                              for t in p["targets"])
        absent_anywhere = [m for m in exporter_metrics(every_expr) if m not in scraped]
        stale = sorted(prefix for prefix in no_data_metrics
                       if not any(m.startswith(prefix) for m in absent_anywhere))
        if stale:
            print("  NO_DATA_METRICS entries no longer needed (delete them): %s" % stale)
        self.assertEqual(failures, [], "panels without data")


if __name__ == "__main__":
    unittest.main()
