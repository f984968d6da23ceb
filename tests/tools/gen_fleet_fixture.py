#!/usr/bin/env python3
"""Generates a fake host for pagescope: a fixture root with proc/, sys/ and root/ trees, as the
hand-written cases under tests/fixtures/ are laid out, for a host described by a HostSpec.

Point the binary at it with the three path flags and the generated configuration:

    pagescope --path.procfs=ROOT/proc --path.sysfs=ROOT/sys --path.rootfs=ROOT/root \\
              --config.file=ROOT/pagescope.yml

Importable (the budget test and the fleet harness use it):

    from gen_fleet_fixture import HostSpec, generate, set_free_pages
    facts = generate("/tmp/host1", HostSpec(nodes=2, guests=50, processes=500, seed=1))
    set_free_pages("/tmp/host1", "2MiB", node=0, free=0)   # exhaust a pool later

or from the command line (`gen_fleet_fixture.py ROOT --nodes 2 --guests 50 ...`, `--help`;
`gen_fleet_fixture.py ROOT --set-free-pages 2MiB:0:0` changes an existing host).

Everything is deterministic for a given HostSpec (seed included). `generate` returns a dict of
facts about what it wrote (pools per node and size, guests and their placement, process names,
cgroup paths) so a test can compute the values it expects from the exporter.

What is written:
- NUMA nodes 0..nodes-1: sys/devices/system/node/nodeN/{meminfo,numastat,distance,cpulist},
  hugepage pools per node and size (pool and free pages; free is the pool minus what the guests
  placed on that node use, unless `free_pages` says otherwise), /proc/buddyinfo, pagetypeinfo
  and zoneinfo (DMA, DMA32 on node 0, Normal everywhere).
- Kernel-wide files: /proc/{meminfo,vmstat,pressure/memory,swaps,cmdline,sys/vm/*}, THP (the
  PMD size inherits `enabled`, the other mTHP sizes are `never`), KSM, zswap, hugetlbfs mounts
  in /proc/1/mountinfo, sysctl files under root/etc.
- QEMU guests: /proc/<pid>/{cmdline,stat,status,numa_maps,ksm_stat,mountinfo} with libvirt's
  memory-backend-file on hugetlbfs, one NUMA cell per guest (page sizes and nodes round robin),
  task/<tid>/{stat,status} for the main thread and `vcpus` vCPU threads pinned to the CPUs of
  the guest's node, and `vfio_devices` -device vfio-pci per guest (plain and JSON forms) with
  sys/bus/pci/devices/<addr>/numa_node; the first `misplaced` guests have their vCPUs and
  devices on the next node (facts: vcpu_node, device_node, devices per guest).
- Processes: `processes` processes under `process_names` distinct comm values.
- cgroup v2 under sys/fs/cgroup: machine.slice/machine-qemu\\x2d<N>\\x2d<name>.scope per guest
  (with a libvirt/ child as libvirt makes), system.slice/<service>.service, optionally
  kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<id>.slice, each pod with one
  cri-containerd-<id>.scope container, as kubelet makes them: kubepods.slice limited to the
  node's memory, the pods without memory.max and every hugepage size limited to 0 (requested by
  none); every cgroup has
  hugetlb.<size>.{current,max,events,events.local,numa_stat,rsvd.current,rsvd.max} and
  memory.{current,max,high,low,min,swap.current,swap.max,events,events.local,pressure,stat}.
"""

import argparse
import dataclasses
import json
import os
import random
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TEMPLATE = os.path.join(HERE, "..", "fixtures", "two_nodes")

SIZES = {"64KiB": 64 << 10, "2MiB": 2 << 20, "32MiB": 32 << 20, "512MiB": 512 << 20,
         "1GiB": 1 << 30, "16GiB": 16 << 30}
MTHP_KB = [16, 32, 64, 128, 256, 512, 1024, 2048]


