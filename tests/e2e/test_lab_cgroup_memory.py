"""The guest lab (tests/lab/guest.py): cgroup v2 with the memory controller, which this project's
test machine does not have (its memory controller is on v1), as pagescope's cgroup_memory
collector sees it inside Debian's 6.1 kernel.

In the guest: a service cgroup with memory.high = 16 MiB and a process touching 48 MiB there
(throttled, not killed: "high" events and stall time; it is left running, since without swap the
throttling makes it take minutes), a service with memory.max = 32 MiB and a process touching
96 MiB (OOM-killed: "max" events and oom_kill), and a libvirt-shaped guest scope
(machine.slice/machine-qemu\\x2d1\\x2dvm1.scope) holding 8 MiB of mlocked memory (label vm, and
the process group's locked bytes).

Kubelet-shaped trees of both drivers (issue 23): kubepods/{burstable,besteffort}/pod<uid>/<id>
(cgroupfs) and kubepods.slice/kubepods-{burstable,besteffort}.slice/...-pod<uid>.slice/
cri-containerd-<id>.scope (systemd), the kubepods root limited to 64 MiB as kubelet limits it to
the node's allocatable memory, the pods and containers without memory.max: a process in each
container touching 128 MiB is OOM-killed, and each pod shows oom_kill >= 1 by default (v2 counts
the kill in the container and in every ancestor); the kubepods roots and QoS levels have no
oom_kill series.
"""

import os
import re
import sys
import time
import unittest

from pagescope_test import parse_exposition, value
from test_live_cgroup_memory import KUBELET_TREES, assert_pods_show_oom_kills, kubelet_dirs

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lab"))
import guest as lab  # noqa: E402

MIB = 1 << 20
CG = "/sys/fs/cgroup"
PARENT = "pagescope-test"
SCOPE = r"machine.slice/machine-qemu\x2d1\x2dvm1.scope"


def quoted(path):
    return "'%s'" % path


