"""Shared helpers for pagescope's end-to-end and live-kernel tests (Python stdlib only).

- Exporter: runs the real binary on a random loopback port and scrapes it.
- parse_exposition: the text format into {(name, frozenset(labels)): value}.
- kernel_lock: tests that change kernel settings (hugepage pools, mounts, KSM, THP) hold this
  lock so two such tests never run at once, even from different checkouts.
- SysfsRestorer: remembers a setting and writes it back on exit, even when the test fails.
"""

import contextlib
import fcntl
import gzip
import os
import re
import signal
import subprocess
import tempfile
import time
import unittest
import urllib.error
import urllib.request

SOURCE_DIR = os.environ.get(
    "PAGESCOPE_SOURCE_DIR", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
BUILD_DIR = os.environ.get("PAGESCOPE_BUILD_DIR", os.path.join(SOURCE_DIR, "build"))
BINARY = os.environ.get("PAGESCOPE_BINARY", os.path.join(BUILD_DIR, "pagescope"))
TOOLS_DIR = os.path.join(BUILD_DIR, "tools")
FIXTURES = os.path.join(SOURCE_DIR, "tests", "fixtures")
GOLDEN = os.path.join(SOURCE_DIR, "tests", "golden")
KERNEL_LOCK = "/run/lock/pagescope-kernel-tests.lock" if os.path.isdir("/run/lock") \
    else "/tmp/pagescope-kernel-tests.lock"


def is_root():
    return os.geteuid() == 0


def require_root(test):
    """Skips a test (with a clear message) unless running as root."""
    return unittest.skipUnless(
        is_root(), "needs root: changes kernel settings (run the tests as root)")(test)


def tool(name):
    return os.path.join(TOOLS_DIR, name)


def all_collectors():
    """Every collector name, from --help."""
    out = subprocess.run([BINARY, "--help"], check=True, capture_output=True, text=True).stdout
    return re.findall(r"^\s+--collector\.([a-z0-9_]+)\s", out, re.M)


def fixture_args(case):
    base = os.path.join(FIXTURES, case)
    return ["--path.procfs=" + os.path.join(base, "proc"),
            "--path.sysfs=" + os.path.join(base, "sys"),
            "--path.rootfs=" + os.path.join(base, "root")]


def stop_process(proc, sig=signal.SIGTERM, timeout=10):
    """Ends a child a test (or a benchmark) started: `sig`, then SIGKILL after `timeout` s."""
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def start_child(cmd, ready, send=None):
    """Starts a test tool that talks on stdin/stdout: waits for its line `send[0]` and answers
    `send[1]` when given, then waits for its line `ready`; returns the Popen."""
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    if send is not None:
        line = p.stdout.readline().strip()
        if line != send[0]:
            raise RuntimeError("%s said %r" % (cmd, line))
        p.stdin.write(send[1] + "\n")
        p.stdin.flush()
    line = p.stdout.readline().strip()
    if line != ready:
        raise RuntimeError("%s said %r, not %r" % (cmd, line, ready))
    return p


POOL_2M = "/sys/kernel/mm/hugepages/hugepages-2048kB"


@contextlib.contextmanager
def children_with_known_figures(touched, extra=()):
    """Children with known figures, for tests that compare a source of per-process figures with
    /proc: touch_pages (`touched` pages touched: faults and resident pages), mlock_hold (8 MiB
    locked) and, when the 2 MiB pool can be raised by 2 pages (restored after), hugetlb_hold (two
    2 MiB hugetlb pages), plus (name, cmd, ready) of `extra`. Needs root; hold kernel_lock().
    Yields ({name: Popen}, whether the hugetlb child runs); the children end after."""
    with SysfsRestorer() as sysfs:
        have_pool = os.path.exists(POOL_2M)
        if have_pool:
            with open(POOL_2M + "/nr_hugepages") as f:
                sysfs.set(POOL_2M + "/nr_hugepages", int(f.read()) + 2)
        children = {}
        try:
            children["touch_pages"] = start_child([tool("touch_pages"), str(touched)], "touched",
                                                  send=("mapped", "go"))
            children["mlock_hold"] = start_child([tool("mlock_hold"), "8"], "ready")
            for name, cmd, ready in extra:
                children[name] = start_child(cmd, ready)
            if have_pool:
                children["hugetlb_hold"] = start_child(
                    [tool("hugetlb_hold"), "2048", "2", "2"], "ready")
            time.sleep(0.2)  # let the children settle (no assertion depends on time)
            yield children, have_pool
        finally:
            for child in children.values():
                child.stdin.close()  # each exits when its stdin closes
                stop_process(child, timeout=30)
                child.stdout.close()
        if not have_pool:
            print("\nno 2 MiB hugepage pool (%s): hugetlb figures compared as 0 only" % POOL_2M)


class Exporter:
    """The real pagescope binary on 127.0.0.1:<random port>."""

    def __init__(self, args=(), binary=None, env=None, prefix=()):
        """`prefix`: a command that runs the binary (setpriv ... --, to run it as another
        user)."""
        self.log = tempfile.NamedTemporaryFile(prefix="pagescope-log-", suffix=".txt",
                                               delete=False)
        cmd = list(prefix) + [binary or BINARY, "--web.listen-address=127.0.0.1:0"] + list(args)
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT,
                                     env=env)
        self.port = None
        deadline = time.time() + 20
        while time.time() < deadline:
            m = re.search(r'(?:msg=listening|"msg":"listening").*?ports[=":]+(\d+)', self.log_text())
            if m:
                self.port = int(m.group(1))
                break
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        if self.port is None:
            log = self.log_text()
            self.stop()
            raise RuntimeError("pagescope did not start: " + log)

    def log_text(self):
        with open(self.log.name, encoding="utf-8", errors="replace") as f:
            return f.read()

    def url(self, path="/metrics"):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def get(self, path="/metrics", headers=None, method="GET", timeout=30):
        """Returns (status, headers, body bytes); never raises for HTTP errors."""
        req = urllib.request.Request(self.url(path), headers=headers or {}, method=method)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()

    def scrape(self, path="/metrics"):
        status, headers, body = self.get(path, headers={"Accept-Encoding": "gzip"})
        if status != 200:
            raise AssertionError("scrape %s: HTTP %d %s" % (path, status, body[:200]))
        if headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        return body.decode()

    def metrics(self, path="/metrics"):
        return parse_exposition(self.scrape(path))

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self):
        stop_process(self.proc)
        self.log.close()
        with contextlib.suppress(OSError):
            os.unlink(self.log.name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_exposition(text):
    """{(name, frozenset({(label, value)})): float} for every sample."""
    out = {}
    # Only "\n" ends a line in the text format (str.splitlines would also split at "\r" and
    # other characters a label value may hold).
    for line in text.split("\n"):
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        if not m:
            raise ValueError("bad exposition line: " + line)
        labels = frozenset(_LABEL.findall(m.group(3) or ""))
        out[(m.group(1), labels)] = float(m.group(4))
    return out


def value(metrics, name, **labels):
    """The value of the one sample of `name` whose labels include `labels`; None if none."""
    found = [v for (n, ls), v in metrics.items()
             if n == name and set(labels.items()) <= set(ls)]
    if len(found) > 1:
        raise AssertionError("%s%s matches %d samples" % (name, labels, len(found)))
    return found[0] if found else None


def normalize(text):
    """Drops the samples that change from run to run (durations, build info, the exporter's
    process_* and HTTP request metrics) and the deadline counters (0 on fixtures)."""
    keep = []
    for line in text.splitlines():
        if "pagescope_scrape_collector_duration_seconds" in line:
            continue
        if "pagescope_scrape_walk_seconds_total" in line:
            continue
        if "pagescope_scrape_walk_max_seconds" in line:
            continue
        if re.match(r"^(# (HELP|TYPE) )?(process_|pagescope_http_)", line):
            continue
        if "pagescope_scrape_collector_deadline_exceeded_total" in line:
            continue
        if "pagescope_build_info" in line:
            continue
        keep.append(line)
    return "\n".join(keep) + "\n"


@contextlib.contextmanager
def kernel_lock():
    """Serializes tests that change kernel state."""
    with open(KERNEL_LOCK, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


class SysfsRestorer:
    """Writes values to sysfs/procfs files and restores the originals on exit (reverse order)."""

    def __init__(self):
        self.saved = []

    def read(self, path):
        with open(path) as f:
            return f.read().strip()

    def set(self, path, new_value):
        self.saved.append((path, self.read(path)))
        with open(path, "w") as f:
            f.write(str(new_value))

    def restore(self):
        errors = []
        for path, old in reversed(self.saved):
            try:
                with open(path, "w") as f:
                    f.write(old)
            except OSError as e:
                errors.append("%s: %s" % (path, e))
        self.saved = []
        if errors:
            raise RuntimeError("could not restore: " + "; ".join(errors))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.restore()


def meminfo():
    """/proc/meminfo as {key: int} (kB values stay in kB)."""
    out = {}
    with open("/proc/meminfo") as f:
        for line in f:
            k, v = line.split(":", 1)
            out[k] = int(v.split()[0])
    return out


def promtool_check_metrics(text):
    """Returns (exit code, output) of `promtool check metrics` on the exposition text."""
    r = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                       text=True)
    return r.returncode, (r.stdout + r.stderr).strip()