@dataclasses.dataclass
class HostSpec:
    """A host. Sizes are Prometheus `page_size` labels ("2MiB", "1GiB")."""
    nodes: int = 2
    # Hugepage pool per page size: pages per node (a list of `nodes` numbers).
    pools: dict = dataclasses.field(default_factory=lambda: {"2MiB": [8192, 8192],
                                                             "1GiB": [64, 64]})
    # Free pages per size and node; None: the pool minus what the guests use on the node.
    free_pages: dict = None
    # Reserved pages per size (resv_hugepages, not node-specific).
    reserved_pages: dict = dataclasses.field(default_factory=dict)
    memory_per_node_gib: int = 256
    guests: int = 50
    guest_memory_mib: int = 2048   # each guest's RAM (one NUMA cell, one page size)
    processes: int = 500           # besides the guests
    process_names: int = 100       # distinct comm values among them
    services: int = 20             # system.slice units
    kubepods: int = 0              # pod cgroups under kubepods.slice (0: no kubepods.slice)
    # Flavors for the qemu collector's capacity, as in pagescope.yml (list of dicts).
    flavors: list = dataclasses.field(default_factory=lambda: [
        {"name": "m1.large", "memory": "4GiB", "page_size": "2MiB"},
        {"name": "g1.huge", "memory": "8GiB", "page_size": "1GiB"},
        {"name": "m1.numa2", "memory": "8GiB", "page_size": "large", "numa_nodes": 2},
    ])
    # Per guest: vCPU threads ("CPU n/KVM", debug-threads=on as libvirt runs QEMU) pinned to the
    # CPUs of the guest's node, and passthrough devices (-device vfio-pci, libvirt's JSON form)
    # whose sys/bus/pci/devices/<addr>/numa_node is the guest's node.
    vcpus: int = 2
    vfio_devices: int = 1
    # The first `misplaced` guests have their vCPUs and devices on the next node instead of
    # the node of their memory (needs nodes >= 2).
    misplaced: int = 0
    numa_locality: bool = False    # the qemu collector's numa_locality option
    numa_detail: bool = False      # the qemu collector's numa_detail option
    seed: int = 0

    def validate(self):
        if self.nodes < 1:
            raise ValueError("nodes must be at least 1")
        for size, per_node in self.pools.items():
            if size not in SIZES:
                raise ValueError("unknown page size %r (one of %s)" % (size, ", ".join(SIZES)))
            if len(per_node) != self.nodes:
                raise ValueError("pools[%r] needs one number per node (%d)" % (size, self.nodes))
        if self.misplaced > self.guests or (self.misplaced and self.nodes < 2):
            raise ValueError("misplaced needs that many guests and at least two nodes")
        if self.process_names > max(self.processes, 1):
            raise ValueError("process_names cannot exceed processes")


