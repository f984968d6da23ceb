"""Live: the scheduler's hugepages against the kernel's (mixin/kubernetes.libsonnet) with real
engines. Debian's Prometheus (loopback, 1 s scrapes and rule evaluation, every `for` 2 s through
the mixin's forOverride) scrapes

- the real pagescope on this kernel, through the shipped ServiceMonitor's relabelings as the
  Prometheus Operator applies them (tests/e2e/servicemonitor.py): `instance` becomes the
  Kubernetes node's name, pagescope's own `pod` label (of a kubelet-shaped cgroup made for the
  test) stays `pod`;
- a static file of kube-state-metrics-shaped series served on loopback by a tiny HTTP server:
  the node has 16 pages of 2 MiB allocatable; a Running pod requests 4 of them in its container
  and 6 in its init container (it requests the larger: 6), a Succeeded pod 8 (finished: not
  counted), a pod not scheduled yet 32 (not counted). The scheduler's free pages: 10.

The kernel's 2 MiB pool is set to 16 free pages (kernel_lock held): no shortfall, no alert. The
pool is shrunk to 8 pages: the kernel has 2 pages fewer than the scheduler believes and
PagescopeKubernetesHugepagesShortfall fires; the pool is given back its 16 pages and the alert
clears. The dashboard panel of both views has data. The pool and the cgroups are restored even
when a check fails.

Also (no root needed): the join settings of the mixin's config reach the rules.
"""

import http.server
import os
import shutil
import tempfile
import threading
import time
import unittest

import yaml

import servicemonitor
from mixin_test import build, load_dashboards, panels, substitute
from pagescope_test import Exporter, SysfsRestorer, kernel_lock, require_root
from test_live_alerts import Prometheus, wait_for

POOL = "/sys/kernel/mm/hugepages/hugepages-2048kB"
MIB = 1 << 20
NODE = "k8s-node-e2e"
PAGES = 16
# A kubelet-shaped (cgroupfs driver) pod cgroup, so that a series with pagescope's own `pod`
# label crosses the operator's relabeling.
POD_UID = "6b1f0c2e-8d4a-4e1b-9c3f-2a7d5e8b0c14"

KSM_TEXT = """\
# HELP kube_node_status_allocatable The allocatable for different resources of a node that are available for scheduling.
# TYPE kube_node_status_allocatable gauge
kube_node_status_allocatable{{node="{node}",resource="hugepages_2Mi",unit="byte"}} {alloc}
kube_node_status_allocatable{{node="{node}",resource="cpu",unit="core"}} 8
# HELP kube_pod_container_resource_requests The number of requested request resource by a container.
# TYPE kube_pod_container_resource_requests gauge
kube_pod_container_resource_requests{{namespace="net",pod="dpdk-0",uid="u0",container="fwd",node="{node}",resource="hugepages_2Mi",unit="byte"}} {running}
kube_pod_container_resource_requests{{namespace="net",pod="dpdk-0",uid="u0",container="fwd",node="{node}",resource="memory",unit="byte"}} 268435456
kube_pod_container_resource_requests{{namespace="batch",pod="done-0",uid="u1",container="job",node="{node}",resource="hugepages_2Mi",unit="byte"}} {finished}
kube_pod_container_resource_requests{{namespace="web",pod="web-0",uid="u2",container="app",node="",resource="hugepages_2Mi",unit="byte"}} {unscheduled}
# HELP kube_pod_init_container_resource_requests The number of requested request resource by an init container.
# TYPE kube_pod_init_container_resource_requests gauge
kube_pod_init_container_resource_requests{{namespace="net",pod="dpdk-0",uid="u0",container="setup",node="{node}",resource="hugepages_2Mi",unit="byte"}} {init}
# HELP kube_pod_status_phase The pods current phase.
# TYPE kube_pod_status_phase gauge
kube_pod_status_phase{{namespace="net",pod="dpdk-0",uid="u0",phase="Running"}} 1
kube_pod_status_phase{{namespace="net",pod="dpdk-0",uid="u0",phase="Succeeded"}} 0
kube_pod_status_phase{{namespace="batch",pod="done-0",uid="u1",phase="Running"}} 0
kube_pod_status_phase{{namespace="batch",pod="done-0",uid="u1",phase="Succeeded"}} 1
kube_pod_status_phase{{namespace="web",pod="web-0",uid="u2",phase="Pending"}} 1
""".format(node=NODE, alloc=PAGES * 2 * MIB, running=4 * 2 * MIB, init=6 * 2 * MIB,
           finished=8 * 2 * MIB, unscheduled=32 * 2 * MIB)
