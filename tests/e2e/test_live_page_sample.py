"""Live kernel: the placement sampler (proctable/page_sample.h, run through tests/tools/page_sample)
against the exact figures of /proc/<pid>/numa_maps, on processes with known placement, through
both ways of listing mappings (PROCMAP_QUERY where the kernel has it, 6.11+, and the maps text).

- 4 KiB pages: `numa_pages split 256 40 0` maps 256 MiB of anonymous memory and touches 40 % of
  it (MADV_NOHUGEPAGE). The sample's share of present pages per node must lie within the bound
  of docs/processes-and-vms.md ("Estimated placement": 99.9 %, 3.29 standard deviations, so that
  the test fails by chance about once in a thousand runs, not once in twenty) of numa_maps' exact
  share over the same mappings.
- 2 MiB hugetlb pages (root: the pool is raised and restored): an anonymous MAP_HUGETLB mapping
  (hugetlb_hold, 8 mapped, 3 touched), a file on a hugetlbfs mount (4 mapped, 2 touched) and a
  hugetlb memfd (2 mapped, 1 touched). Fewer pages than the budget: the sampler asks about every
  one of them, so its counts must equal numa_maps' exactly, and their page size must be known on
  the maps-text path too (from the mount's pagesize= and the kernel's internal hugetlbfs
  devices).
- A process that has exited, and one the sampler may not ptrace (as user nobody): no sample.
Under AddressSanitizer (scripts/test.sh's second pass) the tools carry the sanitizer's shadow,
terabytes of read-write memory that is almost all absent: it takes nearly all of the base
class's addresses, and the 4 KiB comparison holds with few present answers.
"""

import os
import re
import subprocess
import sys
import unittest

from pagescope_test import (POOL_2M, SysfsRestorer, is_root, kernel_lock, require_root,
                            start_child, stop_process, tool)
from test_live_hugetlbfs import hugetlbfs

MIN_BYTES = 1 << 20  # kMinSampledMappingBytes
SPECIAL_OK = ("[heap]", "[stack")
Z_999 = 3.29  # two-sided 99.9 % normal quantile


def kernel_has_procmap_query():
    major, minor = (int(x) for x in os.uname().release.split(".")[:2])
    return (major, minor) >= (6, 11)


def sampled_mapping(line):
    """Whether the sampler samples the mapping of this /proc/<pid>/maps line (its rules, for the
    exact side of the comparison); returns (start, end) or None."""
    f = line.split(None, 5)
    start, end = (int(x, 16) for x in f[0].split("-"))
    name = f[5].strip() if len(f) > 5 else ""
    if end - start < MIN_BYTES or f[1][:3] == "---":
        return None
    if name.startswith("[") and not (name.startswith(SPECIAL_OK) or name.startswith("[anon")):
        return None
    if name.startswith("anon_inode:") and name != "anon_inode:[kvm-gmem]":
        return None
    return start, end


def exact_by_class(maps_text, numa_maps_text):
    """{page_size: {node: bytes}} of the mappings the sampler samples, from numa_maps."""
    starts = set()
    for line in maps_text.splitlines():
        r = sampled_mapping(line)
        if r:
            starts.add(r[0])
    out = {}
    for line in numa_maps_text.splitlines():
        if int(line.split()[0], 16) not in starts:
            continue
        kb = re.search(r"kernelpagesize_kB=(\d+)", line)
        if not kb:
            continue  # nothing present
        size = int(kb.group(1)) * 1024
        for node, pages in re.findall(r"\bN(\d+)=(\d+)", line):
            cls = out.setdefault(size, {})
            cls[int(node)] = cls.get(int(node), 0) + int(pages) * size
    return out


def parse_sample(text):
    """page_sample's output: (path, {page_size: (mapped_bytes, asked, {node: present})})."""
    lines = text.strip().splitlines()
    path = re.match(r"path=(\S+)", lines[0]).group(1)
    classes = {}
    for line in lines[1:]:
        f = dict(kv.split("=") for kv in line.split()[1:])
        nodes = {int(k[1:]): int(v) for k, v in f.items() if re.fullmatch(r"N\d+", k)}
        classes[int(f["page_size"])] = (int(f["mapped_bytes"]), int(f["asked"]), nodes)
    return path, classes


def bound(p, n):
    """The 99.9 % bound of a share p estimated from n answers (binomial, normal approximation),
    plus one answer's worth for the rounding of the strata."""
    return Z_999 * (p * (1 - p) / n) ** 0.5 + 1.0 / n


def run_sampler(pid, *args, run=None):
    run = run or (lambda cmd: subprocess.run(cmd, capture_output=True, text=True))
    return run([tool("page_sample")] + list(args) + [str(pid)])


