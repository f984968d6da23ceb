"""The BPF task source (proctable/bpf_tasks.h) against /proc on the running kernel.

Children with known figures (pages touched, a dead and a live thread that faulted, mlock()ed
memory, faulted MAP_HUGETLB pages) are read through tests/tools/bpf_tasks and through
/proc/<pid>/stat and status; every field must match exactly while they are idle. Then every
process of the machine: each pid /proc lists appears in the iterator's records with the same
start time and kind, except those the kernel keeps from the iterator (this VM's PID 1); and in
the table the processes collector gets (BpfProcessTable: the records completed from /proc),
every one appears, PID 1 included, with /proc's figures, and the kernel threads are counted.
Root (or CAP_BPF + CAP_PERFMON); the build needs PAGESCOPE_BPF (clang, bpftool, libbpf).
"""

import os
import re
import subprocess
import unittest

from pagescope_test import children_with_known_figures, kernel_lock, require_root, tool

BPF_TASKS = tool("bpf_tasks")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024

# A child with two threads that fault: one exits (its faults move to the signal struct, which
# stat adds for dead threads), one stays alive; then it waits for stdin to close.
THREADS_CHILD = r"""
import sys, threading
def touch(n, hold):
    b = bytearray(n * 4096)
    for i in range(0, len(b), 4096):
        b[i] = 1
    if hold:
        hold.wait()
stop = threading.Event()
dead = threading.Thread(target=touch, args=(3000, None)); dead.start(); dead.join()
live = threading.Thread(target=touch, args=(2000, stop)); live.start()
print("ready", flush=True)
sys.stdin.read()
stop.set()
"""


def dump():
    """{pid: figures} and the header's fields, from one run of the BPF source."""
    return parse_dump(subprocess.run([BPF_TASKS, "dump"], check=True, capture_output=True,
                                     text=True).stdout)


def table(scrapes):
    """{pid: figures} of the last of `scrapes` tables BpfProcessTable makes, and the header's
    fields (tables, listed, from_proc, kernel_threads, processes)."""
    return parse_dump(subprocess.run([BPF_TASKS, "table", str(scrapes)], check=True,
                                     capture_output=True, text=True).stdout)


def parse_proc(stat, status):
    """What /proc/<pid>/stat and status say, in the tool's units (pages, clock ticks)."""
    comm = stat[stat.index("(") + 1:stat.rindex(")")]
    fields = stat[stat.rindex(")") + 2:].split()  # fields[0] is stat field 3
    kb = {k: int(v) for k, v in re.findall(r"^(\w+):\s+(\d+) kB$", status, re.M)}
    return {
        "comm": comm,
        "flags": int(fields[6]),
        "minflt": int(fields[7]),
        "majflt": int(fields[9]),
        "start_time": int(fields[19]),
        "rss_pages": int(fields[21]),
        "VmRSS": kb.get("VmRSS"),
        "VmSwap": kb.get("VmSwap"),
        "HugetlbPages": kb.get("HugetlbPages"),
        "VmLck": kb.get("VmLck"),
        "VmPin": kb.get("VmPin"),
    }


def proc_figures(pid):
    with open("/proc/%d/stat" % pid) as f:
        stat = f.read()
    with open("/proc/%d/status" % pid) as f:
        status = f.read()
    return parse_proc(stat, status)


def parse_dump(out):
    """{pid: figures} and the header's fields, from `bpf_tasks dump`."""
    lines = out.splitlines()
    header = dict(kv.split("=", 1) for kv in lines[0].split())
    rows = {}
    for line in lines[1:]:
        head, comm = line.split(" comm=", 1)
        row = {k: int(v) for k, v in (kv.split("=") for kv in head.split())}
        row["comm"] = comm
        rows[row["pid"]] = row
    return header, rows