class LabCgroupMemory(unittest.TestCase):
    def test_v2_high_throttling_oom_kill_and_locked_memory_with_identity(self):
        lab.skip_unless_qemu()
        args = ["--collector.cgroup_memory.parents=%s,machine.slice,%s" % (
            PARENT, ",".join(PARENT + "/" + root for root, _ in KUBELET_TREES))]
        with lab.Guest(pagescope_args=args) as g:
            if "memory" not in g.read(CG + "/cgroup.controllers").split():
                self.fail("the guest's cgroup2 has no memory controller")
            high, oom = CG + "/" + PARENT + "/high.service", CG + "/" + PARENT + "/oom.service"
            scope = CG + "/" + SCOPE
            g.run("mkdir -p %s %s %s" % (high, oom, quoted(scope)))
            for parent in (CG + "/" + PARENT, CG + "/machine.slice"):
                g.run("echo +memory > %s/cgroup.subtree_control" % parent)
            g.write(high + "/memory.high", 16 * MIB)
            g.write(oom + "/memory.max", 32 * MIB)
            # Throttled above memory.high, in the background.
            g.run("sh -c 'echo $$ > %s/cgroup.procs; (echo go; sleep 100000) | "
                  "exec touch_pages %d' >/dev/null 2>&1 &" % (high, 48 * MIB // 4096))
            deadline = time.monotonic() + 120
            while True:
                events = dict(l.split() for l in g.read(high + "/memory.events").splitlines())
                some = int(re.search(r"^some .*total=(\d+)", g.read(high + "/memory.pressure"),
                                     re.M).group(1))
                if int(events["high"]) > 0 and some > 0:
                    break
                self.assertLess(time.monotonic(), deadline, "no high events or stall: %s %d"
                                % (events, some))
                time.sleep(0.5)
            # OOM-killed above memory.max (the guest has no swap).
            rc, out = g.run_rc("sh -c 'echo $$ > %s/cgroup.procs; echo go | exec touch_pages "
                               "%d'" % (oom, 96 * MIB // 4096), timeout=120)
            self.assertNotEqual(rc, 0, out)
            # 8 MiB locked in the guest's scope.
            g.run("sh -c 'echo $$ > \"%s/cgroup.procs\"; sleep 100000 | exec mlock_hold 8' "
                  ">/dev/null 2>&1 &" % scope)
            deadline = time.monotonic() + 30
            while "VmLck:\t    8192 kB" not in g.run("cat /proc/$(pidof mlock_hold)/status "
                                                     "2>/dev/null || true"):
                self.assertLess(time.monotonic(), deadline, "mlock_hold did not lock its memory")
                time.sleep(0.5)

            # Kubelet-shaped trees: only the kubepods roots have a memory.max.
            dirs = kubelet_dirs(CG + "/" + PARENT)[1:]
            g.run("mkdir -p %s" % " ".join(quoted(d) for d in dirs))
            leaves = {os.path.join(CG, PARENT, root, q, pod, c)
                      for root, pods in KUBELET_TREES for q, pod, c, _, _ in pods}
            for d in dirs:
                if d not in leaves:
                    g.run("echo +memory > %s/cgroup.subtree_control" % quoted(d))
            for root, pods in KUBELET_TREES:
                g.write(CG + "/" + PARENT + "/" + root + "/memory.max", 64 * MIB)
                for q, pod, c, _, _ in pods:
                    container = "/".join((CG, PARENT, root, q, pod, c))
                    rc, out = g.run_rc("sh -c 'echo $$ > %s/cgroup.procs; echo go | exec "
                                       "touch_pages %d'" % (container, 128 * MIB // 4096),
                                       timeout=120)
                    self.assertNotEqual(rc, 0, "%s: %s" % (container, out))

            m = parse_exposition(g.scrape())
            assert_pods_show_oom_kills(self, m, PARENT, "guest v2")
            hl = {"cgroup": PARENT + "/high.service", "unit": "high.service"}
            ol = {"cgroup": PARENT + "/oom.service", "unit": "oom.service"}
            vl = {"vm": "vm1"}  # the scope only: what is inside a guest's scope is not read
            got = {k: value(m, n, **dict(l, **extra)) for k, n, l, extra in [
                ("high limit", "pagescope_cgroup_memory_limit_bytes", hl, {"limit": "high"}),
                ("high events", "pagescope_cgroup_memory_events_total", hl, {"event": "high"}),
                ("high stall", "pagescope_cgroup_pressure_memory_some_seconds_total", hl, {}),
                ("max limit", "pagescope_cgroup_memory_limit_bytes", ol, {"limit": "max"}),
                ("max events", "pagescope_cgroup_memory_events_total", ol, {"event": "max"}),
                ("oom kills", "pagescope_cgroup_memory_events_total", ol, {"event": "oom_kill"}),
                ("vm usage", "pagescope_cgroup_memory_usage_bytes", vl, {}),
                ("vm oom kills", "pagescope_cgroup_memory_events_total", vl,
                 {"event": "oom_kill"}),
                ("locked", "pagescope_process_locked_bytes", {"group": "mlock_hold"}, {}),
            ]}
            print("\nguest cgroup v2: %s" % got)
            self.assertEqual(got["high limit"], 16 * MIB)
            self.assertGreater(got["high events"], 0)
            self.assertGreater(got["high stall"], 0)
            self.assertEqual(got["max limit"], 32 * MIB)
            self.assertGreater(got["max events"], 0)
            self.assertGreaterEqual(got["oom kills"], 1)
            self.assertGreaterEqual(got["vm usage"], 8 * MIB)
            # No memory.max: no max or high event series, but its OOM kills (none here).
            self.assertEqual(got["vm oom kills"], 0)
            self.assertEqual(got["locked"], 8 * MIB)
            self.assertEqual(value(m, "pagescope_scrape_collector_success",
                                   collector="cgroup_memory"), 1)


if __name__ == "__main__":
    unittest.main()
