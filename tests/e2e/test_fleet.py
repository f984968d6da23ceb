"""A simulated fleet through the reference deployment (docs/fleet.md), every part a real program
from Debian started here on loopback:

  HOSTS pagescope instances (each on its own generated fixture root: 1, 2 or 4 NUMA nodes, 2 MiB
  and sometimes 1 GiB pools, different sizes and use, two flavors; each on its own 127.77.x.y:9724)
  -> SHARDS Prometheus 2.42 agents (deploy/fleet/prometheus-agent-*.yml: file_sd inventory with a
     cluster label per host, hashmod sharding, remote_write)
  -> VictoriaMetrics single-node (flags from docker/compose-fleet.yml)
  -> vmalert evaluating the mixin's rules built with every `for` at 0s (recording rules written
     back into VictoriaMetrics) -> Alertmanager (deploy/fleet/alertmanager.yml).

Asserted: every host ingested exactly once (one `up` series per host, one agent per host, the
shards split the hosts and together cover them); the recorded per-host and fleet series equal
the values computed from the generated fixtures; exhausting the 2 MiB pool of a host without
guests (a general host; its fixture's free_hugepages rewritten) raises
PagescopeHugepagesExhausted in Alertmanager with that host's labels, and restoring the files
clears it; killing one agent makes its hosts go missing and
raises PagescopeFleetHostsMissing for exactly those hosts.

PAGESCOPE_FLEET_HOSTS / PAGESCOPE_FLEET_SHARDS set the size (default 20 hosts, 2 shards);
test_fleet_large.py runs 200 hosts under the ctest label fleet_large.
"""

import os
import signal
import tempfile
import time
import unittest

import fleet_stack
from fleet_stack import Stack, FleetHosts, random_specs, wait_for, write_pools
from mixin_test import build, load_rules, recordings
from pagescope_test import parse_exposition

CLUSTERS = ["cluster-a", "cluster-b", "cluster-c"]
SIZES = {2048: "2MiB", 1048576: "1GiB"}
FLEET_RECORDS = {
    "available_pages": "fleet_page_size:pagescope_hugepages_available_pages:sum",
    "available_bytes": "fleet_page_size:pagescope_hugepages_available_bytes:sum",
    "thp_unexpected": "fleet:pagescope_thp_mode_unexpected_hosts:sum",
    "hosts_up": "fleet:pagescope_hosts_up:sum",
    "hosts": "fleet:pagescope_hosts:count",
    "flavor_slots": "fleet_flavor:pagescope_capacity_host_vm_slots:sum",
    "flavor_hosts": "fleet_flavor:pagescope_capacity_hosts_with_slot:sum",
}


def by_labels(result, *labels):
    """{(label values...): float value} of an instant query result; fails on duplicates."""
    out = {}
    for r in result:
        key = tuple(r["metric"].get(lb, "") for lb in labels)
        if key in out:
            raise AssertionError("two series for %s: %s" % (key, result))
        out[key] = float(r["value"][1])
    return out


