"""A simulated fleet on loopback for tests/e2e/test_fleet.py and scripts/bench-fleet.py.

- FleetHosts: N real pagescope processes, each on its own generated fixture root and its own
  loopback address (127.77.B.H:9724), grouped into a few clusters.
- Stack: the reference deployment of deploy/fleet/ and docker/compose-fleet.yml with Debian's
  real programs: Prometheus agents sharding the hosts by hashmod, VictoriaMetrics, vmalert with
  a rule file, Alertmanager. The configuration files and flags are read from the shipped files;
  only addresses, paths and intervals are replaced.

Every process is started here, killed by PID in stop(), and logs to the work directory.
"""

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import yaml

from pagescope_test import BINARY, SOURCE_DIR, stop_process

sys.path.insert(0, os.path.join(SOURCE_DIR, "tests", "tools"))
import gen_fleet_fixture  # noqa: E402  (tests/tools: the fixture host generator)

FLEET_DIR = os.path.join(SOURCE_DIR, "deploy", "fleet")
COMPOSE_FLEET = os.path.join(SOURCE_DIR, "docker", "compose-fleet.yml")
EXPORTER_PORT = 9724
INFRA_NET = 254  # 127.77.254.x: VictoriaMetrics, vmalert, Alertmanager, the agents
KIB = 1024


def wait_for(what, check, timeout=60, interval=0.25):
    """Polls check() until it returns something true; fails after timeout seconds."""
    deadline = time.time() + timeout
    last = None
    while True:
        try:
            got = check()
            last = got
        except (OSError, ValueError, KeyError) as e:
            got, last = None, e
        if got:
            return got
        if time.time() > deadline:
            raise AssertionError("timed out after %ds waiting for %s (last: %r)"
                                 % (timeout, what, last))
        time.sleep(interval)


def is_listening(host, port):
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


def free_port(host):
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def http_get(url, timeout=10):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read()


def http_json(url, timeout=10):
    return json.loads(http_get(url, timeout))


# ---------------------------------------------------------------------------------------------
# Fixture hosts

class HostSpec:
    """One simulated host: NUMA nodes and, per page size (KiB) and node, its pool and free pages;
    reserved pages per size; THP and KSM modes; the flavors of its capacity configuration."""

    def __init__(self, name, cluster, nodes, pools, reserved, thp="madvise", ksm_run=0,
                 guests=0, seed=0):
        self.name = name
        self.guests = guests
        self.seed = seed
        self.cluster = cluster
        self.nodes = nodes  # list of node ids
        self.pools = pools  # {size_kib: {node: [pool, free]}}
        self.reserved = reserved  # {size_kib: resv}
        self.thp = thp
        self.ksm_run = ksm_run

    def free(self, size):
        return sum(p[1] for p in self.pools[size].values())

    def available(self, size):
        """Free minus reserved pages: what instance_page_size:..._available_pages records."""
        return self.free(size) - self.reserved.get(size, 0)


FLAVORS = [
    {"name": "m1.small.2m", "memory": "1GiB", "page_size": "2MiB"},
    {"name": "m1.medium.1g", "memory": "2GiB", "page_size": "1GiB"},
]