def assert_matches_proc(test, row, proc, where, page_kb=PAGE_KB, exact_sums=True):
    """Every field of one process, exactly (the process idle)."""
    test.assertEqual(row["comm"], proc["comm"], where)
    test.assertEqual(row["start_time"], proc["start_time"], where)
    test.assertEqual(row["minflt"], proc["minflt"], where)
    test.assertEqual(row["majflt"], proc["majflt"], where)
    test.assertEqual(row["rss_pages"], proc["rss_pages"], where)
    # status sums the per-CPU counters since 6.16 (get_mm_counter_sum); <= 6.1 has atomic
    # counters (both the same); 6.2-6.15 print the shared counts, like stat.
    test.assertIn(proc["VmRSS"], (row["rss_sum_pages"] * page_kb, row["rss_pages"] * page_kb),
                  where)
    if exact_sums:
        test.assertEqual(proc["VmSwap"], row["swap_pages"] * page_kb, where)
    test.assertEqual(proc["HugetlbPages"], row["hugetlb_pages"] * page_kb, where)
    test.assertEqual(proc["VmLck"], row["locked_pages"] * page_kb, where)
    test.assertEqual(proc["VmPin"], row["pinned_pages"] * page_kb, where)
    test.assertEqual(row["kernel_thread"], 0, where)
    test.assertEqual(row["has_mm"], 1, where)


def hidden_from_root(pid):
    """This VM's pid 1 (its supervisor) is invisible to the task iterator, and root cannot read
    its namespaces either; such processes are left out of the iterator's every-pid check (the
    table's check has them)."""
    try:
        os.readlink("/proc/%d/ns/pid" % pid)
        return False
    except PermissionError:
        return True
    except FileNotFoundError:
        return False


@unittest.skipUnless(os.path.exists(BPF_TASKS),
                     "built without the BPF task source (PAGESCOPE_BPF: clang, bpftool, libbpf)")