SCHEDULER_FREE = (PAGES - 6) * 2 * MIB

REC = "node_page_size:pagescope_kubernetes_hugepages_"


class StaticMetrics:
    """A tiny HTTP server on 127.0.0.1:<free port> that answers every GET with `text`."""

    def __init__(self, text):
        body = text.encode()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


def v1_memory_pod_cgroup(name, made):
    """/sys/fs/cgroup/memory/<name>/kubepods/besteffort/pod<uid> (kubelet's cgroupfs driver)
    where the memory controller is on v1 (this project's test machine; a v1 cgroup has its
    memory files without any controller to enable); appends the directories it makes to `made`
    and returns the parent to configure, or None without a v1 memory hierarchy."""
    root = "/sys/fs/cgroup/memory"
    if not os.path.exists(os.path.join(root, "memory.limit_in_bytes")):
        return None
    path = root
    for part in (name, "kubepods", "besteffort", "pod" + POD_UID):
        path = os.path.join(path, part)
        os.mkdir(path)
        made.append(path)
    return name + "/kubepods"


class KubernetesJoinConfig(unittest.TestCase):
    def test_join_settings_reach_the_rules(self):
        with tempfile.TemporaryDirectory() as tmp:
            gen = build(tmp, {"kubeStateMetricsSelector": 'job="ksm", cluster="c1"',
                              "kubernetesNodeLabel": "kubernetes_node",
                              "kubernetesNodeRegex": "(.*):[0-9]+",
                              "severities": {"PagescopeKubernetesHugepagesShortfall":
                                             "critical"},
                              "fleetLabels": ["region"]})
        rules = yaml.safe_load(gen[os.path.join("alerts", "pagescope-rules.yml")])
        group = [g for g in rules["groups"] if g["name"] == "pagescope-kubernetes"][0]["rules"]
        by_name = {r["record"]: r["expr"] for r in group}
        self.assertIn('kube_node_status_allocatable{job="ksm", cluster="c1", ',
                      by_name[REC + "allocatable_bytes"])
        self.assertIn('"node", "$1", "kubernetes_node", "(.*):[0-9]+"',
                      by_name[REC + "kernel_available_bytes"])
        for name, expr in by_name.items():
            if " by (" in expr:
                self.assertIn("by (region, ", expr, name)
        alert = [r for g in rules["groups"] for r in g["rules"]
                 if r.get("alert") == "PagescopeKubernetesHugepagesShortfall"][0]
        self.assertEqual(alert["labels"]["severity"], "critical")
        self.assertIn("region=%q", alert["annotations"]["description"])


