"""The BPF task source on Debian's 6.1 kernel (the guest lab, tests/lab/guest.py): there
mm->rss_stat is the atomic `struct mm_rss_stat` that the program's other CO-RE variant reads
(this host's kernel has the per-CPU counters of 6.2+). The same object built here runs there.

Children with known figures (touched pages, 8 MiB mlock()ed, two faulted 2 MiB hugetlb pages)
and the guest's pagescope (multi-threaded) are compared field by field with the guest's
/proc/<pid>/stat and status; every process the guest's /proc lists must appear with its start
time. When QEMU is installed, a guest that cannot boot makes the test fail, not skip.
"""

import os
import re
import sys
import unittest

from test_live_bpf_tasks import BPF_TASKS, assert_matches_proc, parse_dump, parse_proc

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

# The walk, then every process's stat and status right after it.
SNAPSHOT = r"""
bpf_tasks dump > /tmp/dump || exit 1
for d in /proc/[0-9]*; do
  p=${d#/proc/}
  s=$(cat $d/stat 2>/dev/null) || continue
  echo "@@PID $p"; echo "$s"; cat $d/status 2>/dev/null
done > /tmp/procs
cat /tmp/dump; echo "@@PROCS"; cat /tmp/procs
"""


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
        dump, procs_text = out.split("@@PROCS\n", 1)
        header, rows = parse_dump(dump)
        self.assertEqual(header["exact_sums"], "1", "6.1's atomic counters are what /proc reads")
        procs = {}
        for block in procs_text.split("@@PID ")[1:]:
            pid_line, rest = block.split("\n", 1)
            stat, status = rest.split("\n", 1)
            procs[int(pid_line)] = parse_proc(stat, status)

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


if __name__ == "__main__":
    unittest.main()
