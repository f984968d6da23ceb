"""Live kernel: process groups and QEMU guests as pagescope reports them.

- a process that touches N pages shows N more minor faults in its group;
- a process holding MAP_HUGETLB pages shows them as hugetlb bytes in its group (root);
- two real QEMU guests (TCG, -S) on a hugetlbfs mount made for the test, one preallocated and
  one lazy, are reported with their name, backend, prealloc flag and hugetlb bytes per node as
  the kernel's numa_maps says (root). Pool, mount and QEMU processes are restored/stopped even
  when the test fails.
"""

import contextlib
import os
import re
import shutil
import subprocess
import tempfile
import time
import unittest
import uuid

from pagescope_test import (Exporter, SysfsRestorer, kernel_lock, require_root, tool, value)

POOL = "/sys/kernel/mm/hugepages/hugepages-2048kB"
# No limit on groups: on a busy machine with more than 50 process names the small test
# processes could otherwise wait in the overflow group (the bound has its own tests).
ONLY = ["--collector.disable-defaults", "--collector.processes", "--collector.qemu",
        "--collector.processes.max-groups=0"]


def numa_maps_huge(pid):
    """{(node, page_size_bytes): bytes} from /proc/PID/numa_maps 'huge' mappings."""
    out = {}
    with open("/proc/%d/numa_maps" % pid) as f:
        for line in f:
            fields = line.split()
            if "huge" not in fields:
                continue
            kb = [int(x.split("=")[1]) for x in fields if x.startswith("kernelpagesize_kB=")]
            for x in fields:
                m = re.match(r"N(\d+)=(\d+)$", x)
                if m and kb:
                    key = (m.group(1), kb[0] * 1024)
                    out[key] = out.get(key, 0) + int(m.group(2)) * kb[0] * 1024
    return out