class BpfTasksTest(unittest.TestCase):

    @require_root
    def test_children_match_proc(self):
        touched = 3000
        with kernel_lock(), children_with_known_figures(
                touched, extra=[("threads", ["python3", "-c", THREADS_CHILD], "ready")]) as (
                    children, have_pool):
            header, rows = dump()
            self.assertEqual(header["exact_sums"], "1",
                             "the per-CPU counters are summed on this kernel")
            for name, child in children.items():
                self.assertIn(child.pid, rows, name)
                assert_matches_proc(self, rows[child.pid], proc_figures(child.pid),
                                    "%s (pid %d)" % (name, child.pid))
            touch, mlock = rows[children["touch_pages"].pid], rows[children["mlock_hold"].pid]
            self.assertGreaterEqual(touch["minflt"], touched)
            self.assertGreaterEqual(touch["rss_sum_pages"], touched)
            self.assertEqual(mlock["locked_pages"] * PAGE_KB, 8 * 1024)
            threads = rows[children["threads"].pid]
            self.assertGreaterEqual(threads["minflt"], 5000, "both threads' faults, the "
                                    "dead one's through the signal struct")
            if have_pool:
                self.assertEqual(rows[children["hugetlb_hold"].pid]["hugetlb_pages"] * PAGE_KB,
                                 2 * 2048)
            for name in ("touch_pages", "mlock_hold", "threads"):
                self.assertEqual(rows[children[name].pid]["hugetlb_pages"], 0, name)

    @require_root
    def test_every_process(self):
        before = {int(p) for p in os.listdir("/proc") if p.isdigit()}
        header, rows = dump()
        after = {int(p) for p in os.listdir("/proc") if p.isdigit()}
        stable = before & after
        hidden = {pid for pid in stable if hidden_from_root(pid)}
        missing = sorted(stable - hidden - set(rows))
        self.assertEqual(missing, [], "in /proc before and after the walk, not in it")
        self.assertGreater(len(rows), 10)
        checked = 0
        for pid in sorted(stable - hidden):
            try:
                proc = proc_figures(pid)
            except (FileNotFoundError, ProcessLookupError):
                continue  # exited since
            row = rows[pid]
            self.assertEqual(row["start_time"], proc["start_time"], "pid %d" % pid)
            self.assertEqual(row["kernel_thread"], 1 if proc["flags"] & 0x00200000 else 0,
                             "pid %d" % pid)
            if row["kernel_thread"]:
                # /proc names kernel threads by their full name (kthread's full_name, a
                # workqueue worker's current work): task->comm is its first 15 bytes.
                self.assertTrue(proc["comm"].startswith(row["comm"]), "pid %d" % pid)
            else:
                self.assertEqual(row["comm"], proc["comm"], "pid %d" % pid)
            if proc["VmRSS"] is None:
                self.assertEqual(row["has_mm"], 0, "pid %d" % pid)
            checked += 1
        self.assertGreater(checked, 10)
        print("\n%d processes checked, %d hidden from root (left out), exact_sums=%s"
              % (checked, len(hidden), header["exact_sums"]))

    @require_root
    def test_table_has_every_process_with_proc_figures(self):
        def leaders():
            out = {}
            for name in os.listdir("/proc"):
                if name.isdigit():
                    try:
                        out[int(name)] = proc_figures(int(name))
                    except (FileNotFoundError, ProcessLookupError):
                        pass
            return out
        before = leaders()
        header, rows = table(3)
        after = leaders()
        stable = {pid for pid in before if pid in after
                  and before[pid]["start_time"] == after[pid]["start_time"]}
        kthreads = {pid for pid in stable if before[pid]["flags"] & 0x00200000}
        from_proc = set() if header["from_proc"] == "-" else {
            int(p) for p in header["from_proc"].split(",")}
        self.assertIn(1, rows, "PID 1 is in the table")
        self.assertEqual(sorted(pid for pid in stable if hidden_from_root(pid)
                                and pid not in kthreads and pid not in from_proc), [],
                         "the processes the iterator does not hand back come from /proc")
        self.assertEqual(sorted(stable - kthreads - set(rows)), [],
                         "in /proc before and after the tables, not in the last")
        self.assertEqual(sorted(kthreads & set(rows)), [], "kernel threads are counted only")
        kthreads_ever = {pid for snap in (before, after) for pid, p in snap.items()
                         if p["flags"] & 0x00200000}
        self.assertTrue(len(kthreads) <= int(header["kernel_threads"]) <= len(kthreads_ever),
                        "%s kernel threads counted, /proc listed %d throughout, %d at all"
                        % (header["kernel_threads"], len(kthreads), len(kthreads_ever)))
        idle = 0
        for pid in sorted(stable - kthreads):
            row, was, now = rows[pid], before[pid], after[pid]
            where = "pid %d (%s)" % (pid, was["comm"])
            self.assertEqual(row["start_time"], was["start_time"], where)
            self.assertEqual(row["comm"], was["comm"], where)
            self.assertTrue(was["minflt"] <= row["minflt"] <= now["minflt"], where)
            if was != now:
                continue  # it ran: faults between /proc's before and after only
            idle += 1
            self.assertEqual(row["majflt"], was["majflt"], where)
            self.assertEqual(row["rss_pages"], was["rss_pages"], where)
            for field, key in (("vm_swap", "VmSwap"), ("hugetlb", "HugetlbPages"),
                               ("vm_lck", "VmLck"), ("vm_pin", "VmPin")):
                self.assertEqual(row[field], (was[key] or 0) * 1024, "%s %s" % (where, key))
        self.assertGreater(idle, 5)
        print("\n%d processes in the table (%d idle, every figure compared), %s kernel "
              "threads; from /proc: %s; /proc listed in %s of %s tables"
              % (len(rows), idle, header["kernel_threads"], header["from_proc"],
                 header["listed"], header["tables"]))

    @require_root
    def test_cap_bpf_and_cap_perfmon_suffice(self):
        r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                            "--inh-caps=-all,+bpf,+perfmon", "--ambient-caps=+bpf,+perfmon",
                            BPF_TASKS, "dump"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        header, rows = parse_dump(r.stdout)
        self.assertIn(os.getpid(), rows)
        self.assertEqual(rows[os.getpid()]["start_time"], proc_figures(os.getpid())["start_time"])

    @require_root
    def test_unprivileged_error_names_the_capabilities(self):
        r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                            "--inh-caps=-all", BPF_TASKS, "dump"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("needs CAP_BPF and CAP_PERFMON (or root)", r.stderr)


if __name__ == "__main__":
    unittest.main()