class LiveKubernetesHugepages(unittest.TestCase):
    @require_root
    def test_shortfall_fires_when_the_kernel_pool_shrinks_and_clears(self):
        if not os.path.isdir(POOL):
            self.skipTest("this kernel has no 2 MiB hugepages")
        if not shutil.which("prometheus"):
            self.fail("prometheus is not installed (scripts/install-deps.sh test)")
        workdir = tempfile.mkdtemp(prefix="pagescope-live-k8s-")
        ksm = prom = exporter = None
        made = []
        try:
            with kernel_lock(), SysfsRestorer() as sysfs:
                try:
                    sysfs.set(POOL + "/nr_overcommit_hugepages", 0)
                    sysfs.set(POOL + "/nr_hugepages", PAGES)
                    self.assertEqual(sysfs.read(POOL + "/free_hugepages"), str(PAGES),
                                     "the kernel could not give %d free 2 MiB pages" % PAGES)
                    parent = v1_memory_pod_cgroup("pagescope-k8s-%d" % os.getpid(), made)
                    if parent is None:
                        print("\nno cgroup v1 memory hierarchy: the pod label is not checked")
                    args = ["--collector.disable-defaults", "--collector.hugepages"]
                    if parent:
                        args += ["--collector.cgroup_memory",
                                 "--collector.cgroup_memory.parents=" + parent]
                    exporter = Exporter(args)
                    ksm = StaticMetrics(KSM_TEXT)
                    build(workdir, {"forOverride": "2s"})
                    rules = os.path.join(workdir, "alerts", "pagescope-rules.yml")
                    config = {
                        "global": {"scrape_interval": "1s", "scrape_timeout": "1s",
                                   "evaluation_interval": "1s"},
                        "rule_files": [rules],
                        "scrape_configs": [
                            servicemonitor.scrape_config("127.0.0.1:%d" % exporter.port, NODE),
                            {"job_name": "kube-state-metrics",
                             "static_configs": [{"targets": ["127.0.0.1:%d" % ksm.port]}]},
                        ],
                    }
                    prom = Prometheus(workdir, rules, None, config_text=yaml.safe_dump(config))
                    self.check(prom, sysfs, pod_label=parent is not None)
                finally:
                    if prom is not None:
                        prom.stop()
                    if ksm is not None:
                        ksm.stop()
                    if exporter is not None:
                        exporter.stop()
                    for d in reversed(made):
                        os.rmdir(d)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    def check(self, prom, sysfs, pod_label):
        def recorded(name):
            return {r["metric"].get("page_size"): float(r["value"][1])
                    for r in prom.query('%s%s{node="%s"}' % (REC, name, NODE))}

        # The relabeling: pagescope's target is the Kubernetes node, its own labels intact.
        wait_for("both targets up", lambda: len(prom.query("up == 1")) == 2, timeout=60)
        up = prom.query('up{job="pagescope"}')
        self.assertEqual([r["metric"]["instance"] for r in up], [NODE], up)
        self.assertNotIn("pod", up[0]["metric"])
        self.assertNotIn("container", up[0]["metric"])
        if pod_label:
            usage = wait_for("the pod cgroup's series", lambda: prom.query(
                'pagescope_cgroup_memory_usage_bytes{pod="%s"}' % POD_UID))
            self.assertEqual(usage[0]["metric"]["qos"], "besteffort")
            self.assertEqual(prom.query('{exported_pod!=""}'), [])

        wait_for("the scheduler's and the kernel's views recorded",
                 lambda: recorded("shortfall_bytes").get("2MiB") is not None, timeout=60)
        self.assertEqual(recorded("scheduler_free_bytes"), {"2MiB": SCHEDULER_FREE})
        self.assertEqual(recorded("kernel_available_bytes"), {"2MiB": PAGES * 2 * MIB})
        self.assertEqual(recorded("shortfall_bytes"), {"2MiB": SCHEDULER_FREE - PAGES * 2 * MIB})
        time.sleep(4)  # several evaluations with the pool as big as the scheduler thinks
        self.assertEqual(prom.alerts("PagescopeKubernetesHugepagesShortfall"), [])
        self.check_panel(prom)

        # Shrunk on purpose: 8 pages, 2 fewer than the scheduler's 10.
        sysfs.set(POOL + "/nr_hugepages", 8)
        t0 = time.time()
        firing = wait_for("PagescopeKubernetesHugepagesShortfall firing", lambda: [
            a for a in prom.alerts("PagescopeKubernetesHugepagesShortfall")
            if a["state"] == "firing"], timeout=60)
        print("\nPagescopeKubernetesHugepagesShortfall firing %.1f s after the pool shrank: %s"
              % (time.time() - t0, firing[0]["annotations"]["description"]))
        self.assertEqual(len(firing), 1, firing)
        labels = firing[0]["labels"]
        self.assertEqual((labels["node"], labels["instance"], labels["page_size"]),
                         (NODE, NODE, "2MiB"))
        self.assertEqual(float(firing[0]["value"]), 2 * 2 * MIB)
        self.assertIn("scheduler 20MiB", firing[0]["annotations"]["description"])
        self.assertIn("kernel 16MiB", firing[0]["annotations"]["description"])

        # Given back.
        sysfs.set(POOL + "/nr_hugepages", PAGES)
        t0 = time.time()
        wait_for("PagescopeKubernetesHugepagesShortfall to clear",
                 lambda: not prom.alerts("PagescopeKubernetesHugepagesShortfall"), timeout=60)
        print("cleared %.1f s after the pool was restored" % (time.time() - t0))

    def check_panel(self, prom):
        """Every query of the Kubernetes panel returns data for this node."""
        d = load_dashboards()["pagescope-hugepages.json"]
        found = [p for p in panels(d) if p["title"].startswith("Hugepages: scheduler")]
        self.assertEqual(len(found), 1)
        values = {"instance": NODE, "page_size": ".*", "node": ".*", "cluster": ".*"}
        for t in found[0]["targets"]:
            r = prom.query(substitute(t["expr"], values))
            self.assertTrue(r, t["expr"])


if __name__ == "__main__":
    unittest.main()