def flavor_slots(spec, flavor):
    """pagescope_capacity_vm_slots per node for one flavor, as the qemu collector computes it."""
    size = {"2MiB": 2048, "1GiB": 1048576}[flavor["page_size"]]
    if size not in spec.pools:
        return {}
    memory = {"1GiB": KIB ** 3, "2GiB": 2 * KIB ** 3}[flavor["memory"]]
    need = -(-memory // (size * KIB))
    resv = spec.reserved.get(size, 0)
    return {node: max(free - resv, 0) // need for node, (_, free) in spec.pools[size].items()}


def random_specs(count, clusters, seed=17):
    """count varied hosts spread over the clusters: 1, 2 or 4 nodes, 2 MiB pools everywhere
    and 1 GiB pools on some, different sizes and use, 0 to 6 QEMU guests."""
    rng = random.Random(seed)
    out = []
    for i in range(count):
        n_nodes = rng.choice([1, 2, 2, 4])
        nodes = list(range(n_nodes))
        pools = {}
        sizes = [2048] + ([1048576] if rng.random() < 0.5 else [])
        for size in sizes:
            pools[size] = {}
            for node in nodes:
                pool = rng.choice([0, 256, 512, 1024, 4096]) if size == 2048 \
                    else rng.choice([0, 4, 8, 16])
                free = rng.randint(0, pool)
                pools[size][node] = [pool, free]
        reserved = {size: rng.randint(0, min(p[1] for p in pools[size].values()))
                    for size in sizes}
        # A few hosts drift from the expected THP mode (madvise).
        thp = "always" if i % 7 == 3 else "madvise"
        out.append(HostSpec("host%03d" % i, clusters[i % len(clusters)], nodes, pools, reserved,
                            thp=thp, guests=rng.randint(0, 6), seed=seed * 100000 + i))
    return out


def _write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def write_pools(root, spec):
    """(Re)writes the hugepage files of a host root from spec (pools, free, reserved)."""
    sys_mm = os.path.join(root, "sys", "kernel", "mm", "hugepages")
    node_dir = os.path.join(root, "sys", "devices", "system", "node")
    for size, per_node in spec.pools.items():
        d = os.path.join(sys_mm, "hugepages-%dkB" % size)
        total = sum(p[0] for p in per_node.values())
        for name, v in (("nr_hugepages", total), ("nr_hugepages_mempolicy", total),
                        ("free_hugepages", spec.free(size)),
                        ("resv_hugepages", spec.reserved.get(size, 0)),
                        ("surplus_hugepages", 0), ("nr_overcommit_hugepages", 0)):
            # Atomically: the exporter may read the file at any moment.
            _write(os.path.join(d, name + ".tmp"), "%d\n" % v)
            os.replace(os.path.join(d, name + ".tmp"), os.path.join(d, name))
        for node, (pool, free) in per_node.items():
            nd = os.path.join(node_dir, "node%d" % node, "hugepages", "hugepages-%dkB" % size)
            for name, v in (("nr_hugepages", pool), ("free_hugepages", free),
                            ("surplus_hugepages", 0)):
                _write(os.path.join(nd, name + ".tmp"), "%d\n" % v)
                os.replace(os.path.join(nd, name + ".tmp"), os.path.join(nd, name))


def write_host(root, spec):
    """A fixture root for spec, made by tests/tools/gen_fleet_fixture.py: the pools and free and
    reserved pages of spec, its guests (QEMU processes, machine.slice scopes), a few dozen
    processes and services, the FLAVORS; then spec's THP and KSM modes."""
    size_label = {2048: "2MiB", 1048576: "1GiB"}
    gen_fleet_fixture.generate(root, gen_fleet_fixture.HostSpec(
        nodes=len(spec.nodes),
        pools={size_label[size]: [per_node[n][0] for n in spec.nodes]
               for size, per_node in spec.pools.items()},
        free_pages={size_label[size]: [per_node[n][1] for n in spec.nodes]
                    for size, per_node in spec.pools.items()},
        reserved_pages={size_label[size]: r for size, r in spec.reserved.items()},
        guests=spec.guests, guest_memory_mib=1024, processes=40, process_names=10, services=5,
        flavors=FLAVORS, seed=spec.seed))
    write_host_modes(root, spec)


def write_host_modes(root, spec):
    mm = os.path.join(root, "sys", "kernel", "mm")
    modes = ["always", "madvise", "never"]
    _write(os.path.join(mm, "transparent_hugepage", "enabled"),
           " ".join("[%s]" % m if m == spec.thp else m for m in modes) + "\n")
    _write(os.path.join(mm, "ksm", "run"), "%d\n" % spec.ksm_run)


class FleetHosts:
    """count pagescope processes on 127.77.B.H:9724, B from a block no other run uses."""

    def __init__(self, workdir, specs, extra_args=()):
        self.specs = specs
        self.procs = []
        self.addresses = []
        self.workdir = workdir
        blocks = -(-len(specs) // 250)
        rng = random.Random()
        for _ in range(50):
            base = rng.randrange(0, INFRA_NET - blocks)
            candidates = ["127.77.%d.%d" % (base + i // 250, i % 250 + 1)
                          for i in range(len(specs))]
            if not any(is_listening(a, EXPORTER_PORT) for a in candidates):
                break
        else:
            raise RuntimeError("no free 127.77.x.0/24 block for the simulated hosts")
        try:
            for spec, addr in zip(specs, candidates):
                root = os.path.join(workdir, "hosts", spec.name)
                write_host(root, spec)
                log = open(os.path.join(root, "pagescope.log"), "w")
                p = subprocess.Popen(
                    [BINARY, "--web.listen-address=%s:%d" % (addr, EXPORTER_PORT),
                     "--config.file=" + os.path.join(root, "pagescope.yml"),
                     "--path.procfs=" + os.path.join(root, "proc"),
                     "--path.sysfs=" + os.path.join(root, "sys"),
                     "--path.rootfs=" + os.path.join(root, "root"),
                     "--log.level=warn"] + list(extra_args),
                    stdout=log, stderr=subprocess.STDOUT)
                log.close()
                self.procs.append(p)
                self.addresses.append(addr)
            for spec, addr, p in zip(specs, self.addresses, self.procs):
                wait_for("pagescope of %s on %s" % (spec.name, addr),
                         lambda: p.poll() is None and
                         http_get("http://%s:%d/-/healthy" % (addr, EXPORTER_PORT), 2),
                         timeout=30, interval=0.05)
                if p.poll() is not None:
                    raise RuntimeError("pagescope for %s exited: %s" % (spec.name, self.log(spec)))
        except BaseException:
            self.stop()
            raise

    def root(self, spec):
        return os.path.join(self.workdir, "hosts", spec.name)

    def log(self, spec):
        with open(os.path.join(self.root(spec), "pagescope.log"), errors="replace") as f:
            return f.read()[-2000:]

    def instance(self, i):
        return "%s:%d" % (self.addresses[i], EXPORTER_PORT)

    def write_targets(self, directory):
        """The inventory as file_sd files, one per cluster (labels: cluster, host)."""
        os.makedirs(directory, exist_ok=True)
        groups = {}
        for i, spec in enumerate(self.specs):
            groups.setdefault(spec.cluster, []).append(
                {"targets": [self.instance(i)], "labels": {"cluster": spec.cluster,
                                                           "host": spec.name}})
        for cluster, g in groups.items():
            with open(os.path.join(directory, cluster + ".yml"), "w") as f:
                yaml.safe_dump(g, f)

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            stop_process(p)


# ---------------------------------------------------------------------------------------------
# The stack

class Daemon:
    """A real program started with a log file, waited for on a readiness URL, stopped by PID."""

    def __init__(self, name, cmd, workdir, ready_url, timeout=60):
        self.name = name
        self.cmd = cmd
        self.log_path = os.path.join(workdir, name + ".log")
        with open(self.log_path, "w") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                         cwd=workdir)
        try:
            wait_for(name + " ready at " + ready_url,
                     lambda: self.alive() and http_get(ready_url, 2) is not None,
                     timeout=timeout, interval=0.1)
        except AssertionError as e:
            self.stop()
            raise AssertionError("%s: %s\n%s" % (e, " ".join(cmd), self.log_text()))

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        if self.proc.poll() is not None:
            raise AssertionError("%s exited with %s: %s" % (self.name, self.proc.returncode,
                                                           self.log_text()))
        return True

    def log_text(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()[-3000:]

    def stop(self, sig=signal.SIGTERM):
        stop_process(self.proc, sig, timeout=20)


def compose_command(service):
    """The command (flags) of a service of docker/compose-fleet.yml."""
    with open(COMPOSE_FLEET, encoding="utf-8") as f:
        return list(yaml.safe_load(f)["services"][service]["command"])


def set_flags(args, **overrides):
    """args with -flag=value replaced (or added) for every override (dots as __)."""
    out = list(args)
    for key, v in overrides.items():
        flag = "-" + key.replace("__", ".")
        out = [a for a in out if a.split("=", 1)[0] not in (flag, "-" + flag)]
        if v is not None:
            out.append("%s=%s" % (flag, v))
    return out


def agent_config(shard, shards, targets_dir, write_url, interval):
    """deploy/fleet/prometheus-agent-<shard % 2>.yml for shard `shard` of `shards`."""
    with open(os.path.join(FLEET_DIR, "prometheus-agent-%d.yml" % (shard % 2))) as f:
        cfg = yaml.safe_load(f)
    cfg["global"]["scrape_interval"] = interval
    cfg["global"]["scrape_timeout"] = interval
    cfg["global"]["external_labels"]["agent"] = "shard-%d" % shard
    (job,) = cfg["scrape_configs"]
    job["file_sd_configs"][0]["files"] = [os.path.join(targets_dir, "*.yml")]
    job["file_sd_configs"][0]["refresh_interval"] = "5s"
    (hashmod,) = [r for r in job["relabel_configs"] if r.get("action") == "hashmod"]
    (keep,) = [r for r in job["relabel_configs"] if r.get("action") == "keep" and
               r.get("source_labels") == [hashmod["target_label"]]]
    hashmod["modulus"] = shards
    keep["regex"] = str(shard)
    (rw,) = cfg["remote_write"]
    rw["url"] = write_url
    rw.setdefault("queue_config", {})["batch_send_deadline"] = "1s"
    return cfg


class Stack:
    """VictoriaMetrics, Alertmanager, vmalert on a rule file, and `shards` Prometheus agents."""

    def __init__(self, workdir, hosts, rules_file, shards=2, interval="2s", eval_interval="2s",
                 agents="prometheus"):
        self.workdir = workdir
        self.hosts = hosts
        self.daemons = []
        self.agents = []
        self.ip = "127.77.%d.%d" % (INFRA_NET, random.randrange(1, 250))
        try:
            self._start(rules_file, shards, interval, eval_interval, agents)
        except BaseException:
            self.stop()
            raise

    def _url(self, port, path=""):
        return "http://%s:%d%s" % (self.ip, port, path)

    def _start(self, rules_file, shards, interval, eval_interval, agents):
        self.vm_port = free_port(self.ip)
        vm_args = set_flags(
            compose_command("victoriametrics"),
            storageDataPath=os.path.join(self.workdir, "vm-data"),
            httpListenAddr="%s:%d" % (self.ip, self.vm_port),
            # Queries see samples after 1 s instead of 30 s, so the test need not wait.
            search__latencyOffset="1s")
        self.vm = self._daemon("victoriametrics", ["victoria-metrics"] + vm_args,
                               self._url(self.vm_port, "/health"))

        self.am_port = free_port(self.ip)
        am_args = [a for a in compose_command("alertmanager")
                   if not a.startswith(("--config.file", "--storage.path"))]
        self.am = self._daemon("alertmanager", ["prometheus-alertmanager"] + am_args + [
            "--config.file=" + os.path.join(FLEET_DIR, "alertmanager.yml"),
            "--storage.path=" + os.path.join(self.workdir, "am-data"),
            "--web.listen-address=%s:%d" % (self.ip, self.am_port),
            "--cluster.listen-address="], self._url(self.am_port, "/-/ready"))

        self.vmalert_port = free_port(self.ip)
        vmalert_args = set_flags(
            compose_command("vmalert"),
            rule=rules_file,
            datasource__url=self._url(self.vm_port),
            remoteWrite__url=self._url(self.vm_port),
            remoteRead__url=None,
            notifier__url=self._url(self.am_port),
            httpListenAddr="%s:%d" % (self.ip, self.vmalert_port),
            evaluationInterval=eval_interval,
            remoteWrite__flushInterval="1s")
        self.vmalert = self._daemon("vmalert", ["vmalert"] + vmalert_args,
                                    self._url(self.vmalert_port, "/health"))
        self.targets_dir = os.path.join(self.workdir, "targets")
        self.hosts.write_targets(self.targets_dir)
        for shard in range(shards):
            if agents == "prometheus":
                self.start_agent(shard, shards, interval)
            elif agents == "vmagent":
                self.start_vmagent(shard, shards, interval)

    def _daemon(self, name, cmd, ready, timeout=60):
        d = Daemon(name, cmd, self.workdir, ready, timeout)
        self.daemons.append(d)
        return d

    def start_agent(self, shard, shards, interval):
        cfg = agent_config(shard, shards, self.targets_dir, self._url(self.vm_port,
                                                                      "/api/v1/write"), interval)
        path = os.path.join(self.workdir, "agent-%d.yml" % shard)
        with open(path, "w") as f:
            yaml.safe_dump(cfg, f)
        port = free_port(self.ip)
        a = self._daemon("agent-%d" % shard, [
            "prometheus", "--enable-feature=agent", "--config.file=" + path,
            "--storage.agent.path=" + os.path.join(self.workdir, "agent-%d-wal" % shard),
            "--web.listen-address=%s:%d" % (self.ip, port), "--log.level=warn"],
            "http://%s:%d/-/ready" % (self.ip, port))
        a.port = port
        self.agents.append(a)
        return a

    def start_vmagent(self, member, members, interval):
        """vmagent with deploy/fleet/vmagent.yml and the flags of compose-fleet.yml's vmagent-0,
        member `member` of `members`."""
        with open(os.path.join(FLEET_DIR, "vmagent.yml")) as f:
            cfg = yaml.safe_load(f)
        cfg["global"]["scrape_interval"] = interval
        cfg["global"]["scrape_timeout"] = interval
        (job,) = cfg["scrape_configs"]
        job["file_sd_configs"][0]["files"] = [os.path.join(self.targets_dir, "*.yml")]
        path = os.path.join(self.workdir, "vmagent-%d.yml" % member)
        with open(path, "w") as f:
            yaml.safe_dump(cfg, f)
        port = free_port(self.ip)
        args = set_flags(
            compose_command("vmagent-0"),
            promscrape__config=path,
            promscrape__cluster__membersCount=members,
            promscrape__cluster__memberNum=member,
            remoteWrite__url=self._url(self.vm_port, "/api/v1/write"),
            remoteWrite__label="agent=vmagent-%d" % member,
            remoteWrite__tmpDataPath=os.path.join(self.workdir, "vmagent-%d-data" % member),
            httpListenAddr="%s:%d" % (self.ip, port),
            promscrape__fileSDCheckInterval="5s")
        a = self._daemon("vmagent-%d" % member, ["vmagent"] + args,
                         "http://%s:%d/health" % (self.ip, port))
        a.port = port
        self.agents.append(a)
        return a

    # VictoriaMetrics
    def query(self, expr):
        q = urllib.parse.urlencode({"query": expr, "nocache": 1})
        body = http_json(self._url(self.vm_port, "/api/v1/query?" + q))
        if body.get("status") != "success":
            raise AssertionError("query %s: %s" % (expr, body))
        return body["data"]["result"]

    def vm_metrics(self):
        return http_get(self._url(self.vm_port, "/metrics")).decode()

    # Alertmanager
    def am_alerts(self, name=None):
        alerts = http_json(self._url(self.am_port, "/api/v2/alerts?active=true"))
        return [a for a in alerts if name is None or a["labels"].get("alertname") == name]

    def vmalert_alerts(self):
        return http_json(self._url(self.vmalert_port, "/api/v1/alerts"))["data"]["alerts"] or []

    def stop(self):
        for d in reversed(self.daemons):
            d.stop()


def prometheus_query(url, expr):
    body = http_json(url + "/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
    if body.get("status") != "success":
        raise AssertionError("query %s: %s" % (expr, body))
    return body["data"]["result"]


class Federation:
    """The federation recipe: one site Prometheus per site (deploy/fleet/prometheus-site.yml,
    rules from rules_file) scraping its hosts, and the global Prometheus
    (deploy/fleet/prometheus-global.yml) federating them."""

    def __init__(self, workdir, hosts_by_site, rules_file, interval="1s"):
        self.daemons = []
        self.ip = "127.77.%d.%d" % (INFRA_NET, random.randrange(1, 250))
        try:
            sites = []
            for site, hosts in hosts_by_site.items():
                with open(os.path.join(FLEET_DIR, "prometheus-site.yml")) as f:
                    cfg = yaml.safe_load(f)
                targets = os.path.join(workdir, site + "-targets")
                hosts.write_targets(targets)
                cfg["global"].update(scrape_interval=interval, evaluation_interval=interval)
                cfg["global"]["external_labels"]["site"] = site
                cfg["rule_files"] = [rules_file]
                del cfg["alerting"]
                cfg["scrape_configs"][0]["file_sd_configs"][0]["files"] = [
                    os.path.join(targets, "*.yml")]
                sites.append(self._prometheus(workdir, site, cfg))
            with open(os.path.join(FLEET_DIR, "prometheus-global.yml")) as f:
                cfg = yaml.safe_load(f)
            cfg["global"].update(scrape_interval=interval, scrape_timeout=interval)
            cfg["scrape_configs"][0]["static_configs"][0]["targets"] = sites
            self.global_url = "http://" + self._prometheus(workdir, "global", cfg)
        except BaseException:
            self.stop()
            raise

    def _prometheus(self, workdir, name, cfg):
        path = os.path.join(workdir, "prometheus-%s.yml" % name)
        with open(path, "w") as f:
            yaml.safe_dump(cfg, f)
        address = "%s:%d" % (self.ip, free_port(self.ip))
        self.daemons.append(Daemon("prometheus-" + name, [
            "prometheus", "--config.file=" + path,
            "--storage.tsdb.path=" + os.path.join(workdir, name + "-data"),
            "--web.listen-address=" + address, "--log.level=warn"], workdir,
            "http://%s/-/ready" % address))
        return address

    def query(self, expr):
        return prometheus_query(self.global_url, expr)

    def stop(self):
        for d in reversed(self.daemons):
            d.stop()


def cleanup(workdir):
    shutil.rmtree(workdir, ignore_errors=True)
