"""The BPF task source on Debian's 6.1 kernel (the guest lab, tests/lab/guest.py): there
mm->rss_stat is the atomic `struct mm_rss_stat` that the program's other CO-RE variant reads
(this host's kernel has the per-CPU counters of 6.2+). The same object built here runs there.

Children with known figures (touched pages, 8 MiB mlock()ed, two faulted 2 MiB hugetlb pages)
and the guest's pagescope (multi-threaded) are compared field by field with the guest's
/proc/<pid>/stat and status; every process the guest's /proc lists must appear with its start
time, in the iterator's records and in the table the processes collector gets (BpfProcessTable),
PID 1 included, kernel threads counted. Then two exporters in the guest, one per source, and
/proc read before and after their scrapes: every group whose processes stayed the same is in
both with /proc's figures (test_live_processes_source.compare_groups), PID 1's among them.
When QEMU is installed, a guest that cannot boot makes the test fail, not skip.
"""

import os
import re
import sys
import unittest

from pagescope_test import parse_exposition
from test_live_bpf_tasks import BPF_TASKS, assert_matches_proc, parse_dump, parse_proc
from test_live_processes_source import compare_groups

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lab"))
import guest as lab  # noqa: E402

WORKLOAD = r"""
(echo go; sleep 100000) | touch_pages 3000 > /tmp/touch.out &
sleep 100000 | mlock_hold 8 > /tmp/mlock.out &
sleep 100000 | hugetlb_hold 2048 2 2 > /tmp/huge.out &
for i in $(seq 100); do
  grep -q touched /tmp/touch.out && grep -q ready /tmp/mlock.out && grep -q ready /tmp/huge.out \
    && break
  sleep 0.1
done
cat /tmp/touch.out /tmp/mlock.out /tmp/huge.out
"""

# Every process's stat and status, in blocks "@@PID <pid>".
PROCS = r"""
procs() {
  for d in /proc/[0-9]*; do
    p=${d#/proc/}
    s=$(cat $d/stat 2>/dev/null) || continue
    t=$(cat $d/status 2>/dev/null) || continue
    echo "@@PID $p"; echo "$s"; echo "$t"
  done
}
"""

# The walk and the table of two scrapes, then every process's stat and status right after.
SNAPSHOT = PROCS + r"""
bpf_tasks dump > /tmp/dump || exit 1
bpf_tasks table 2 > /tmp/table 2>/dev/null || exit 1
procs > /tmp/procs
cat /tmp/dump; echo "@@TABLE"; cat /tmp/table; echo "@@PROCS"; cat /tmp/procs
"""

# Two exporters, one per source; PID 1 (the lab's shell, comm "sh" like the shells each command
# starts) gets a group of its own, "init".
START_SOURCES = r"""
cat > /tmp/groups.yml <<'END'
collectors:
  processes:
    max_groups: 0
    groups:
      - name: init
        cmdline: ["lab-shell"]
      - name: "{{.Comm}}"
END
for s in procfs:9725 bpf:9726; do
  /bin/pagescope --config.file=/tmp/groups.yml --web.listen-address=127.0.0.1:${s#*:} \
    --collector.disable-defaults --collector.processes \
    --collector.processes.source=${s%:*} > /tmp/${s%:*}.log 2>&1 &
done
for i in $(seq 150); do
  wget -q -O /dev/null http://127.0.0.1:9725/metrics && \
    wget -q -O /dev/null http://127.0.0.1:9726/metrics && exit 0
  sleep 0.2
done
cat /tmp/procfs.log /tmp/bpf.log; exit 1
"""

# /proc before and after one scrape of each.
SCRAPE_BOTH = PROCS + r"""
procs > /tmp/before
wget -q -O /tmp/procfs.prom http://127.0.0.1:9725/metrics || exit 1
wget -q -O /tmp/bpf.prom http://127.0.0.1:9726/metrics || exit 1
procs > /tmp/after
cat /tmp/before; echo "@@AFTER"; cat /tmp/after; echo "@@PROCFS"; cat /tmp/procfs.prom
echo "@@BPF"; cat /tmp/bpf.prom
"""

STOP_SOURCES = r"""
for p in $(pidof pagescope); do [ "$p" = "$(cat /run/pagescope.pid)" ] || kill $p; done
true
"""


def parse_procs(text):
    """{pid: parse_proc's figures} of PROCS's output."""
    procs = {}
    for block in text.split("@@PID ")[1:]:
        pid_line, rest = block.split("\n", 1)
        stat, status = rest.split("\n", 1)
        procs[int(pid_line)] = parse_proc(stat, status)
    return procs