class FleetBase:
    """The stack with HOSTS simulated hosts and SHARDS agents of kind AGENTS."""
    HOSTS = int(os.environ.get("PAGESCOPE_FLEET_HOSTS", "20"))
    SHARDS = int(os.environ.get("PAGESCOPE_FLEET_SHARDS", "2"))
    AGENTS = "prometheus"
    SHARD_NAME = "shard-%d"
    INTERVAL = "2s"

    @classmethod
    def setUpClass(cls):
        cls.t0 = time.time()
        cls.workdir = tempfile.mkdtemp(prefix="pagescope-fleet-")
        cls.hosts = cls.stack = None
        try:
            rules_dir = os.path.join(cls.workdir, "rules")
            # The fixtures' hosts are all expected to run THP "madvise" (the mixin expects no
            # mode by default).
            build(rules_dir, {"forOverride": "0s", "thpExpectedMode": "madvise"})
            cls.rules_file = os.path.join(rules_dir, "alerts", "pagescope-rules.yml")
            cls.records = {r["record"] for r in recordings(load_rules(cls.rules_file))}
            cls.specs = random_specs(cls.HOSTS, CLUSTERS)
            cls.hosts = FleetHosts(cls.workdir, cls.specs)
            cls.timing("hosts up")
            cls.stack = Stack(cls.workdir, cls.hosts, cls.rules_file, shards=cls.SHARDS,
                              interval=cls.INTERVAL, eval_interval="1s", agents=cls.AGENTS)
            cls.timing("stack up")
            cls.wait_ingested()
            cls.timing("every host ingested")
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.stack:
            cls.stack.stop()
        if cls.hosts:
            cls.hosts.stop()
        fleet_stack.cleanup(cls.workdir)

    @classmethod
    def timing(cls, what):
        print("fleet %d hosts/%d %s agents: %s after %.1f s"
              % (cls.HOSTS, cls.SHARDS, cls.AGENTS, what, time.time() - cls.t0), flush=True)

    @classmethod
    def wait_ingested(cls):
        wait_for("every host's up in VictoriaMetrics",
                 lambda: len(cls.stack.query('up{job="pagescope"} == 1')) >= cls.HOSTS,
                 timeout=60 + cls.HOSTS // 5)

    def instance_of(self, i):
        return self.hosts.instance(i)

    def test_1_every_host_ingested_exactly_once(self):
        up = self.stack.query('up{job="pagescope"}')
        instances = [r["metric"]["instance"] for r in up]
        self.assertEqual(sorted(instances),
                         sorted(self.instance_of(i) for i in range(self.HOSTS)),
                         "each host has exactly one up series")
        for r in up:
            self.assertEqual(r["value"][1], "1", r)
        # One agent per host, the shard hashmod gave it; all shards used.
        agents = by_labels(self.stack.query(
            'count by (instance) (count by (instance, agent) (up{job="pagescope"}))'),
            "instance")
        self.assertEqual(set(agents.values()), {1.0})
        per_shard = by_labels(self.stack.query('count by (agent) (up{job="pagescope"})'),
                              "agent")
        self.assertEqual(set(per_shard), {(self.SHARD_NAME % s,) for s in range(self.SHARDS)})
        self.assertEqual(sum(per_shard.values()), self.HOSTS)
        # A pagescope series: one per host and page size, labelled as the inventory says.
        pools = self.stack.query('pagescope_hugepages_pool_pages{page_size="2MiB"}')
        got = {r["metric"]["instance"]: (r["metric"]["cluster"], r["metric"]["host"])
               for r in pools}
        self.assertEqual(len(pools), self.HOSTS)
        self.assertEqual(got, {self.instance_of(i): (s.cluster, s.name)
                               for i, s in enumerate(self.specs)})
        print("fleet: %d hosts ingested once, per shard %s"
              % (self.HOSTS, {k[0]: int(v) for k, v in sorted(per_shard.items())}))


class FleetTest(FleetBase, unittest.TestCase):
    """Prometheus agents (deploy/fleet/prometheus-agent-*.yml)."""

    def test_2_recorded_series_equal_the_fixtures(self):
        want_host = {(self.instance_of(i), SIZES[size]): s.available(size)
                     for i, s in enumerate(self.specs) for size in s.pools}
        want_fleet = {}
        for s in self.specs:
            for size in s.pools:
                key = (s.cluster, SIZES[size])
                want_fleet[key] = want_fleet.get(key, 0) + s.available(size)
        t = time.time()
        rec = "instance_page_size:pagescope_hugepages_available_pages"
        wait_for(rec + " recorded by vmalert for every host and size",
                 lambda: by_labels(self.stack.query(rec), "instance", "page_size") == want_host,
                 timeout=60)
        print("fleet: %s as expected after %.1f s" % (rec, time.time() - t))
        slots = by_labels(self.stack.query("pagescope_capacity_vm_slots"),
                          "instance", "flavor", "node")
        want_slots = {(self.instance_of(i), f["name"], str(node)): v
                      for i, s in enumerate(self.specs) for f in fleet_stack.FLAVORS
                      for node, v in fleet_stack.flavor_slots(s, f).items()}
        self.maxDiff = None
        self.assertEqual({k: (slots.get(k), want_slots.get(k)) for k in set(slots) | set(want_slots)
                          if slots.get(k) != want_slots.get(k)}, {})
        missing = [r for r in FLEET_RECORDS.values() if r not in self.records]
        self.assertEqual(missing, [], "fleet recording rules missing from the mixin")
        fleet = FLEET_RECORDS["available_pages"]
        wait_for(fleet + " equal to the fixtures' sums per cluster and size",
                 lambda: by_labels(self.stack.query(fleet), "cluster", "page_size")
                 == want_fleet, timeout=60)
        sizes = {v: k for k, v in SIZES.items()}
        want_bytes = {k: v * sizes[k[1]] * 1024 for k, v in want_fleet.items()}
        fleet = FLEET_RECORDS["available_bytes"]
        wait_for(fleet + " equal to the fixtures' sums per cluster and size",
                 lambda: by_labels(self.stack.query(fleet), "cluster", "page_size")
                 == want_bytes, timeout=60)
        hosts = {(c,): sum(1 for s in self.specs if s.cluster == c) for c in CLUSTERS}
        thp = {(c,): sum(1 for s in self.specs if s.cluster == c and s.thp != "madvise")
               for c in CLUSTERS}
        self.assertGreater(sum(thp.values()), 0)
        # Capacity per flavor: the fleet sums equal the sums over the hosts of what each
        # exporter says itself (pagescope_capacity_host_vm_slots, scraped here directly).
        flavor_slots, flavor_hosts = {}, {}
        for i, s in enumerate(self.specs):
            m = parse_exposition(fleet_stack.http_get(
                "http://%s/metrics" % self.instance_of(i)).decode())
            for (n, labels), v in m.items():
                if n == "pagescope_capacity_host_vm_slots":
                    key = (s.cluster, dict(labels)["flavor"])
                    flavor_slots[key] = flavor_slots.get(key, 0) + v
                    flavor_hosts[key] = flavor_hosts.get(key, 0) + min(v, 1)
        self.assertEqual(len(flavor_slots), len(CLUSTERS) * len(fleet_stack.FLAVORS))
        self.assertGreater(sum(flavor_slots.values()), 0)
        for name, want in (("hosts_up", hosts), ("hosts", hosts), ("thp_unexpected", thp),
                           ("flavor_slots", flavor_slots), ("flavor_hosts", flavor_hosts)):
            wait_for(FLEET_RECORDS[name] + " per cluster as the fixtures say",
                     lambda: by_labels(self.stack.query(FLEET_RECORDS[name]),
                                       *(["cluster", "flavor"] if "flavor" in name
                                         else ["cluster"])) == want,
                     timeout=30)
        print("fleet: fleet sums as expected after %.1f s" % (time.time() - t))

    def test_3_exhausted_pool_alerts_through_alertmanager(self):
        # A general host (no guest: not detected as a hypervisor, where a full pool is the goal).
        i = next(i for i, s in enumerate(self.specs)
                 if s.guests == 0 and s.available(2048) > 0
                 and all(p[0] > 0 for p in s.pools[2048].values()))
        spec, instance = self.specs[i], self.instance_of(i)
        root = self.hosts.root(spec)

        def host_alerts():
            return [a for a in self.stack.am_alerts("PagescopeHugepagesExhausted")
                    if a["labels"].get("instance") == instance]
        self.assertEqual(host_alerts(), [])
        saved = {size: {n: list(p) for n, p in per.items()} for size, per in spec.pools.items()}
        saved_resv = dict(spec.reserved)
        t = time.time()
        try:
            for p in spec.pools[2048].values():
                p[1] = 0  # no free page on any node
            spec.reserved[2048] = 0
            write_pools(root, spec)
            (alert,) = wait_for("PagescopeHugepagesExhausted for %s in Alertmanager" % instance,
                                host_alerts, timeout=60)
            print("fleet: exhausted pool in Alertmanager after %.1f s" % (time.time() - t))
            labels = alert["labels"]
            self.assertEqual(labels["page_size"], "2MiB")
            self.assertEqual(labels["cluster"], spec.cluster)
            self.assertEqual(labels["host"], spec.name)
            self.assertEqual(labels["severity"], "warning")
            self.assertIn(instance, alert["annotations"]["description"])
        finally:
            spec.pools, spec.reserved = saved, saved_resv
            write_pools(root, spec)
        t = time.time()
        wait_for("PagescopeHugepagesExhausted for %s to clear" % instance,
                 lambda: host_alerts() == [], timeout=90)
        print("fleet: cleared in Alertmanager after %.1f s" % (time.time() - t))

    def test_4_per_host_alerts_under_metricsql(self):
        # Every rule of the file evaluates under vmalert without an error, and the hugepage and
        # THP mode alerts that fire are those the fixtures call for (rules built with `for` 0s).
        groups = fleet_stack.http_json(self.stack._url(self.stack.vmalert_port,
                                                       "/api/v1/rules"))["data"]["groups"]
        rules = [r for g in groups for r in g["rules"]]
        self.assertEqual(len(rules), sum(len(g["rules"]) for g in
                                         load_rules(self.rules_file)["groups"]))
        self.assertEqual([(r["name"], r["lastError"]) for r in rules if r.get("lastError")], [])
        want = set()
        for i, s in enumerate(self.specs):
            inst = self.instance_of(i)
            if s.thp != "madvise":
                want.add(("PagescopeThpModeUnexpected", inst, "", ""))
            if s.guests > 0:
                continue  # a hypervisor (its guests say so): a full pool is its goal
            for size, per_node in s.pools.items():
                pool = sum(p[0] for p in per_node.values())
                avail = s.available(size)
                if pool > 0 and avail <= 0:
                    want.add(("PagescopeHugepagesExhausted", inst, SIZES[size], ""))
                if pool > 0 and 0 < avail < pool and avail < max(0.1 * pool, 2):
                    want.add(("PagescopeHugepagesLow", inst, SIZES[size], ""))
                for node, (npool, free) in per_node.items():
                    if npool > 0 and free == 0 and max(p[1] for p in per_node.values()) > 0:
                        want.add(("PagescopeNumaNodeHugepagesExhausted", inst, SIZES[size],
                                  str(node)))
            # No guest of any flavor fits (the exporter's own count, scraped directly).
            slots = [v for (n, _), v in parse_exposition(fleet_stack.http_get(
                "http://%s/metrics" % inst).decode()).items()
                if n == "pagescope_capacity_host_vm_slots"]
            if slots and max(slots) == 0:
                want.add(("PagescopeHugepagesLow", inst, "", ""))
        names = {"PagescopeHugepagesExhausted", "PagescopeHugepagesLow",
                 "PagescopeNumaNodeHugepagesExhausted", "PagescopeThpModeUnexpected"}

        def firing():
            got = {(a["labels"]["alertname"], a["labels"]["instance"],
                    a["labels"].get("page_size", ""), a["labels"].get("node", ""))
                   for a in self.stack.vmalert_alerts()
                   if a["labels"]["alertname"] in names and a["state"] == "firing"}
            firing.last = got
            return got == want
        firing.last = None
        try:
            wait_for("the alerts the fixtures call for, firing in vmalert", firing,
                     timeout=60)
        except AssertionError:
            self.assertEqual(firing.last, want)
        print("fleet: %d hugepage and THP alerts firing as the fixtures say" % len(want))

    def test_9_stopped_agent_hosts_go_missing(self):
        # Last: it kills an agent. Its hosts are scraped by nobody, so PagescopeExporterDown
        # (up == 0) cannot fire for them; the fleet alert on hosts that stopped reporting must,
        # once per cluster, counting the cluster's hosts the agent scraped.
        self.assertEqual(self.stack.am_alerts("PagescopeFleetHostsMissing"), [])
        agent = self.stack.agents[0]
        up = self.stack.query('up{job="pagescope", agent="shard-0"}')
        lost = {}
        for r in up:
            lost[r["metric"]["cluster"]] = lost.get(r["metric"]["cluster"], 0) + 1
        self.assertTrue(lost)
        t = time.time()
        os.kill(agent.pid, signal.SIGKILL)
        agent.proc.wait()

        def missing():
            alerts = self.stack.am_alerts("PagescopeFleetHostsMissing")
            # "{{ $value }} of the hosts ...": the hosts the agent took with it (vmalert resends
            # the alert with the current value at every evaluation).
            got = {a["labels"]["cluster"]: a["annotations"]["description"].split(" ")[0]
                   for a in alerts}
            return got == {c: str(n) for c, n in lost.items()} and alerts
        got = wait_for("PagescopeFleetHostsMissing for the clusters of shard 0's hosts %s" % lost,
                       missing, timeout=180)
        print("fleet: hosts of the killed agent missing in Alertmanager after %.1f s"
              % (time.time() - t))
        for alert in got:
            self.assertEqual(alert["labels"]["severity"], "warning")
        self.assertEqual(self.stack.am_alerts("PagescopeExporterDown"), [])


class VmagentFleetTest(FleetBase, unittest.TestCase):
    """The vmagent variant: vmagents sharding by -promscrape.cluster.* (deploy/fleet/vmagent.yml
    and the flags of docker/compose-fleet.yml), on fewer hosts. What comes after the agents is
    the same as in FleetTest, so only the ingestion is checked here."""
    HOSTS = max(FleetBase.HOSTS // 2, 4)
    AGENTS = "vmagent"
    SHARD_NAME = "vmagent-%d"


class FederationTest(unittest.TestCase):
    """The federation recipe: two sites, each a Prometheus with the mixin's rules scraping its
    own simulated hosts; the global Prometheus federates the fleet sums only, which equal the
    fixtures' per site and cluster, and holds no host's raw series."""

    def test_global_prometheus_has_the_fleet_sums_of_every_site(self):
        workdir = tempfile.mkdtemp(prefix="pagescope-federation-")
        started = []
        try:
            rules_dir = os.path.join(workdir, "rules")
            build(rules_dir, {})
            specs = random_specs(6, CLUSTERS[:2], seed=5)
            sites = {"site-a": specs[:3], "site-b": specs[3:]}
            hosts = {}
            for site, site_specs in sites.items():
                hosts[site] = FleetHosts(os.path.join(workdir, site), site_specs)
                started.append(hosts[site])
            fed = fleet_stack.Federation(workdir, hosts, os.path.join(
                rules_dir, "alerts", "pagescope-rules.yml"))
            started.append(fed)
            want = {}
            for site, site_specs in sites.items():
                for s in site_specs:
                    for size in s.pools:
                        key = (site, s.cluster, SIZES[size])
                        want[key] = want.get(key, 0) + s.available(size)
            rec = FLEET_RECORDS["available_pages"]
            wait_for(rec + " of both sites federated",
                     lambda: by_labels(fed.query(rec), "site", "cluster", "page_size") == want,
                     timeout=60)
            names = {r["metric"]["__name__"] for r in fed.query('{__name__=~".+"}')}
            self.assertEqual([n for n in names if not n.startswith("fleet")
                              and n not in ("up", "scrape_duration_seconds",
                                            "scrape_samples_scraped", "scrape_series_added",
                                            "scrape_samples_post_metric_relabeling")], [])
        finally:
            for s in reversed(started):
                s.stop()
            fleet_stack.cleanup(workdir)


if __name__ == "__main__":
    unittest.main()
