"""Least privilege on the real kernel: the exporter works as an unprivileged user (with at most
as many series as root), and --web.drop-privileges-to switches every thread to the user with only
CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH left (and CAP_PERFMON, which the tlb collector declares,
only when it is enabled; CAP_BPF and CAP_PERFMON for the processes collector with source=bpf). Needs root (to become nobody); skips otherwise."""

import os
import resource
import signal
import subprocess
import tempfile
import time
import unittest

from pagescope_test import BINARY, Exporter, all_collectors, is_root, tool, value

SUCCESS = "pagescope_scrape_collector_success"
NOBODY = 65534
SETPRIV = ["setpriv", "--reuid=%d" % NOBODY, "--regid=%d" % NOBODY, "--clear-groups",
           "--inh-caps=-all", "--bounding-set=-all", "--"]
CAP_DAC_READ_SEARCH, CAP_SYS_PTRACE, CAP_PERFMON, CAP_BPF = 2, 19, 38, 39


def successes(m):
    return {dict(ls)["collector"]: v for (n, ls), v in m.items() if n == SUCCESS}


def status_fields(path):
    with open(path) as f:
        return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)


@unittest.skipUnless(is_root(), "needs root: runs the exporter as nobody (run the tests as root)")
class Privileges(unittest.TestCase):
    def collectors_args(self):
        return ["--collector." + c for c in all_collectors()]

    def scrape(self, exp):
        exp.metrics()
        return exp.metrics()

    def test_runs_as_nobody_with_fewer_or_equal_series(self):
        with Exporter(self.collectors_args()) as exp:
            as_root = self.scrape(exp)
        with _NobodyExporter(self.collectors_args()) as exp:
            uid = status_fields("/proc/%d/status" % exp.pid())["Uid"].split()
            self.assertEqual(set(uid), {str(NOBODY)})
            as_nobody = self.scrape(exp)
        print("series as root: %d, as nobody: %d; success as nobody: %s"
              % (len(as_root), len(as_nobody), successes(as_nobody)))
        self.assertLessEqual(len(as_nobody), len(as_root))
        self.assertGreater(len(as_nobody), 0)
        # Nothing fails outright: files we may not read give no series, not errors.
        self.assertTrue(all(v == 1 for v in successes(as_nobody).values()),
                        successes(as_nobody))

    def test_drop_privileges_to_nobody(self):
        tmp = tempfile.mkdtemp(prefix="pagescope-priv-")
        web = os.path.join(tmp, "web.yml")
        with open(web, "w") as f:
            f.write("http_server_config:\n  headers:\n    X-Frame-Options: deny\n")
        os.chmod(web, 0o600)  # root-only: re-reading it needs CAP_DAC_READ_SEARCH
        try:
            with Exporter(self.collectors_args()) as exp:
                as_root = self.scrape(exp)
            with Exporter(self.collectors_args() + ["--web.drop-privileges-to=nobody",
                                                    "--web.config.file=" + web]) as exp:
                as_dropped = self.scrape(exp)
                tasks = os.listdir("/proc/%d/task" % exp.proc.pid)
                # main, the event loop, the scrape and the password-check threads, and the
                # collectors' pool threads (exporter/workers.h: one, and more while one is slow)
                self.assertTrue(5 <= len(tasks) <= 4 + 4, tasks)  # Workers::kKeepIdle idle
                want = (1 << CAP_DAC_READ_SEARCH) | (1 << CAP_SYS_PTRACE)
                if "tlb" in all_collectors():  # enabled here: it keeps CAP_PERFMON
                    want |= 1 << CAP_PERFMON
                for tid in tasks:
                    st = status_fields("/proc/%d/task/%s/status" % (exp.proc.pid, tid))
                    self.assertEqual(set(st["Uid"].split()), {str(NOBODY)}, tid)
                    self.assertEqual(set(st["Gid"].split()), {str(NOBODY)}, tid)
                    self.assertEqual(st["Groups"].strip(), "", tid)
                    for field in ("CapEff", "CapPrm", "CapBnd"):
                        self.assertEqual(int(st[field], 16), want, (tid, field))
                    self.assertEqual(int(st["CapInh"], 16), 0)
                    self.assertEqual(st["NoNewPrivs"].strip(), "1")
                self.assertEqual(exp.get("/-/healthy")[1].get("X-Frame-Options"), "deny")
                with open(web, "w") as f:
                    f.write("http_server_config:\n  headers:\n    X-Frame-Options: sameorigin\n")
                exp.signal(signal.SIGHUP)
                deadline = time.time() + 10
                while "web configuration reloaded" not in exp.log_text() and time.time() < deadline:
                    time.sleep(0.05)
                self.assertEqual(exp.get("/-/healthy")[1].get("X-Frame-Options"), "sameorigin",
                                 exp.log_text())
            print("success as root: %s; after dropping to nobody: %s"
                  % (successes(as_root), successes(as_dropped)))
            self.assertEqual(successes(as_dropped), successes(as_root))
        finally:
            os.unlink(web)
            os.rmdir(tmp)

    def test_perfmon_and_descriptors_only_for_the_tlb_collector(self):
        """CAP_PERFMON and the raised descriptor limit come from what the enabled collectors
        declare: with tlb (max_counters 5000) both, without it neither."""
        def limits(pid):
            with open("/proc/%d/limits" % pid) as f:
                for line in f:
                    if line.startswith("Max open files"):
                        soft, hard = line.split()[3:5]
                        return int(soft), (None if hard == "unlimited" else int(hard))
            self.fail("no open files limit")

        # A soft limit below what the counters need (the exporter inherits it); restored after.
        saved = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (1024, saved[1]))
        try:
            own_soft, own_hard = limits(os.getpid())
            drop = ["--web.drop-privileges-to=nobody", "--collector.meminfo"]
            for tlb in (False, True):
                args = drop + (["--collector.tlb", "--collector.tlb.max-counters=5000"]
                               if tlb else [])
                with Exporter(args) as exp:
                    exp.metrics()
                    st = status_fields("/proc/%d/status" % exp.proc.pid)
                    soft, hard = limits(exp.proc.pid)
                    kept = [l for l in exp.log_text().splitlines() if "dropped privileges" in l]
                base = (1 << CAP_DAC_READ_SEARCH) | (1 << CAP_SYS_PTRACE)
                print("tlb %s: CapEff %s, open files %d (own %d)"
                      % (tlb, st["CapEff"], soft, own_soft))
                want_caps = base | ((1 << CAP_PERFMON) if tlb else 0)
                self.assertEqual(int(st["CapEff"], 16), want_caps)
                self.assertEqual(int(st["CapBnd"], 16), want_caps)
                self.assertEqual(len(kept), 1, kept)
                self.assertEqual("CAP_PERFMON" in kept[0], tlb, kept[0])
                self.assertEqual(hard, own_hard)
                want = own_soft
                if tlb:
                    want = 5000 + 1024 if own_hard is None else min(5000 + 1024, own_hard)
                self.assertEqual(soft, want)
        finally:
            resource.setrlimit(resource.RLIMIT_NOFILE, saved)

    @unittest.skipUnless(os.path.exists(tool("bpf_tasks")),
                         "built without the BPF task source (PAGESCOPE_BPF)")
    def test_bpf_source_keeps_cap_bpf_and_cap_perfmon(self):
        """processes with source=bpf declares CAP_BPF and CAP_PERFMON: as nobody with only those
        beyond the defaults, the BPF task iterator loads after the drop and counts this test."""
        with Exporter(["--web.drop-privileges-to=nobody", "--collector.disable-defaults",
                       "--collector.processes", "--collector.processes.source=bpf"]) as exp:
            m = exp.metrics()
            st = status_fields("/proc/%d/status" % exp.proc.pid)
            kept = [l for l in exp.log_text().splitlines() if "dropped privileges" in l]
        want = ((1 << CAP_DAC_READ_SEARCH) | (1 << CAP_SYS_PTRACE) | (1 << CAP_PERFMON)
                | (1 << CAP_BPF))
        self.assertEqual(int(st["CapEff"], 16), want)
        self.assertEqual(int(st["Uid"].split()[0]), NOBODY)
        self.assertEqual(len(kept), 1, kept)
        self.assertIn("CAP_BPF", kept[0])
        self.assertEqual(successes(m).get("processes"), 1)
        self.assertGreaterEqual(value(m, "pagescope_process_num_procs", group="python3") or 0, 1)

    def test_drop_privileges_needs_root_and_a_real_user(self):
        r = subprocess.run(SETPRIV + [BINARY, "--web.listen-address=127.0.0.1:0",
                                      "--web.drop-privileges-to=nobody"],
                           capture_output=True, text=True, timeout=20)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("needs to start as root", r.stdout + r.stderr)
        r = subprocess.run([BINARY, "--web.listen-address=127.0.0.1:0",
                            "--web.drop-privileges-to=no-such-user-here"],
                           capture_output=True, text=True, timeout=20)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("no such user", r.stdout + r.stderr)


class _NobodyExporter(Exporter):
    """The exporter started through setpriv as nobody, with no capabilities at all."""

    def __init__(self, args):
        real_popen = subprocess.Popen

        def popen(cmd, **kw):
            return real_popen(SETPRIV + cmd, **kw)
        subprocess.Popen = popen
        try:
            super().__init__(args, binary=BINARY)
        finally:
            subprocess.Popen = real_popen

    def pid(self):
        return self.proc.pid  # setpriv execs the binary: same pid


if __name__ == "__main__":
    unittest.main()