class BpfTasksOnGuest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        lab.skip_unless_qemu()
        if not os.path.exists(BPF_TASKS):
            raise unittest.SkipTest("ALL SKIPPED: built without the BPF task source "
                                    "(PAGESCOPE_BPF: clang, bpftool, libbpf-dev)")
        # No 1 GiB pages: the guest would zero them at boot for nothing here.
        cls.guest = lab.Guest(pools={"2M": (4, 4)},
                              tools=["bpf_tasks", "touch_pages", "mlock_hold", "hugetlb_hold"],
                              pagescope_modules=["pagescope-bpf.so"])
        print("\nlab: kernel %s" % cls.guest.kernel_version, file=sys.stderr)

    @classmethod
    def tearDownClass(cls):
        cls.guest.close()

    def test_every_field_matches_proc_on_6_1(self):
        g = self.guest
        release = g.run("uname -r").strip()
        self.assertTrue(release.startswith("6.1."), release)
        self.assertEqual(g.run("test -e /sys/kernel/btf/vmlinux && echo btf").strip(), "btf")
        out = g.run(WORKLOAD)
        self.assertEqual(out.split(), ["mapped", "touched", "ready", "ready"], out)
        rc, out = g.run_rc(SNAPSHOT, timeout=120)
        self.assertEqual(rc, 0, out)
        dump, rest = out.split("@@TABLE\n", 1)
        table_text, procs_text = rest.split("@@PROCS\n", 1)
        header, rows = parse_dump(dump)
        self.assertEqual(header["exact_sums"], "1", "6.1's atomic counters are what /proc reads")
        procs = parse_procs(procs_text)

        page_kb = int(g.run("getconf PAGESIZE 2>/dev/null || echo 4096").strip() or 4096) // 1024
        names = {"touch_pages": None, "mlock_hold": None, "hugetlb_hold": None, "pagescope": None}
        for pid, proc in procs.items():
            if proc["comm"] in names:
                names[proc["comm"]] = pid
        for name, pid in names.items():
            self.assertIsNotNone(pid, name)
            self.assertIn(pid, rows, name)
            assert_matches_proc(self, rows[pid], procs[pid], "%s (pid %d)" % (name, pid),
                                page_kb=page_kb)
        self.assertGreaterEqual(rows[names["touch_pages"]]["minflt"], 3000)
        self.assertGreaterEqual(rows[names["touch_pages"]]["rss_sum_pages"], 3000)
        self.assertEqual(rows[names["mlock_hold"]]["locked_pages"] * page_kb, 8 * 1024)
        self.assertEqual(rows[names["hugetlb_hold"]]["hugetlb_pages"] * page_kb, 2 * 2048)
        threads = int(re.search(r"^Threads:\s+(\d+)$",
                                g.run("cat /proc/%d/status" % names["pagescope"]),
                                re.M).group(1))
        self.assertGreater(threads, 1, "pagescope's faults are summed over its threads")

        # Every process /proc listed (it was read after the walk; the snapshot's own shell
        # children came and went), with its start time and kind.
        walked_shells = 0
        for pid, proc in procs.items():
            if pid not in rows:
                # Started after the walk: only the snapshot's own commands may.
                self.assertIn(proc["comm"], ("sh", "cat"), "pid %d" % pid)
                walked_shells += 1
                continue
            self.assertEqual(rows[pid]["start_time"], proc["start_time"], "pid %d" % pid)
            self.assertEqual(rows[pid]["kernel_thread"], 1 if proc["flags"] & 0x00200000 else 0,
                             "pid %d" % pid)
        self.assertGreater(len(procs), 30)
        print("lab: %d processes compared, %d started after the walk" %
              (len(procs) - walked_shells, walked_shells), file=sys.stderr)

        # The table: the walk's processes (kernel threads counted, not listed), PID 1 among
        # them, and what the kernel kept from the iterator, if anything, read from /proc.
        table_header, table = parse_dump(table_text)
        self.assertIn(1, table, "PID 1 is in the table")
        for pid, proc in procs.items():
            if pid not in rows:
                continue  # the snapshot's own commands, checked above
            if proc["flags"] & 0x00200000:
                self.assertNotIn(pid, table, "kernel thread %d is counted only" % pid)
                continue
            self.assertIn(pid, table, "pid %d (%s)" % (pid, proc["comm"]))
            self.assertEqual(table[pid]["start_time"], proc["start_time"], "pid %d" % pid)
        kthreads = sum(1 for r in rows.values() if r["kernel_thread"])
        self.assertEqual(int(table_header["kernel_threads"]), kthreads)
        print("lab: table of %d processes, %s kernel threads, from /proc: %s, /proc listed in %s "
              "of %s tables" % (len(table), table_header["kernel_threads"],
                                table_header["from_proc"], table_header["listed"],
                                table_header["tables"]), file=sys.stderr)

    def test_every_process_in_the_same_group_under_both_sources(self):
        g = self.guest
        try:
            rc, out = g.run_rc(START_SOURCES, timeout=120)
            self.assertEqual(rc, 0, out)
            rc, out = g.run_rc(SCRAPE_BOTH, timeout=120)
            self.assertEqual(rc, 0, out)
        finally:
            g.run(STOP_SOURCES)
        before_text, rest = out.split("@@AFTER\n", 1)
        after_text, rest = rest.split("@@PROCFS\n", 1)
        procfs_text, bpf_text = rest.split("@@BPF\n", 1)
        before, after = parse_procs(before_text), parse_procs(after_text)
        got = {"procfs": parse_exposition(procfs_text), "bpf": parse_exposition(bpf_text)}
        release = g.run("uname -r").strip()
        cpus = int(g.run("grep -c ^processor /proc/cpuinfo").strip())
        page = int(g.run("getconf PAGESIZE 2>/dev/null || echo 4096").strip() or 4096)
        compared, idle, changed = compare_groups(
            self, before, after, got, release=release, cpus=cpus, page=page,
            group_of=lambda pid, p: "init" if pid == 1 else p["comm"])
        self.assertIn("init", compared, "PID 1's group is compared under both sources")
        self.assertGreater(idle, 0)
        print("lab: %d groups compared under both sources (%d idle), %d left out as their "
              "processes changed: %s" % (len(compared), idle, len(changed), ", ".join(changed)),
              file=sys.stderr)


if __name__ == "__main__":
    unittest.main()
