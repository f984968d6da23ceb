"""NUMA locality (docs/numa-locality.md): generated multi-node hosts and a real QEMU guest.

- Generated two- and four-node hypervisors (tests/tools/gen_fleet_fixture.py) with vCPU threads,
  vfio-pci devices in both command-line forms, and some guests whose vCPUs and devices sit on
  another node than their memory: with numa_locality (numa_detail on four nodes) every guest's
  local ratio, remote devices, vCPU nodes and device nodes are what the generator placed, and
  the series per guest stay within a stated count; without the options there are none.
- Live on this host: a real QEMU guest (TCG, -S, two vCPUs, RAM preallocated with
  memory-backend-ram host-nodes=0 policy=bind, pinned with taskset to one CPU) is reported with
  its vCPU threads' affinity and last CPU as /proc says, its memory on node 0, nothing outside
  its policy, and, on this one-node host, a local ratio of 1.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
from gen_fleet_fixture import HostSpec, generate  # noqa: E402
from pagescope_test import Exporter, parse_exposition, value  # noqa: E402

NODE_ROOT = "/sys/devices/system/node"


def series(metrics, name, **labels):
    return {tuple(sorted(dict(l).items())): v for (n, l), v in metrics.items()
            if n == name and all(dict(l).get(k) == w for k, w in labels.items())}


def numa_maps_bytes(proc_pid):
    """{node: bytes} of every mapping in <proc_pid>/numa_maps."""
    out = {}
    with open(os.path.join(proc_pid, "numa_maps")) as f:
        for line in f:
            kb = int(re.search(r"kernelpagesize_kB=(\d+)", line).group(1))
            for node, pages in re.findall(r"\bN(\d+)=(\d+)", line):
                out[int(node)] = out.get(int(node), 0) + int(pages) * kb * 1024
    return out


class GeneratedHosts(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="pagescope-locality-")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def check_host(self, name, spec):
        facts = generate(os.path.join(self.tmp, name), spec)
        with Exporter(facts["args"] + ["--collector.disable-defaults",
                                       "--collector.qemu"]) as exp:
            m = exp.metrics()
        for g in facts["guests"]:
            vm = g["name"]
            local = g["vcpu_node"] == g["node"]
            ratio = value(m, "pagescope_vm_memory_local_ratio", vm=vm)
            # The vCPUs are pinned to one node: the share of numa_maps' memory on it.
            per_node = numa_maps_bytes(os.path.join(self.tmp, name, "proc", str(g["pid"])))
            self.assertAlmostEqual(ratio, per_node.get(g["vcpu_node"], 0)
                                   / sum(per_node.values()), places=12, msg=vm)
            self.assertGreater(ratio, 0.99) if local else self.assertLess(ratio, 0.01)
            remote = value(m, "pagescope_vm_devices_remote", vm=vm)
            self.assertEqual(remote, 0 if local else spec.vfio_devices, vm)
            if spec.numa_detail:
                allowed = series(m, "pagescope_vm_vcpus_allowed", vm=vm)
                self.assertEqual({dict(k)["node"]: v for k, v in allowed.items()},
                                 {str(n): (spec.vcpus if n == g["vcpu_node"] else 0)
                                  for n in facts["nodes"]}, vm)
                last = series(m, "pagescope_vm_vcpus_last_node", vm=vm, node=str(g["vcpu_node"]))
                self.assertEqual(list(last.values()), [spec.vcpus], vm)
                devices = series(m, "pagescope_vm_device_info", vm=vm)
                self.assertEqual(sorted((dict(k)["device"], dict(k)["node"]) for k in devices),
                                 sorted((d, str(g["device_node"])) for d in g["devices"]), vm)
                self.assertEqual(value(m, "pagescope_vm_memory_unrequested_bytes", vm=vm), 0)
                self.assertEqual(value(m, "pagescope_vm_vcpus_remote", vm=vm),
                                 0 if local else spec.vcpus)
                info = series(m, "pagescope_vm_numa_info", vm=vm)
                self.assertEqual([(dict(k)["vcpu_nodes"], dict(k)["memory_nodes"],
                                   dict(k)["host_nodes"], dict(k)["policy"]) for k in info],
                                 [(str(g["vcpu_node"]), str(g["node"]), str(g["node"]),
                                   "bind")], vm)
        per_guest = {}
        for (n, l) in m:
            vm = dict(l).get("vm")
            if vm:
                per_guest[vm] = per_guest.get(vm, 0) + 1
        print("\n%s: %d guests, %d misplaced, numa_detail %s: qemu series per guest max %d"
              % (name, spec.guests, spec.misplaced, spec.numa_detail, max(per_guest.values())))
        return max(per_guest.values())

    def test_two_nodes_locality(self):
        worst = self.check_host("two", HostSpec(nodes=2, guests=10, processes=10,
                                                process_names=5, misplaced=3,
                                                numa_locality=True, seed=3))
        # numa_locality adds 2 series per guest with a passthrough device to its 8 qemu series.
        self.assertLessEqual(worst, 8 + 2)

    def test_off_by_default(self):
        facts = generate(os.path.join(self.tmp, "off"), HostSpec(
            nodes=2, guests=3, processes=3, process_names=3, misplaced=1, seed=5))
        with Exporter(facts["args"] + ["--collector.disable-defaults",
                                       "--collector.qemu"]) as exp:
            m = exp.metrics()
        self.assertEqual([n for (n, _) in m if "local_ratio" in n or "devices_remote" in n
                          or "vcpus" in n], [])

    def test_four_nodes_detail(self):
        worst = self.check_host("four", HostSpec(
            nodes=4, pools={"2MiB": [4096] * 4, "1GiB": [16] * 4}, guests=8, processes=10,
            process_names=5, misplaced=2, vfio_devices=2, vcpus=4, numa_detail=True, seed=4))
        # numa_detail: 8 + 2 default + info, unrequested, vcpus_remote + 3 per node at most
        # (vCPUs allowed, vCPUs last, memory where there is some) + one per device.
        self.assertLessEqual(worst, 8 + 2 + 3 + 3 * 4 + 2)


def vcpu_threads(pid):
    """{tid: (comm, allowed cpus text, last cpu)} of the vCPU threads, read from /proc."""
    out = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                stat = f.read()
            with open("/proc/%d/task/%s/status" % (pid, tid)) as f:
                status = f.read()
        except FileNotFoundError:
            continue
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        if not re.match(r"CPU \d+/", comm):
            continue
        allowed = re.search(r"^Cpus_allowed_list:\s*(\S+)", status, re.M).group(1)
        out[tid] = (comm, allowed, int(stat[stat.rindex(")") + 2:].split()[36]))
    return out


def cpu_nodes():
    """{cpu: node} from the real sysfs."""
    out = {}
    for d in os.listdir(NODE_ROOT):
        if re.match(r"node\d+$", d):
            with open(os.path.join(NODE_ROOT, d, "cpulist")) as f:
                text = f.read().strip()
            for part in filter(None, text.split(",")):
                a, _, b = part.partition("-")
                for c in range(int(a), int(b or a) + 1):
                    out[c] = int(d[4:])
    return out


class LiveQemu(unittest.TestCase):
    def test_guest_bound_to_node0(self):
        qemu = shutil.which("qemu-system-x86_64")
        if not qemu:
            self.skipTest("qemu-system-x86_64 is not installed (scripts/install-deps.sh)")
        if not os.path.isdir(os.path.join(NODE_ROOT, "node0")):
            self.skipTest("no NUMA node directories on this kernel")
        name = "ps-locality-" + uuid.uuid4().hex[:8]
        ram_mib = 64
        cpu = sorted(os.sched_getaffinity(0))[0]
        cmd = ["taskset", "-c", str(cpu), qemu, "-S", "-display", "none", "-nodefaults",
               "-accel", "tcg,thread=multi", "-smp", "2",
               "-name", "guest=%s,debug-threads=on" % name, "-m", "%dM" % ram_mib,
               "-object", "memory-backend-ram,id=ram0,size=%dM,host-nodes=0,policy=bind,"
               "prealloc=on" % ram_mib,
               "-numa", "node,nodeid=0,memdev=ram0"]
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             stdin=subprocess.DEVNULL)
        try:
            args = ["--collector.disable-defaults", "--collector.qemu",
                    "--collector.qemu.numa-detail"]
            with Exporter(args) as exp:
                deadline = time.time() + 60
                while True:
                    if p.poll() is not None:
                        self.fail("qemu exited: " + p.stderr.read().decode())
                    threads = vcpu_threads(p.pid)
                    m = exp.metrics()
                    node0 = value(m, "pagescope_vm_memory_node_bytes", vm=name, node="0")
                    if len(threads) == 2 and node0 and node0 >= ram_mib << 20:
                        break
                    if time.time() > deadline:
                        self.fail("guest not reported in time: %s %s" % (threads, node0))
                    time.sleep(0.5)
                nodes = cpu_nodes()
                # Affinity as /proc says, mapped to nodes as sysfs says.
                self.assertEqual({a for (_, a, _) in threads.values()}, {str(cpu)})
                want = {n: 0 for n in set(nodes.values())}
                want[nodes[cpu]] = 2
                got = {dict(k)["node"]: v for k, v in
                       series(m, "pagescope_vm_vcpus_allowed", vm=name).items()}
                self.assertEqual(got, {str(n): v for n, v in want.items()})
                last = {dict(k)["node"]: v for k, v in
                        series(m, "pagescope_vm_vcpus_last_node", vm=name).items()}
                self.assertEqual(sum(last.values()), 2)
                self.assertEqual(last[str(nodes[cpu])], 2)
                # The backend's mbind shows in numa_maps as bind:0: nothing outside it.
                self.assertEqual(value(m, "pagescope_vm_memory_unrequested_bytes", vm=name), 0)
                info = series(m, "pagescope_vm_numa_info", vm=name)
                self.assertEqual([(dict(k)["host_nodes"], dict(k)["policy"]) for k in info],
                                 [("0", "bind")])
                if len(set(nodes.values())) == 1:
                    # One node: everything is local.
                    self.assertEqual(value(m, "pagescope_vm_memory_local_ratio", vm=name), 1.0)
                    self.assertEqual(value(m, "pagescope_vm_vcpus_remote", vm=name), 0)
                print("\nlive guest %s: vCPUs on CPU %d, node0 %d bytes, ratio %s"
                      % (name, cpu, node0, value(m, "pagescope_vm_memory_local_ratio", vm=name)))
        finally:
            p.kill()
            p.wait()


if __name__ == "__main__":
    unittest.main()