def _w(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def _kb(size):
    return SIZES[size] >> 10


def _short(size):
    """Cgroup hugetlb file size name (2MB, 1GB, 64KB)."""
    b = SIZES[size]
    for unit, n in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if b >= n and b % n == 0:
            return "%d%s" % (b // n, unit)
    raise ValueError(size)


def _escape_unit(name):
    return name.replace("-", "\\x2d")


def _stat_line(pid, comm, minflt, majflt, rss_pages, starttime, flags=4194560):
    return ("%d (%s) S 1 %d %d 0 -1 %d %d 0 %d 0 10 5 0 0 20 0 1 0 %d 100000000 %d "
            "18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 0 0 0 0 0 0\n"
            % (pid, comm, pid, pid, flags, minflt, majflt, starttime, rss_pages))


def _status(comm, rss_kb, swap_kb, hugetlb_kb):
    return ("Name:\t%s\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t1\nVmPeak:\t  %d kB\n"
            "VmRSS:\t  %d kB\nRssAnon:\t  %d kB\nVmSwap:\t  %d kB\nHugetlbPages:\t  %d kB\n"
            % (comm, rss_kb * 2, rss_kb, rss_kb // 2, swap_kb, hugetlb_kb))


def _task(d, pid, tid, comm, cpus, last_cpu):
    """proc/<pid>/task/<tid>/{stat,status}: the thread's comm, affinity and last CPU (39)."""
    t = os.path.join(d, "task", str(tid))
    line = _stat_line(tid, comm, 10, 0, 0, 5000).split(" ")
    # proc(5) field 39 (processor) is index 38 once the comm is one token.
    comm_tokens = len(comm.split(" ")) - 1
    line[38 + comm_tokens] = str(last_cpu)
    _w(os.path.join(t, "stat"), " ".join(line))
    _w(os.path.join(t, "status"), "Name:\t%s\nTgid:\t%d\nPid:\t%d\nCpus_allowed_list:\t%s\n"
       "Mems_allowed_list:\t0\n" % (comm, pid, tid, cpus))


def _guest_placement(spec):
    """[(name, node, size)] for each guest: page sizes and nodes round robin."""
    sizes = sorted(spec.pools, key=lambda s: SIZES[s])
    out = []
    for i in range(spec.guests):
        size = sizes[i % len(sizes)] if sizes else None
        node = (i // max(len(sizes), 1)) % spec.nodes
        out.append(("instance-%08x" % (i + 1), node, size))
    return out


def generate(root, spec):
    """Writes the host under `root` (created; an existing tree there is replaced) and returns
    its facts (a dict, also written to root/facts.json)."""
    spec.validate()
    rng = random.Random(spec.seed)
    if os.path.exists(root):
        shutil.rmtree(root)
    proc, sys_, rootfs = (os.path.join(root, d) for d in ("proc", "sys", "root"))
    node_ids = list(range(spec.nodes))
    guests = _guest_placement(spec)

    # Hugepage use per (size, node) by the guests.
    used = {(s, n): 0 for s in spec.pools for n in node_ids}
    for _, node, size in guests:
        if size:
            used[(size, node)] += -(-(spec.guest_memory_mib << 20) // SIZES[size])
    free = {}
    for size, per_node in spec.pools.items():
        for n in node_ids:
            given = (spec.free_pages or {}).get(size)
            free[(size, n)] = given[n] if given else max(per_node[n] - used[(size, n)], 0)

    _write_hugepages(sys_, spec, node_ids, free)
    _write_nodes(proc, sys_, spec, node_ids, free, rng)
    _write_kernel_wide(proc, sys_, rootfs, spec, rng)
    pids = _write_processes(proc, spec, guests, rng)
    cgroups = _write_cgroups(sys_, spec, guests, node_ids, rng)
    config = _write_config(root, spec)

    facts = {
        "nodes": node_ids,
        "pools": {s: {str(n): {"pool": spec.pools[s][n], "free": free[(s, n)]} for n in node_ids}
                  for s in spec.pools},
        "reserved": {s: spec.reserved_pages.get(s, 0) for s in spec.pools},
        "guests": [dict({"name": g, "node": n, "page_size": s, "pid": pids["guests"][i],
                         "memory_bytes": spec.guest_memory_mib << 20},
                        **pids["placement"][i])
                   for i, (g, n, s) in enumerate(guests)],
        "process_names": pids["names"],
        "cgroups": cgroups,
        "config": config,
        "args": fixture_args(root),
    }
    _w(os.path.join(root, "facts.json"), json.dumps(facts, indent=1, sort_keys=True) + "\n")
    return facts


def fixture_args(root):
    """The command-line arguments that point pagescope at the generated host."""
    return ["--path.procfs=" + os.path.join(root, "proc"),
            "--path.sysfs=" + os.path.join(root, "sys"),
            "--path.rootfs=" + os.path.join(root, "root"),
            "--config.file=" + os.path.join(root, "pagescope.yml")]


def set_free_pages(root, page_size, node, free):
    """Changes one node's free pages of one size (and the size's total) in a generated host,
    e.g. to exhaust a pool while an exporter is running on it."""
    sys_ = os.path.join(root, "sys")
    kb = _kb(page_size)
    _w(os.path.join(sys_, "devices/system/node/node%d/hugepages/hugepages-%dkB/free_hugepages"
                    % (node, kb)), "%d\n" % free)
    total = 0
    nodes_dir = os.path.join(sys_, "devices/system/node")
    for d in sorted(os.listdir(nodes_dir)):
        f = os.path.join(nodes_dir, d, "hugepages/hugepages-%dkB/free_hugepages" % kb)
        if d.startswith("node") and os.path.exists(f):
            with open(f) as fh:
                total += int(fh.read())
    _w(os.path.join(sys_, "kernel/mm/hugepages/hugepages-%dkB/free_hugepages" % kb),
       "%d\n" % total)


def _write_hugepages(sys_, spec, node_ids, free):
    for size, per_node in spec.pools.items():
        d = os.path.join(sys_, "kernel/mm/hugepages/hugepages-%dkB" % _kb(size))
        total = sum(per_node)
        for name, value in (("nr_hugepages", total), ("nr_hugepages_mempolicy", total),
                            ("free_hugepages", sum(free[(size, n)] for n in node_ids)),
                            ("resv_hugepages", spec.reserved_pages.get(size, 0)),
                            ("surplus_hugepages", 0), ("nr_overcommit_hugepages", 0)):
            _w(os.path.join(d, name), "%d\n" % value)
        for n in node_ids:
            nd = os.path.join(sys_, "devices/system/node/node%d/hugepages/hugepages-%dkB"
                              % (n, _kb(size)))
            _w(os.path.join(nd, "nr_hugepages"), "%d\n" % per_node[n])
            _w(os.path.join(nd, "free_hugepages"), "%d\n" % free[(size, n)])
            _w(os.path.join(nd, "surplus_hugepages"), "0\n")


def _zones(node):
    return ["DMA", "DMA32", "Normal"] if node == 0 else ["Normal"]


def _write_nodes(proc, sys_, spec, node_ids, free, rng):
    base = os.path.join(sys_, "devices/system/node")
    span = "0-%d" % (spec.nodes - 1) if spec.nodes > 1 else "0"
    for f in ("possible", "online", "has_memory", "has_cpu", "has_normal_memory"):
        _w(os.path.join(base, f), span + "\n")
    total_kb = spec.memory_per_node_gib << 20
    buddy, pti, zoneinfo = [], [], []
    for n in node_ids:
        hugetlb_kb = sum(spec.pools[s][n] * _kb(s) for s in spec.pools)
        free_kb = max(total_kb - hugetlb_kb - rng.randint(1 << 20, 8 << 20), 0) // 2
        default = "2MiB" if "2MiB" in spec.pools else None
        lines = [("MemTotal", total_kb), ("MemFree", free_kb), ("MemUsed", total_kb - free_kb),
                 ("Active", rng.randint(1 << 20, 4 << 20)),
                 ("Inactive", rng.randint(1 << 20, 4 << 20)),
                 ("FilePages", rng.randint(1 << 20, 8 << 20)),
                 ("AnonPages", rng.randint(1 << 20, 8 << 20)),
                 ("Shmem", 65536), ("PageTables", 65536), ("AnonHugePages", 0),
                 ("ShmemHugePages", 0), ("FileHugePages", 0)]
        text = "".join("Node %d %s: %15d kB\n" % (n, k, v) for k, v in lines)
        if default:
            text += "Node %d HugePages_Total: %5d\nNode %d HugePages_Free: %5d\n" \
                    "Node %d HugePages_Surp: %5d\n" % (n, spec.pools[default][n], n,
                                                       free[(default, n)], n, 0)
        nd = os.path.join(base, "node%d" % n)
        _w(os.path.join(nd, "meminfo"), text)
        _w(os.path.join(nd, "numastat"),
           "numa_hit %d\nnuma_miss %d\nnuma_foreign %d\ninterleave_hit %d\nlocal_node %d\n"
           "other_node %d\n" % (rng.randint(10**9, 10**10), rng.randint(0, 10**5),
                                rng.randint(0, 10**5), rng.randint(0, 10**4),
                                rng.randint(10**9, 10**10), rng.randint(0, 10**5)))
        _w(os.path.join(nd, "distance"),
           " ".join("10" if m == n else "21" for m in node_ids) + "\n")
        _w(os.path.join(nd, "cpulist"), "%d-%d\n" % (n * 16, n * 16 + 15))
        for zone in _zones(n):
            # Free blocks per order, within what the zone holds.
            low, top = {"DMA": (1, 1), "DMA32": (20, 150)}.get(zone, (5000, 5000))
            counts = [rng.randint(0, low) for _ in range(10)] + [rng.randint(0, top)]
            buddy.append("Node %d, zone %8s " % (n, zone) + "".join("%7d" % c for c in counts)
                         + " \n")
            for t in ("Unmovable", "Movable", "Reclaimable", "HighAtomic", "Isolate"):
                share = counts if t == "Movable" else [c // 10 for c in counts]
                if t in ("HighAtomic", "Isolate"):
                    share = [0] * 11
                pti.append("Node %4d, zone %8s, type %12s " % (n, zone, t)
                           + "".join("%7d" % c for c in share) + " \n")
            present = {"DMA": 3998, "DMA32": 1 << 18}.get(zone, total_kb // 4)
            zone_free = sum(c << k for k, c in enumerate(counts))
            text = "Node %d, zone %8s\n" % (n, zone)
            if zone == _zones(n)[0]:  # the node's stats come with its first zone
                text += "  per-node stats\n" + "".join(
                    "      %s %d\n" % (k, rng.randint(0, 10**6)) for k in (
                        "nr_inactive_anon", "nr_active_anon", "nr_inactive_file",
                        "nr_active_file", "nr_unevictable", "nr_slab_reclaimable",
                        "nr_slab_unreclaimable", "workingset_refault_anon",
                        "workingset_refault_file", "nr_anon_pages", "nr_file_pages",
                        "nr_dirty", "nr_writeback", "nr_shmem", "nr_anon_transparent_hugepages"))
            text += ("  pages free     %d\n        boost    0\n        min      %d\n"
                     "        low      %d\n        high     %d\n        promo    %d\n"
                     "        spanned  %d\n        present  %d\n        managed  %d\n"
                     "        cma      0\n        protection: (0, 0, 0, 0, 0)\n"
                     "      nr_free_pages %d\n      nr_zone_inactive_anon 0\n"
                     "      nr_zone_active_anon 0\n      nr_zone_inactive_file 0\n"
                     "      nr_zone_active_file 0\n      nr_zone_unevictable 0\n"
                     "      nr_zone_write_pending 0\n      nr_mlock     0\n"
                     "  pagesets\n    cpu: 0\n              count:    0\n"
                     "              high:     0\n              batch:    1\n"
                     "  vm stats threshold: 4\n  node_unreclaimable:  0\n"
                     "  start_pfn:           %d\n"
                     % (zone_free, 8000, 10000, 12000, 14000, present, present,
                        present - 1000, zone_free, 1 if zone == "DMA" else 4096))
            zoneinfo.append(text)
    _w(os.path.join(proc, "buddyinfo"), "".join(buddy))
    _w(os.path.join(proc, "pagetypeinfo"),
       "Page block order: 9\nPages per block:  512\n\nFree pages count per migrate type at "
       "order       0      1      2      3      4      5      6      7      8      9     10 \n"
       + "".join(pti) + "\n")
    _w(os.path.join(proc, "zoneinfo"), "".join(zoneinfo))


def _write_kernel_wide(proc, sys_, rootfs, spec, rng):
    total_kb = (spec.memory_per_node_gib << 20) * spec.nodes
    hugetlb_kb = sum(sum(p) * _kb(s) for s, p in spec.pools.items())
    free_kb = (total_kb - hugetlb_kb) // 2
    default = "2MiB" if "2MiB" in spec.pools else next(iter(spec.pools), None)
    mem = [("MemTotal", total_kb), ("MemFree", free_kb), ("MemAvailable", free_kb + (1 << 22)),
           ("Buffers", 1 << 18), ("Cached", 1 << 22), ("SwapCached", 0), ("AnonPages", 1 << 22),
           ("Shmem", 1 << 17), ("PageTables", 1 << 16), ("SecPageTables", 1 << 14),
           ("SwapTotal", 8 << 20), ("SwapFree", 8 << 20), ("Zswap", 0), ("Zswapped", 0),
           ("CommitLimit", total_kb // 2), ("Committed_AS", total_kb // 4),
           ("AnonHugePages", 1 << 20), ("ShmemHugePages", 0), ("ShmemPmdMapped", 0),
           ("FileHugePages", 0), ("FilePmdMapped", 0)]
    text = "".join("%-16s%10d kB\n" % (k + ":", v) for k, v in mem)
    if default:
        text += ("HugePages_Total: %6d\nHugePages_Free:  %6d\nHugePages_Rsvd:  %6d\n"
                 "HugePages_Surp:  %6d\nHugepagesize:   %8d kB\n"
                 % (sum(spec.pools[default]), 0, 0, 0, _kb(default)))
    text += "Hugetlb:        %10d kB\n" % hugetlb_kb
    _w(os.path.join(proc, "meminfo"), text)
    with open(os.path.join(TEMPLATE, "proc", "vmstat")) as f:
        vm = []
        for line in f:
            k, _, v = line.partition(" ")
            vm.append("%s %d\n" % (k, int(v) + rng.randint(0, 1000)))
    _w(os.path.join(proc, "vmstat"), "".join(vm))
    _w(os.path.join(proc, "pressure/memory"),
       "some avg10=0.00 avg60=0.01 avg300=0.00 total=%d\n"
       "full avg10=0.00 avg60=0.00 avg300=0.00 total=%d\n"
       % (rng.randint(10**6, 10**8), rng.randint(10**5, 10**7)))
    _w(os.path.join(proc, "swaps"), "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"
       "/dev/nvme0n1p3                          partition\t8388604\t\t0\t\t-2\n")
    cmd = "BOOT_IMAGE=/boot/vmlinuz root=UUID=0a1b ro quiet"
    for size, per_node in spec.pools.items():
        cmd += " hugepagesz=%s hugepages=%d" % (size.replace("iB", ""), sum(per_node))
    _w(os.path.join(proc, "cmdline"), cmd + "\n")
    for name, value in (("overcommit_memory", 0), ("swappiness", 10), ("hugetlb_shm_group", 0)):
        _w(os.path.join(proc, "sys/vm", name), "%d\n" % value)
    _w(os.path.join(rootfs, "etc/sysctl.d/80-hugepages.conf"),
       "vm.nr_hugepages = %d\n" % (sum(spec.pools[default]) if default else 0))
    _w(os.path.join(rootfs, "etc/sysctl.conf"), "# generated\n")
    mounts = ["21 1 253:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw\n",
              "25 21 0:25 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 "
              "cgroup2 rw,nsdelegate,memory_recursiveprot\n"]
    for i, size in enumerate(sorted(spec.pools, key=lambda s: SIZES[s])):
        where = "/dev/hugepages" if size == default else "/dev/hugepages-%s" % size
        mounts.append("%d 21 0:%d / %s rw,relatime shared:%d - hugetlbfs hugetlbfs "
                      "rw,pagesize=%dk\n" % (40 + i, 40 + i, where, 15 + i, _kb(size)))
    _w(os.path.join(proc, "1/mountinfo"), "".join(mounts))
    _w(os.path.join(proc, "1/stat"), _stat_line(1, "systemd", 50000, 100, 3000, 1))
    _w(os.path.join(proc, "1/status"), _status("systemd", 12000, 0, 0))
    _w(os.path.join(proc, "1/cmdline"), "/sbin/init\0")
    # THP: the PMD size inherits the global policy, the others are never (the kernel default).
    thp = os.path.join(sys_, "kernel/mm/transparent_hugepage")
    _w(os.path.join(thp, "enabled"), "always [madvise] never\n")
    _w(os.path.join(thp, "defrag"), "always defer defer+madvise [madvise] never\n")
    _w(os.path.join(thp, "shmem_enabled"), "always within_size advise [never] deny force\n")
    _w(os.path.join(thp, "use_zero_page"), "1\n")
    _w(os.path.join(thp, "hpage_pmd_size"), "2097152\n")
    _w(os.path.join(thp, "shrink_underused"), "1\n")
    kh_src = os.path.join(TEMPLATE, "sys/kernel/mm/transparent_hugepage/khugepaged")
    shutil.copytree(kh_src, os.path.join(thp, "khugepaged"))
    stats = sorted(os.listdir(os.path.join(
        TEMPLATE, "sys/kernel/mm/transparent_hugepage/hugepages-2048kB/stats")))
    for kb in MTHP_KB:
        d = os.path.join(thp, "hugepages-%dkB" % kb)
        pmd = kb == 2048
        _w(os.path.join(d, "enabled"), "always [inherit] madvise never\n" if pmd
           else "always inherit madvise [never]\n")
        _w(os.path.join(d, "shmem_enabled"), "always [inherit] within_size advise never\n"
           if pmd else "always inherit within_size advise [never]\n")
        for s in stats:
            _w(os.path.join(d, "stats", s), "%d\n" % (rng.randint(1, 10**5) if pmd else 0))
    shutil.copytree(os.path.join(TEMPLATE, "sys/kernel/mm/ksm"),
                    os.path.join(sys_, "kernel/mm/ksm"))
    shutil.copytree(os.path.join(TEMPLATE, "sys/module/zswap"), os.path.join(sys_, "module/zswap"))


def _write_processes(proc, spec, guests, rng):
    pid = 1000
    out = {"guests": [], "names": [], "placement": []}
    sizes = sorted(spec.pools, key=lambda s: SIZES[s])
    default = "2MiB" if "2MiB" in spec.pools else (sizes[0] if sizes else None)
    for i, (name, node, size) in enumerate(guests):
        pid += 1
        out["guests"].append(pid)
        d = os.path.join(proc, str(pid))
        mem = spec.guest_memory_mib << 20
        where = "/dev/hugepages" if size == default else "/dev/hugepages-%s" % size
        backend = {"qom-type": "memory-backend-file", "id": "ram-node0",
                   "mem-path": "%s/libvirt/qemu/%d-%s" % (where, i + 1, name), "share": True,
                   "prealloc": True, "size": mem, "host-nodes": [node], "policy": "bind"}
        args = ["/usr/bin/qemu-system-x86_64", "-name", "guest=%s,debug-threads=on" % name,
                "-S", "-machine", "pc-q35-7.2,usb=off", "-m", str(spec.guest_memory_mib),
                "-object", json.dumps(backend, separators=(",", ":")),
                "-numa", "node,nodeid=0,cpus=0-1,memdev=ram-node0",
                "-uuid", "%08x-0000-4000-8000-%012x" % (i + 1, spec.seed), "-display", "none"]
        # vCPU threads and devices: on the guest's node, or the next one when misplaced.
        place = (node + 1) % spec.nodes if i < spec.misplaced else node
        devices = []
        for k in range(spec.vfio_devices):
            addr = "0000:%02x:%02x.%d" % (0x10 + i // 32, i % 32, k % 8)
            devices.append(addr)
            _w(os.path.join(os.path.dirname(proc), "sys", "bus", "pci", "devices", addr,
                            "numa_node"), "%d\n" % place)
            if k % 2:   # libvirt's JSON form and the plain one
                args += ["-device", json.dumps({"driver": "vfio-pci", "host": addr,
                                                "id": "hostdev%d" % k}, separators=(",", ":"))]
            else:
                args += ["-device", "vfio-pci,host=%s,id=hostdev%d" % (addr[5:], k)]
        cpus = "%d-%d" % (place * 16, place * 16 + 15)
        _task(d, pid, pid, "qemu-system-x86", "0-%d" % (spec.nodes * 16 - 1), place * 16)
        for v in range(spec.vcpus):
            _task(d, pid, pid + 100000 + v * 1000, "CPU %d/KVM" % v, cpus, place * 16 + v)
        out["placement"].append({"vcpu_node": place, "device_node": place,
                                                "devices": devices})
        _w(os.path.join(d, "cmdline"), "\0".join(args) + "\0")
        _w(os.path.join(d, "stat"), _stat_line(pid, "qemu-system-x86", rng.randint(10**4, 10**6),
                                               rng.randint(0, 100), 8000, 5000 + i))
        hugetlb_kb = (mem >> 10) if size else 0
        _w(os.path.join(d, "status"), _status("qemu-system-x86", 32000, 0, hugetlb_kb))
        numa = "55d0c0a00000 default file=/usr/bin/qemu-system-x86_64 mapped=200 N0=200 " \
               "kernelpagesize_kB=4\n"
        if size:
            pages = mem // SIZES[size]
            numa += ("7f0000000000 bind:%d file=%s/libvirt/qemu/%d-%s/qemu_back_mem.ram-node0."
                     "XXXX\\040(deleted) huge dirty=%d N%d=%d kernelpagesize_kB=%d\n"
                     % (node, where, i + 1, name, pages, node, pages, _kb(size)))
        numa += "7f2000000000 default anon=300 dirty=300 N%d=300 kernelpagesize_kB=4\n" % node
        _w(os.path.join(d, "numa_maps"), numa)
        _w(os.path.join(d, "ksm_stat"), "ksm_rmap_items 0\nksm_zero_pages 0\n"
           "ksm_merging_pages 0\nksm_process_profit 0\nksm_merge_any: no\nksm_mergeable: no\n")
        with open(os.path.join(proc, "1/mountinfo")) as f:
            _w(os.path.join(d, "mountinfo"), f.read())
    names = ["svc%03d-%s" % (k, rng.choice(["worker", "agent", "db", "cache", "web", "cron"]))[:15]
             for k in range(spec.process_names)]
    out["names"] = names
    for k in range(spec.processes):
        pid += 1
        name = names[k % len(names)] if names else "proc"
        d = os.path.join(proc, str(pid))
        rss = rng.randint(100, 100000)
        _w(os.path.join(d, "stat"), _stat_line(pid, name, rng.randint(100, 10**6),
                                               rng.randint(0, 100), rss, 10000 + k))
        _w(os.path.join(d, "status"), _status(name, rss * 4, 0, 0))
        _w(os.path.join(d, "cmdline"), "/usr/bin/%s\0--serve\0" % name)
        _w(os.path.join(d, "ksm_stat"), "ksm_rmap_items 0\nksm_zero_pages 0\n"
           "ksm_merging_pages 0\nksm_process_profit 0\n")
    return out


def _write_cgroup(path, spec, node_ids, rng, hugetlb=None, memory_current=None,
                  hugetlb_limit="max", memory_max="max"):
    """hugetlb: {size: bytes used}; node of use = first node unless given as (bytes, node)."""
    hugetlb = hugetlb or {}
    for size in spec.pools:
        short = _short(size)
        used, node = hugetlb.get(size, (0, node_ids[0]))
        _w(os.path.join(path, "hugetlb.%s.current" % short), "%d\n" % used)
        _w(os.path.join(path, "hugetlb.%s.max" % short), "%s\n" % hugetlb_limit)
        _w(os.path.join(path, "hugetlb.%s.events" % short), "max 0\n")
        _w(os.path.join(path, "hugetlb.%s.events.local" % short), "max 0\n")
        _w(os.path.join(path, "hugetlb.%s.rsvd.current" % short), "%d\n" % used)
        _w(os.path.join(path, "hugetlb.%s.rsvd.max" % short), "%s\n" % hugetlb_limit)
        _w(os.path.join(path, "hugetlb.%s.numa_stat" % short),
           "total=%d %s\n" % (used, " ".join("N%d=%d" % (n, used if n == node else 0)
                                              for n in node_ids)))
    cur = memory_current if memory_current is not None else rng.randint(10 << 20, 4 << 30)
    for name, value in (("memory.current", cur), ("memory.max", memory_max), ("memory.high", "max"),
                        ("memory.low", 0), ("memory.min", 0), ("memory.swap.current", 0),
                        ("memory.swap.max", "max")):
        _w(os.path.join(path, name), "%s\n" % value)
    events = "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\n"
    _w(os.path.join(path, "memory.events"), events)
    _w(os.path.join(path, "memory.events.local"), events)
    _w(os.path.join(path, "memory.pressure"),
       "some avg10=0.00 avg60=0.00 avg300=0.00 total=%d\n"
       "full avg10=0.00 avg60=0.00 avg300=0.00 total=%d\n"
       % (rng.randint(0, 10**6), rng.randint(0, 10**5)))
    stat = ["anon %d" % (cur // 2), "file %d" % (cur // 4), "kernel %d" % (cur // 16),
            "kernel_stack 16384", "pagetables 65536", "sec_pagetables 0", "sock 0", "shmem 0",
            "file_mapped %d" % (cur // 8), "file_dirty 0", "file_writeback 0", "swapcached 0",
            "anon_thp 0", "file_thp 0", "shmem_thp 0", "inactive_anon %d" % (cur // 4),
            "active_anon %d" % (cur // 4), "inactive_file %d" % (cur // 8),
            "active_file %d" % (cur // 8), "unevictable 0", "slab_reclaimable 4096",
            "slab_unreclaimable 4096", "slab 8192", "workingset_refault_anon 0",
            "workingset_refault_file %d" % rng.randint(0, 1000), "workingset_activate_anon 0",
            "workingset_activate_file 0", "workingset_restore_anon 0",
            "workingset_restore_file 0", "workingset_nodereclaim 0",
            "pgscan %d" % rng.randint(0, 10**5), "pgsteal %d" % rng.randint(0, 10**5),
            "pgscan_kswapd 0", "pgscan_direct 0", "pgsteal_kswapd 0", "pgsteal_direct 0",
            "pgfault %d" % rng.randint(10**4, 10**7), "pgmajfault %d" % rng.randint(0, 1000),
            "pgrefill 0", "pgactivate 0", "pgdeactivate 0", "pglazyfree 0", "pglazyfreed 0",
            "thp_fault_alloc 0", "thp_collapse_alloc 0"]
    _w(os.path.join(path, "memory.stat"), "\n".join(stat) + "\n")


def _write_cgroups(sys_, spec, guests, node_ids, rng):
    base = os.path.join(sys_, "fs/cgroup")
    _w(os.path.join(base, "cgroup.controllers"), "cpuset cpu io memory hugetlb pids\n")
    _w(os.path.join(base, "cgroup.subtree_control"), "cpu io memory hugetlb pids\n")
    out = {"machine": [], "system": [], "kubepods": []}
    machine = os.path.join(base, "machine.slice")
    total = {}
    for i, (name, node, size) in enumerate(guests):
        scope = "machine-qemu%s.scope" % _escape_unit("-%d-%s" % (i + 1, name))
        mem = spec.guest_memory_mib << 20
        h = {size: (mem, node)} if size else {}
        if size:
            total[size] = total.get(size, 0) + mem
        _write_cgroup(os.path.join(machine, scope), spec, node_ids, rng, h, mem + (64 << 20))
        _write_cgroup(os.path.join(machine, scope, "libvirt"), spec, node_ids, rng, h, mem)
        out["machine"].append("machine.slice/" + scope)
    _write_cgroup(machine, spec, node_ids, rng, {s: (b, node_ids[0]) for s, b in total.items()})
    system = os.path.join(base, "system.slice")
    _write_cgroup(system, spec, node_ids, rng)
    for k in range(spec.services):
        unit = "service%02d.service" % k
        _write_cgroup(os.path.join(system, unit), spec, node_ids, rng)
        out["system"].append("system.slice/" + unit)
    if spec.kubepods:
        kp = os.path.join(base, "kubepods.slice")
        _write_cgroup(kp, spec, node_ids, rng, memory_max=spec.memory_per_node_gib << 30)
        burst = os.path.join(kp, "kubepods-burstable.slice")
        _write_cgroup(burst, spec, node_ids, rng)
        for k in range(spec.kubepods):
            pod = "kubepods-burstable-pod%08x.slice" % rng.getrandbits(32)
            container = "cri-containerd-%016x.scope" % rng.getrandbits(64)
            cur = rng.randint(10 << 20, 1 << 30)
            _write_cgroup(os.path.join(burst, pod), spec, node_ids, rng, memory_current=cur,
                          hugetlb_limit=0)
            _write_cgroup(os.path.join(burst, pod, container), spec, node_ids, rng,
                          memory_current=cur - (1 << 20), hugetlb_limit=0)
            out["kubepods"].append("kubepods.slice/kubepods-burstable.slice/" + pod)
    return out


def _write_config(root, spec):
    path = os.path.join(root, "pagescope.yml")
    # The hugetlbfs mounts get no statfs results (a fixture tree cannot hold hugetlbfs mounts):
    # one info series each.
    lines = ["# generated by gen_fleet_fixture.py", "collectors:"]
    if spec.flavors or spec.numa_detail or spec.numa_locality:
        lines.append("  qemu:")
    if spec.numa_locality:
        lines.append("    numa_locality: true")
    if spec.numa_detail:
        lines.append("    numa_detail: true")
    if spec.flavors:
        lines += ["    flavors:"]
        for f in spec.flavors:
            lines.append("      - " + json.dumps(f))
    if len(lines) == 2:
        lines[1] = "collectors: {}"
    _w(path, "\n".join(lines) + "\n")
    return path


def _parse_pools(text, nodes):
    """"2MiB=8192,1GiB=64" (pages per node, the same on every node) or
    "2MiB=8192:4096" (per node)."""
    out = {}
    for part in filter(None, text.split(",")):
        size, _, pages = part.partition("=")
        per = [int(p) for p in pages.split(":")]
        out[size] = per * nodes if len(per) == 1 else per
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("root")
    ap.add_argument("--nodes", type=int, default=2)
    ap.add_argument("--pools", default="2MiB=8192,1GiB=64",
                    help="SIZE=PAGES per node, comma separated (PAGES may be N0:N1:...)")
    ap.add_argument("--guests", type=int, default=50)
    ap.add_argument("--guest-memory-mib", type=int, default=2048)
    ap.add_argument("--processes", type=int, default=500)
    ap.add_argument("--process-names", type=int, default=100)
    ap.add_argument("--services", type=int, default=20)
    ap.add_argument("--kubepods", type=int, default=0)
    ap.add_argument("--vcpus", type=int, default=2)
    ap.add_argument("--vfio-devices", type=int, default=1)
    ap.add_argument("--misplaced", type=int, default=0)
    ap.add_argument("--numa-locality", action="store_true")
    ap.add_argument("--numa-detail", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--set-free-pages", metavar="SIZE:NODE:FREE",
                    help="change an existing host's free pages instead (e.g. 2MiB:0:0)")
    a = ap.parse_args(argv)
    if a.set_free_pages:
        size, node, free = a.set_free_pages.split(":")
        set_free_pages(a.root, size, int(node), int(free))
        return 0
    spec = HostSpec(nodes=a.nodes, pools=_parse_pools(a.pools, a.nodes), guests=a.guests,
                    guest_memory_mib=a.guest_memory_mib, processes=a.processes,
                    process_names=a.process_names, services=a.services, kubepods=a.kubepods,
                    vcpus=a.vcpus, vfio_devices=a.vfio_devices, misplaced=a.misplaced,
                    numa_locality=a.numa_locality, numa_detail=a.numa_detail, seed=a.seed)
    facts = generate(a.root, spec)
    print(" ".join(facts["args"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
