"""The processes collector's sources: --collector.processes.source=bpf against procfs.

Two exporters, one per source, scrape the same idle children (pages touched, memory mlock()ed,
faulted MAP_HUGETLB pages when there is a 2 MiB pool): their groups' figures (resident, swap,
hugetlb, locked, pinned, minor and major faults, processes) must be equal. A bad source value
and a BPF source that cannot be loaded stop start-up with a message naming the flag.
Root (the BPF source needs CAP_BPF and CAP_PERFMON); the build needs PAGESCOPE_BPF.
"""

import os
import subprocess
import unittest

from pagescope_test import (BINARY, Exporter, children_with_known_figures, kernel_lock,
                            require_root, tool, value)

BPF_BUILT = os.path.exists(tool("bpf_tasks"))
ONLY = ["--collector.disable-defaults", "--collector.processes"]
FIGURES = ("pagescope_process_num_procs", "pagescope_process_resident_bytes",
           "pagescope_process_swap_bytes", "pagescope_process_hugetlb_bytes",
           "pagescope_process_locked_bytes", "pagescope_process_pinned_bytes",
           "pagescope_process_minor_faults_total", "pagescope_process_major_faults_total")


def start_failure(args):
    """(exit code, output) of an exporter that must not start."""
    r = subprocess.run([BINARY, "--web.listen-address=127.0.0.1:0"] + args,
                       capture_output=True, text=True, timeout=60)
    return r.returncode, r.stdout + r.stderr


class ProcessesSourceTest(unittest.TestCase):

    @require_root
    @unittest.skipUnless(BPF_BUILT, "built without the BPF task source (PAGESCOPE_BPF: clang, "
                                    "bpftool, libbpf)")
    def test_bpf_groups_equal_procfs_for_idle_children(self):
        with kernel_lock(), children_with_known_figures(3000) as (children, have_pool):
            with Exporter(ONLY) as procfs, \
                    Exporter(ONLY + ["--collector.processes.source=bpf"]) as bpf:
                got_procfs, got_bpf = procfs.metrics(), bpf.metrics()
            for group in children:
                for name in FIGURES:
                    a = value(got_procfs, name, group=group)
                    self.assertIsNotNone(a, "%s{group=%s} (procfs)" % (name, group))
                    self.assertEqual(value(got_bpf, name, group=group), a,
                                     "%s{group=%s}: bpf against procfs" % (name, group))
            self.assertEqual(value(got_bpf, "pagescope_process_locked_bytes",
                                   group="mlock_hold"), 8 * 2**20)
            self.assertGreaterEqual(value(got_bpf, "pagescope_process_minor_faults_total",
                                          group="touch_pages"), 3000)
            if have_pool:
                self.assertEqual(value(got_bpf, "pagescope_process_hugetlb_bytes",
                                       group="hugetlb_hold"), 2 * 2 * 2**20)

    def test_bad_source_value_stops_start_up(self):
        code, out = start_failure(ONLY + ["--collector.processes.source=ebpf"])
        self.assertNotEqual(code, 0, out)
        self.assertIn("--collector.processes.source", out)
        self.assertIn("expected procfs or bpf", out)

    def test_bpf_that_cannot_load_stops_start_up(self):
        # Without CAP_BPF and CAP_PERFMON (as user nobody when root), or in a build without
        # BPF, the source cannot be loaded: no fall-back to /proc.
        args = ONLY + ["--collector.processes.source=bpf"]
        if os.geteuid() == 0:
            r = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                                BINARY, "--web.listen-address=127.0.0.1:0"] + args,
                               capture_output=True, text=True, timeout=60)
            code, out = r.returncode, r.stdout + r.stderr
        else:
            code, out = start_failure(args)
        self.assertNotEqual(code, 0, out)
        self.assertIn("--collector.processes.source", out)
        self.assertIn("cannot load the BPF task iterator", out)
        self.assertRegex(out, "CAP_BPF|built without BPF")


if __name__ == "__main__":
    unittest.main()