class LivePageSample(unittest.TestCase):

    def sample(self, pid, *args):
        r = run_sampler(pid, *args)
        self.assertEqual(r.returncode, 0, r.stderr)
        return parse_sample(r.stdout)

    def read(self, pid, name):
        with open("/proc/%d/%s" % (pid, name)) as f:
            return f.read()

    def both_paths(self, pid):
        """The sample through the default path and through the maps text."""
        auto = self.sample(pid)
        self.assertEqual(auto[0], "procmap_query" if kernel_has_procmap_query() else "maps")
        text = self.sample(pid, "--maps-text")
        self.assertEqual(text[0], "maps")
        return {"auto": auto[1], "maps": text[1]}

    def test_anonymous_4k_pages(self):
        child = subprocess.Popen([tool("numa_pages"), "--hold", "split", "256", "40", "0"],
                                 stdout=subprocess.PIPE, text=True)
        try:
            ready = child.stdout.readline()
            self.assertTrue(ready.startswith("ready mode=split"), ready)
            exact = exact_by_class(self.read(child.pid, "maps"), self.read(child.pid, "numa_maps"))
            for path, classes in self.both_paths(child.pid).items():
                mapped, asked, nodes = classes[4096]
                self.assertEqual(asked, 4096, path)  # the default budget, all base pages
                self.assertGreaterEqual(mapped, 256 << 20)
                for node in set(nodes) | set(exact.get(4096, {})):
                    p = exact.get(4096, {}).get(node, 0) / mapped
                    got = nodes.get(node, 0) / asked
                    print("\n%s: node %d present share %.4f, numa_maps %.4f (bound +-%.4f)"
                          % (path, node, got, p, bound(p, asked)))
                    self.assertLessEqual(abs(got - p), bound(p, asked), path)
        finally:
            stop_process(child)
            child.stdout.close()

    @require_root
    def test_hugetlb_pages_counted_whole(self):
        if not os.path.exists(POOL_2M):
            self.skipTest("no 2 MiB hugepage pool (%s)" % POOL_2M)
        files = r"""
import mmap, os, sys
mnt = sys.argv[1]
fd = os.open(os.path.join(mnt, "f"), os.O_CREAT | os.O_RDWR, 0o600)
os.unlink(os.path.join(mnt, "f"))
os.ftruncate(fd, 4 << 21)
f = mmap.mmap(fd, 4 << 21)
f[0] = 1
f[3 << 21] = 1
m = os.memfd_create("guest ram", os.MFD_HUGETLB | os.MFD_HUGE_2MB)
os.ftruncate(m, 2 << 21)
g = mmap.mmap(m, 2 << 21)
g[1 << 21] = 1
print("ready", flush=True)
sys.stdin.read()
"""
        with kernel_lock(), SysfsRestorer() as sysfs:
            with open(POOL_2M + "/nr_hugepages") as f:
                sysfs.set(POOL_2M + "/nr_hugepages", int(f.read()) + 14)
            with hugetlbfs("pagesize=2M") as mnt:
                children = []
                try:
                    children.append(start_child([tool("hugetlb_hold"), "2048", "8", "3"],
                                                "ready"))
                    children.append(start_child([sys.executable, "-c", files, mnt], "ready"))
                    for child, mapped, present in ((children[0], 8, 3), (children[1], 6, 3)):
                        exact = exact_by_class(self.read(child.pid, "maps"),
                                               self.read(child.pid, "numa_maps"))
                        self.assertEqual(sum(exact[2 << 20].values()), present << 21)
                        for path, classes in self.both_paths(child.pid).items():
                            print("\n%s: pid %d: %s" % (path, child.pid, classes[2 << 20]))
                            self.assertEqual(classes[2 << 20], (
                                mapped << 21, mapped,
                                {n: b >> 21 for n, b in exact[2 << 20].items()}), path)
                finally:
                    for child in children:
                        child.stdin.close()
                        stop_process(child, timeout=30)
                        child.stdout.close()

    def test_gone_and_denied(self):
        gone = subprocess.Popen(["true"])
        gone.wait()
        r = run_sampler(gone.pid)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        if not is_root():
            return
        child = subprocess.Popen(["sleep", "60"])
        try:
            def as_nobody(cmd):
                return subprocess.run(cmd, capture_output=True, text=True,
                                      preexec_fn=lambda: (os.setgroups([]), os.setgid(65534),
                                                          os.setuid(65534)))
            r = run_sampler(child.pid, run=as_nobody)
            self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
            r = run_sampler(child.pid, "--maps-text", run=as_nobody)
            self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        finally:
            stop_process(child)


if __name__ == "__main__":
    unittest.main()