class LiveProcesses(unittest.TestCase):
    def test_400_idle_processes_of_200_names_stay_within_max_groups(self):
        """The issue's experiment: 400 idle processes under 200 names, default grouping."""
        args = ["--collector.disable-defaults", "--collector.processes"]

        def groups(m):
            return {dict(l)["group"]: v for (n, l), v in m.items()
                    if n == "pagescope_process_num_procs"}

        with Exporter(args) as exp:
            before = groups(exp.metrics())
            idle = subprocess.Popen([tool("idle_procs"), "400", "200"], stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, text=True)
            try:
                self.assertEqual(idle.stdout.readline().strip(), "ready")
                m = exp.metrics()
                g = groups(m)
                # 50 places at most, plus the overflow group.
                self.assertLessEqual(len(g), 51, sorted(g))
                self.assertIn("(other processes)", g)
                idle_names = {n for n in g if re.fullmatch(r"idle\d+", n)}
                # The places left free by the groups already there went to the new names
                # (first come), 2 processes each; the rest of the 400 wait in the overflow.
                # (Other processes of this machine may take free places too.)
                places = 50 - len([n for n in before if n != "(other processes)"])
                self.assertLessEqual(len(idle_names), max(places, 0))
                self.assertGreaterEqual(g["(other processes)"], 400 - 2 * len(idle_names))
                self.assertGreaterEqual(value(m, "pagescope_process_folded_groups"),
                                        200 - len(idle_names))
                self.assertGreaterEqual(value(m, "pagescope_process_folded_processes_total"),
                                        400 - 2 * len(idle_names))
                # Stable: the next scrape has the same groups (none flips in or out).
                self.assertEqual(set(groups(exp.metrics())), set(g))
                series = len(m)
            finally:
                idle.stdin.close()
                idle.wait(timeout=30)
            # After they exit, the groups stay (idle_timeout 1h): same series, no flip.
            self.assertEqual(set(groups(exp.metrics())), set(g))
            print("\n400 idle processes of 200 names: %d groups, %d series in the processes "
                  "collector's scrape" % (len(g), series))

    def test_touching_n_pages_adds_n_minor_faults_to_the_group(self):
        n = 3000
        proc = subprocess.Popen([tool("touch_pages"), str(n)], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True)
        try:
            self.assertEqual(proc.stdout.readline().strip(), "mapped")
            with Exporter(ONLY) as exp:
                before = value(exp.metrics(), "pagescope_process_minor_faults_total",
                               group="touch_pages")
                proc.stdin.write("go\n")
                proc.stdin.flush()
                self.assertEqual(proc.stdout.readline().strip(), "touched")
                after = value(exp.metrics(), "pagescope_process_minor_faults_total",
                              group="touch_pages")
                self.assertIsNotNone(before)
                # N page faults, plus a few for the code and stack the loop touches.
                self.assertGreaterEqual(after - before, n)
                self.assertLess(after - before, n + 64)
        finally:
            proc.stdin.close()
            proc.wait(timeout=10)
            proc.stdout.close()

    @require_root
    def test_map_hugetlb_pages_are_the_groups_hugetlb_bytes(self):
        with kernel_lock(), SysfsRestorer() as sysfs:
            nr = int(sysfs.read(POOL + "/nr_hugepages"))
            free = int(sysfs.read(POOL + "/free_hugepages"))
            sysfs.set(POOL + "/nr_hugepages", nr + 6)
            if int(sysfs.read(POOL + "/free_hugepages")) < free + 6:
                self.skipTest("the kernel could not give 6 more free 2 MiB pages")
            holder = subprocess.Popen([tool("hugetlb_hold"), "2048", "5", "3"],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            try:
                self.assertEqual(holder.stdout.readline().strip(), "ready")
                with Exporter(ONLY) as exp:
                    m = exp.metrics()
                    self.assertEqual(value(m, "pagescope_process_num_procs",
                                           group="hugetlb_hold"), 1)
                    self.assertEqual(value(m, "pagescope_process_hugetlb_bytes",
                                           group="hugetlb_hold"), 3 * 2 * 1024 * 1024)
            finally:
                holder.stdin.close()
                holder.wait(timeout=10)
                holder.stdout.close()


@contextlib.contextmanager
def hugetlbfs_mount(pagesize="2M"):
    d = tempfile.mkdtemp(prefix="pagescope-hugetlbfs-")
    subprocess.run(["mount", "-t", "hugetlbfs", "-o", "pagesize=" + pagesize, "none", d],
                   check=True)
    try:
        yield d
    finally:
        subprocess.run(["umount", d], check=False)
        shutil.rmtree(d, ignore_errors=True)


class LiveQemu(unittest.TestCase):
    @require_root
    def test_two_guests_on_hugetlbfs_prealloc_and_lazy(self):
        qemu = shutil.which("qemu-system-x86_64")
        if not qemu:
            self.skipTest("qemu-system-x86_64 is not installed (scripts/install-deps.sh)")
        ram_mib = 64
        pages = ram_mib // 2
        guests = []
        with kernel_lock(), SysfsRestorer() as sysfs, hugetlbfs_mount() as mnt:
            nr = int(sysfs.read(POOL + "/nr_hugepages"))
            free = int(sysfs.read(POOL + "/free_hugepages"))
            sysfs.set(POOL + "/nr_hugepages", nr + 2 * pages)
            if int(sysfs.read(POOL + "/free_hugepages")) < free + 2 * pages:
                self.skipTest("the kernel could not give %d more free 2 MiB pages" % (2 * pages))
            tag = uuid.uuid4().hex[:8]
            try:
                for name, prealloc in (("ps-prealloc-" + tag, "on"), ("ps-lazy-" + tag, "off")):
                    guest_uuid = str(uuid.uuid4())
                    cmd = [qemu, "-S", "-display", "none", "-nodefaults", "-accel", "tcg",
                           "-name", "guest=%s,debug-threads=on" % name, "-uuid", guest_uuid,
                           "-m", "%dM" % ram_mib,
                           "-object", "memory-backend-file,id=ram0,size=%dM,mem-path=%s,"
                           "share=on,prealloc=%s" % (ram_mib, mnt, prealloc),
                           "-machine", "pc,memory-backend=ram0"]
                    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
                    guests.append((name, guest_uuid, prealloc, p))
                with Exporter(ONLY) as exp:
                    deadline = time.time() + 60
                    while True:
                        for _, _, _, p in guests:
                            if p.poll() is not None:
                                self.fail("qemu exited: " + p.stderr.read().decode())
                        m = exp.metrics()
                        pre = guests[0]
                        got = value(m, "pagescope_vm_info", vm=pre[0])
                        held = numa_maps_huge(pre[3].pid)
                        if got == 1 and sum(held.values()) == ram_mib << 20 and \
                                value(m, "pagescope_vm_info", vm=guests[1][0]) == 1:
                            break
                        if time.time() > deadline:
                            self.fail("guests not reported in time: %s" % held)
                        time.sleep(0.5)
                    # Read numa_maps and scrape again, until both agree (pages may still move).
                    for attempt in range(10):
                        m = exp.metrics()
                        kernel = {g[0]: numa_maps_huge(g[3].pid) for g in guests}
                        if all(self._hugetlb(m, g[0]) == kernel[g[0]] for g in guests):
                            break
                        time.sleep(0.3)
                    for name, guest_uuid, prealloc, p in guests:
                        info = [ls for (n, ls), v in m.items()
                                if n == "pagescope_vm_info" and ("vm", name) in ls]
                        self.assertEqual(len(info), 1, name)
                        labels = dict(info[0])
                        self.assertEqual(labels["uuid"], guest_uuid)
                        self.assertEqual(labels["pid"], str(p.pid))
                        self.assertEqual(labels["backend"], "file")
                        self.assertEqual(labels["mem_path"], mnt)
                        self.assertEqual(labels["share"], "true")
                        self.assertEqual(labels["prealloc"],
                                         "true" if prealloc == "on" else "false")
                        self.assertEqual(value(m, "pagescope_vm_memory_bytes", vm=name),
                                         ram_mib << 20)
                        self.assertEqual(
                            value(m, "pagescope_vm_hugetlb_configured_bytes", vm=name),
                            ram_mib << 20)
                        self.assertEqual(self._hugetlb(m, name), kernel[name], name)
                        self.assertIsNotNone(
                            value(m, "pagescope_vm_minor_faults_total", vm=name))
                    # The preallocated guest holds all its RAM in hugepages.
                    self.assertEqual(sum(kernel[guests[0][0]].values()), ram_mib << 20)
            finally:
                for _, _, _, p in guests:
                    if p.poll() is None:
                        p.terminate()
                    try:
                        p.wait(timeout=20)
                    except subprocess.TimeoutExpired:
                        p.kill()
                        p.wait()
                    p.stderr.close()

    @staticmethod
    def _hugetlb(m, vm):
        out = {}
        for (n, ls), v in m.items():
            d = dict(ls)
            if n == "pagescope_vm_hugetlb_bytes" and d.get("vm") == vm:
                size = {"2MiB": 2 << 20, "1GiB": 1 << 30}[d["page_size"]]
                out[(d["node"], size)] = int(v)
        return out


if __name__ == "__main__":
    unittest.main()
