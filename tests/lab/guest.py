"""A multi-node guest lab: Debian's kernel in QEMU with two NUMA nodes and 1 GiB page support.

    with Guest(build_dir) as g:            # boots; raises GuestError when it cannot
        out = g.run("cat /proc/cmdline")    # a shell command in the guest: its output (str)
        rc, out = g.run_rc("false")         # ... and its exit code
        g.metrics()                         # pagescope in the guest, scraped through hostfwd
        g.port                              # the forwarded loopback port (for Prometheus)

What it uses (Python stdlib only, plus Debian tools):
- The kernel: linux-image-<version>-amd64, the version Debian's linux-image-amd64 depends on,
  and busybox-static, fetched with `apt-get download` into a cache directory
  (PAGESCOPE_LAB_CACHE, else /var/cache/pagescope-lab when writable, else BUILD_DIR/lab-cache)
  and unpacked with `dpkg -x`. Only apt is used, so it works wherever the package mirror works.
- The initramfs (cpio newc, written here): busybox, pagescope and the workload tools from the
  build tree with the shared libraries `ldd` lists (and the dynamic loader), and the kernel
  modules virtio_net needs (their order read from each module's .modinfo "depends=").
- QEMU: q35, qemu64 with pdpe1gb, TCG (KVM when /dev/kvm is usable), one CPU and one
  memory-backend-ram per node, user-mode networking with hostfwd from 127.0.0.1:<free port> to
  pagescope's 9724 in the guest. memory-backend-ram is not preallocated: the host only pays for
  what the guest touches.
- The command channel: a second serial port (ttyS1, a UNIX socket on the host) where a shell loop
  in the guest reads base64-framed commands and answers with base64-framed output and exit code.
  The console (ttyS0, the kernel log and init's messages) goes to console.log in the work dir.
"""

import base64
import contextlib
import glob
import gzip
import io
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.request

GUEST_PORT = 9724
# Nodes: (memory MiB). Node 0 needs 4 GiB: under q35 its RAM is split by the PCI hole and the
# kernel's own allocations sit at the top of the low part, so with 3 GiB neither a boot-time nor
# a run-time 1 GiB page can be had there.
DEFAULT_NODES = (4096, 2048)
# nokaslr: with the kernel image at a random physical address, it sometimes sits in the one
# aligned free gigabyte of node 0 and the boot-time 1 GiB page there is not had.
# Per node and size, set on the kernel command line (the per-node form, Linux >= 5.16).
DEFAULT_POOLS = {"1G": (1, 1), "2M": (64, 32)}
NET_MODULES = ("virtio_net",)


def skip_unless_qemu():
    """Raises unittest.SkipTest (every test of the lab skipped) where QEMU is not installed."""
    if not shutil.which("qemu-system-x86_64"):
        raise unittest.SkipTest("ALL SKIPPED: qemu-system-x86_64 is not installed "
                                "(scripts/install-deps.sh all installs it)")


class GuestError(RuntimeError):
    pass


def _source_dir():
    return os.environ.get("PAGESCOPE_SOURCE_DIR",
                          os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))


def cache_dir(build_dir):
    d = os.environ.get("PAGESCOPE_LAB_CACHE")
    if d:
        return d
    sys_dir = "/var/cache/pagescope-lab"
    if os.path.isdir(sys_dir) and os.access(sys_dir, os.W_OK):
        return sys_dir
    if not os.path.exists(sys_dir) and os.access("/var/cache", os.W_OK):
        return sys_dir
    return os.path.join(build_dir, "lab-cache")


def _run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise GuestError("%s failed (exit %d): %s" % (" ".join(cmd), r.returncode,
                                                        (r.stderr or r.stdout).strip()[-2000:]))
    return r.stdout


def kernel_package():
    """linux-image-<version>-amd64: what Debian's linux-image-amd64 depends on now."""
    r = subprocess.run(["apt-cache", "depends", "linux-image-amd64"], capture_output=True,
                       text=True)
    m = re.search(r"Depends:\s+(linux-image-\S+-amd64)\b", r.stdout)
    if not m and os.geteuid() == 0:
        # A fresh machine (or container) may have no package lists yet.
        _run(["apt-get", "update", "-qq"])
        r = subprocess.run(["apt-cache", "depends", "linux-image-amd64"], capture_output=True,
                           text=True)
        m = re.search(r"Depends:\s+(linux-image-\S+-amd64)\b", r.stdout)
    out = r.stdout + r.stderr
    if not m:
        raise GuestError("apt-cache depends linux-image-amd64: no linux-image-*-amd64 in:\n" + out)
    return m.group(1)


def _download(cache, package):
    """Unpacked tree of `package` under cache/<package>/ (downloaded once, then reused)."""
    root = os.path.join(cache, "tree", package)
    if os.path.isfile(os.path.join(root, ".unpacked")):
        return root
    debs = os.path.join(cache, "debs")
    os.makedirs(debs, exist_ok=True)
    found = glob.glob(os.path.join(debs, package + "_*.deb"))
    if not found:
        # _apt cannot write to a root-owned directory: apt warns and downloads as root (fine).
        _run(["apt-get", "download", "-q", package], cwd=debs)
        found = glob.glob(os.path.join(debs, package + "_*.deb"))
        if not found:
            raise GuestError("apt-get download %s left no .deb in %s" % (package, debs))
    if os.path.isdir(root):
        shutil.rmtree(root)
    os.makedirs(root)
    _run(["dpkg", "-x", sorted(found)[-1], root])
    open(os.path.join(root, ".unpacked"), "w").close()
    return root


def guest_kernel(build_dir):
    """(vmlinuz path, modules dir, kernel version, busybox path)."""
    cache = cache_dir(build_dir)
    os.makedirs(cache, exist_ok=True)
    pkg = kernel_package()
    ktree = _download(cache, pkg)
    bbtree = _download(cache, "busybox-static")
    vmlinuz = glob.glob(os.path.join(ktree, "boot", "vmlinuz-*"))
    mods = glob.glob(os.path.join(ktree, "lib", "modules", "*"))
    if not vmlinuz or not mods:
        raise GuestError("%s unpacked in %s has no boot/vmlinuz-* or lib/modules/*" % (pkg, ktree))
    return vmlinuz[0], mods[0], os.path.basename(mods[0]), os.path.join(bbtree, "bin", "busybox")


def _modinfo_depends(path):
    with open(path, "rb") as f:
        data = f.read()
    if path.endswith(".xz"):
        import lzma
        data = lzma.decompress(data)
    m = re.search(rb"(?:^|\x00)depends=([^\x00]*)\x00", data)
    return [d for d in (m.group(1).decode().split(",") if m else []) if d]


def module_order(modules_dir, names):
    """Paths of `names` and everything they depend on, dependencies first."""
    by_name = {}
    for path in glob.glob(os.path.join(modules_dir, "kernel", "**", "*.ko*"), recursive=True):
        name = re.sub(r"\.ko(\.xz)?$", "", os.path.basename(path)).replace("-", "_")
        by_name[name] = path
    order, seen = [], set()

    def visit(name):
        name = name.replace("-", "_")
        if name in seen:
            return
        seen.add(name)
        if name not in by_name:
            raise GuestError("module %s not in %s" % (name, modules_dir))
        for dep in _modinfo_depends(by_name[name]):
            visit(dep)
        order.append(by_name[name])

    for n in names:
        visit(n)
    # virtio_net's depends= does not name the PCI transport (it binds through the virtio bus).
    for extra in ("virtio_pci",):
        if extra in by_name and extra not in seen:
            visit(extra)
    return order


class Cpio:
    """A cpio archive in the "newc" format, as the kernel's initramfs unpacker reads it."""

    def __init__(self):
        self.buf = io.BytesIO()
        self.ino = 1
        self.dirs = set()

    def _entry(self, name, mode, data=b"", nlink=1):
        name_b = name.encode() + b"\x00"
        hdr = "070701" + "".join("%08X" % v for v in (
            self.ino, mode, 0, 0, nlink, 0, len(data), 0, 0, 0, 0, len(name_b), 0))
        self.ino += 1
        self.buf.write(hdr.encode() + name_b)
        self.buf.write(b"\x00" * ((4 - (110 + len(name_b)) % 4) % 4))
        self.buf.write(data)
        self.buf.write(b"\x00" * ((4 - len(data) % 4) % 4))

    def mkdir(self, path):
        path = path.strip("/")
        if not path or path in self.dirs:
            return
        self.mkdir(os.path.dirname(path))
        self.dirs.add(path)
        self._entry(path, 0o040755, nlink=2)

    def file(self, path, data, mode=0o755):
        path = path.strip("/")
        self.mkdir(os.path.dirname(path))
        self._entry(path, 0o100000 | mode, data)

    def symlink(self, path, target):
        path = path.strip("/")
        self.mkdir(os.path.dirname(path))
        self._entry(path, 0o120777, target.encode())

    def copy(self, host_path, path=None, mode=0o755):
        with open(host_path, "rb") as f:
            self.file(path or os.path.realpath(host_path), f.read(), mode)

    def finish(self):
        self._entry("TRAILER!!!", 0)
        return self.buf.getvalue()


def shared_libraries(binary):
    """Host paths of the shared libraries (and the loader) a dynamic executable needs."""
    r = subprocess.run(["ldd", binary], capture_output=True, text=True)
    if r.returncode != 0:
        if "not a dynamic executable" in r.stdout + r.stderr:
            return []
        raise GuestError("ldd %s: %s" % (binary, r.stderr.strip()))
    libs = []
    for line in r.stdout.splitlines():
        m = re.search(r"(?:=>\s*)?(/\S+)\s+\(0x", line)
        if m:
            libs.append(m.group(1))
        elif "not found" in line:
            raise GuestError("ldd %s: %s" % (binary, line.strip()))
    return libs


INIT = r"""#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /tmp /run /sys/fs/cgroup /dev/hugepages /dev/hugepages1G
mount -t tmpfs tmp /tmp
mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>/dev/null
for c in $(cat /sys/fs/cgroup/cgroup.controllers); do
  echo "+$c" > /sys/fs/cgroup/cgroup.subtree_control 2>/dev/null
done
mount -t hugetlbfs -o pagesize=2M none /dev/hugepages
mount -t hugetlbfs -o pagesize=1G none /dev/hugepages1G
for m in $(cat /etc/modules.order); do insmod "$m" || echo "LAB: insmod $m failed"; done
ip link set lo up
ip link set eth0 up && ip addr add 10.0.2.15/24 dev eth0 && ip route add default via 10.0.2.2
/bin/pagescope --web.listen-address=:%(port)d %(args)s > /tmp/pagescope.log 2>&1 &
echo $! > /run/pagescope.pid
stty -F /dev/ttyS1 raw -echo -ixon -ixoff 2>/dev/null
echo "LAB: READY $(cut -d' ' -f1 /proc/uptime)"
exec /bin/sh /bin/lab-shell < /dev/ttyS1 > /dev/ttyS1 2>&1
"""

# One command per line: base64 of the command. Answer: a line "@@LAB <rc> <base64 output>".
SHELL = r"""while read -r line; do
  echo "$line" | base64 -d > /tmp/.lab-cmd 2>/dev/null
  sh /tmp/.lab-cmd > /tmp/.lab-out 2>&1 < /dev/null
  rc=$?
  echo "@@LAB $rc $(base64 -w 0 < /tmp/.lab-out)"
done
"""


def build_initramfs(out_path, busybox, binaries, modules, pagescope_args=(), files=None):
    """`files`: {guest path: host path} copied as they are (with the libraries they need), such
    as pagescope's own modules (lib/pagescope/*.so)."""
    c = Cpio()
    for d in ("bin", "dev", "proc", "sys", "tmp", "run", "etc", "lib", "lib64"):
        c.mkdir(d)
    c.copy(busybox, "bin/busybox")
    libs = set()
    for name, path in binaries.items():
        # Without debug information (pagescope's is most of its 34 MB): a smaller initramfs
        # unpacks faster under TCG.
        stripped = out_path + "." + name
        if shutil.which("strip") and subprocess.run(
                ["strip", "--strip-debug", "-o", stripped, path]).returncode == 0:
            c.copy(stripped, "bin/" + name)
            os.unlink(stripped)
        else:
            c.copy(path, "bin/" + name)
        libs.update(shared_libraries(path))
    for guest_path, host_path in sorted((files or {}).items()):
        c.copy(host_path, guest_path)
        libs.update(shared_libraries(host_path))
    for lib in sorted(libs):
        c.copy(lib, lib)                     # the path the binary asks for (as ldd prints it)
        real = os.path.realpath(lib)
        if real != lib:
            c.copy(real, real)
    guest_mods = []
    for m in modules:
        target = "lib/modules/" + os.path.basename(m)
        c.copy(m, target, mode=0o644)
        guest_mods.append("/" + target)
    c.file("etc/modules.order", ("\n".join(guest_mods) + "\n").encode(), 0o644)
    c.file("etc/passwd", b"root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
           0o644)
    c.file("etc/group", b"root:x:0:\nnogroup:x:65534:\n", 0o644)
    args = " ".join("'%s'" % a.replace("'", "'\\''") for a in pagescope_args)
    c.file("init", (INIT % {"port": GUEST_PORT, "args": args}).encode())
    c.file("bin/lab-shell", SHELL.encode())
    with open(out_path, "wb") as f:
        f.write(gzip.compress(c.finish(), compresslevel=1))


def _die_with_parent():
    """QEMU gets SIGKILL when the test process dies (prctl PR_SET_PDEATHSIG)."""
    import ctypes
    ctypes.CDLL(None, use_errno=True).prctl(1, 9, 0, 0, 0)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def kvm_usable():
    """KVM only when it can give the guest what the lab needs: /dev/kvm usable and a host CPU
    with virtualisation and 1 GiB pages (pdpe1gb). A VM host often has /dev/kvm without either:
    then TCG, which emulates pdpe1gb. PAGESCOPE_LAB_ACCEL=tcg|kvm overrides."""
    forced = os.environ.get("PAGESCOPE_LAB_ACCEL")
    if forced:
        return forced == "kvm"
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return False
    with open("/proc/cpuinfo") as f:
        flags = next((line.split(":", 1)[1].split() for line in f
                      if line.startswith("flags")), [])
    return ("vmx" in flags or "svm" in flags) and "pdpe1gb" in flags


def cmdline_pools(pools):
    """hugepagesz=1G hugepages=0:1,1:1 hugepagesz=2M hugepages=0:64,1:32"""
    parts = []
    for size, per_node in pools.items():
        parts.append("hugepagesz=%s hugepages=%s" % (
            size, ",".join("%d:%d" % (n, c) for n, c in enumerate(per_node))))
    return " ".join(parts)


class Guest:
    """A booted guest; use as a context manager (the QEMU process is killed by PID on exit)."""

    def __init__(self, build_dir=None, nodes=DEFAULT_NODES, pools=None, extra_cmdline="",
                 pagescope_args=(), tools=None, boot_timeout=None, pagescope_modules=()):
        """`pagescope_modules`: names of pagescope's modules (e.g. "pagescope-bpf.so") to put
        in the guest's /lib/pagescope, where /bin/pagescope and the tools look for them."""
        self.pagescope_modules = tuple(pagescope_modules)
        self.build_dir = build_dir or os.environ.get(
            "PAGESCOPE_BUILD_DIR", os.path.join(_source_dir(), "build"))
        self.nodes = tuple(nodes)
        self.pools = dict(DEFAULT_POOLS if pools is None else pools)
        self.workdir = tempfile.mkdtemp(prefix="pagescope-lab-")
        self.proc = None
        self.sock = None
        self._rbuf = b""
        try:
            self._boot(extra_cmdline, pagescope_args, tools, boot_timeout)
        except BaseException:
            self.close()
            raise

    def _boot(self, extra_cmdline, pagescope_args, tools, boot_timeout):
        qemu = shutil.which("qemu-system-x86_64")
        if not qemu:
            raise GuestError("qemu-system-x86_64 not installed (scripts/install-deps.sh)")
        t0 = time.monotonic()
        vmlinuz, mods_dir, self.kernel_version, busybox = guest_kernel(self.build_dir)
        binaries = {"pagescope": os.environ.get("PAGESCOPE_BINARY",
                                                os.path.join(self.build_dir, "pagescope"))}
        tools_dir = os.path.join(self.build_dir, "tools")
        for t in tools if tools is not None else sorted(os.listdir(tools_dir)):
            binaries[t] = os.path.join(tools_dir, t)
        initrd = os.path.join(self.workdir, "initramfs.cpio.gz")
        files = {"lib/pagescope/" + m: os.path.join(self.build_dir, "lib", "pagescope", m)
                 for m in self.pagescope_modules}
        build_initramfs(initrd, busybox, binaries, module_order(mods_dir, NET_MODULES),
                        pagescope_args, files)
        self.prepare_seconds = time.monotonic() - t0

        self.port = free_port()
        self.cmdline = " ".join(filter(None, [
            "console=ttyS0", "panic=-1", "loglevel=4", "tsc=reliable", "nokaslr",
            cmdline_pools(self.pools), extra_cmdline]))
        self.kvm = kvm_usable()
        cmd = [qemu, "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
               "-machine", "q35",
               # TCG's translation cache defaults to 1 GiB of host memory; 128 MiB is plenty.
               "-accel", "kvm" if self.kvm else "tcg,tb-size=128",
               "-cpu", "qemu64,+pdpe1gb", "-smp", str(len(self.nodes)),
               "-m", "%dM" % sum(self.nodes)]
        for i, mib in enumerate(self.nodes):
            cmd += ["-object", "memory-backend-ram,id=m%d,size=%dM" % (i, mib),
                    "-numa", "node,nodeid=%d,cpus=%d,memdev=m%d" % (i, i, i)]
        self.console_log = os.path.join(self.workdir, "console.log")
        sock_path = os.path.join(self.workdir, "cmd.sock")
        cmd += ["-chardev", "file,id=con,path=" + self.console_log, "-serial", "chardev:con",
                "-chardev", "socket,id=cmd,path=%s,server=on,wait=off" % sock_path,
                "-serial", "chardev:cmd",
                "-netdev", "user,id=n0,hostfwd=tcp:127.0.0.1:%d-:%d" % (self.port, GUEST_PORT),
                "-device", "virtio-net-pci,netdev=n0,romfile=",
                "-kernel", vmlinuz, "-initrd", initrd, "-append", self.cmdline]
        self.qemu_cmd = cmd
        self.qemu_log = open(os.path.join(self.workdir, "qemu.log"), "w")
        t1 = time.monotonic()
        self.proc = subprocess.Popen(cmd, stdout=self.qemu_log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)
        deadline = t1 + (boot_timeout or (120 if self.kvm else 300))
        while not os.path.exists(sock_path):
            self._check_alive(deadline)
            time.sleep(0.05)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(sock_path)
        while "LAB: READY" not in self.console():
            self._check_alive(deadline)
            time.sleep(0.1)
        self.boot_seconds = time.monotonic() - t1
        m = re.search(r"LAB: READY ([\d.]+)", self.console())
        self.guest_uptime_at_ready = float(m.group(1))
        self.run("true", timeout=max(1, deadline - time.monotonic()))
        # pagescope in the guest answers through the forwarded port.
        while True:
            try:
                self.scrape(timeout=5)
                break
            except OSError as e:
                if time.monotonic() > deadline:
                    raise GuestError("pagescope in the guest did not answer on 127.0.0.1:%d "
                                     "(%s); its log:\n%s" % (self.port, e, self.run_rc(
                                         "cat /tmp/pagescope.log; ps; ip addr")[1]))
                self._check_alive(deadline)
                time.sleep(0.3)
        self.ready_seconds = time.monotonic() - t1

    def _check_alive(self, deadline, what="the guest did not reach init's READY"):
        if self.proc.poll() is not None:
            raise GuestError("QEMU exited (%d): %s\n--- console:\n%s" % (
                self.proc.returncode, self._file(self.qemu_log.name)[-2000:],
                self.console()[-4000:]))
        if time.monotonic() > deadline:
            raise GuestError("%s in time\n--- console:\n%s" % (what, self.console()[-4000:]))

    @staticmethod
    def _file(path):
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def console(self):
        """Everything the guest wrote to its console (ttyS0) so far."""
        return self._file(self.console_log)

    def run_rc(self, command, timeout=60):
        """Runs `command` with /bin/sh in the guest; returns (exit code, stdout+stderr)."""
        self.sock.sendall(base64.b64encode(command.encode()) + b"\n")
        deadline = time.monotonic() + timeout
        while b"\n" not in self._rbuf or b"@@LAB " not in self._rbuf:
            self.sock.settimeout(max(0.1, deadline - time.monotonic()))
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                chunk = None
            if not chunk:
                if self.proc.poll() is not None or time.monotonic() > deadline or chunk == b"":
                    raise GuestError("no answer from the guest to %r\n--- console:\n%s" % (
                        command, self.console()[-3000:]))
                continue
            self._rbuf += chunk
            start = self._rbuf.find(b"@@LAB ")
            if start > 0:
                self._rbuf = self._rbuf[start:]
            if start >= 0 and b"\n" in self._rbuf:
                break
        line, self._rbuf = self._rbuf.split(b"\n", 1)
        _, rc, *payload = line.strip().split(b" ", 2)
        return int(rc), base64.b64decode(payload[0] if payload else b"").decode(
            errors="replace")

    def run(self, command, timeout=60):
        """Runs `command` in the guest; returns its output; raises GuestError when it fails."""
        rc, out = self.run_rc(command, timeout)
        if rc != 0:
            raise GuestError("guest command %r exited %d: %s" % (command, rc, out))
        return out

    def read(self, path):
        return self.run("cat " + path)

    def start(self, command, out, timeout=120):
        """Starts `command` in the background with its output in the file `out` and waits for its
        line that starts with "ready "; returns (pid, that line). Raises GuestError with the
        output when the command exits first or does not get ready within `timeout` s."""
        pid = self.run("%s > %s 2>&1 & echo $!" % (command, out)).strip()
        deadline = time.monotonic() + timeout
        while True:
            text = self.run("cat " + out)
            ready = [line for line in text.splitlines() if line.startswith("ready ")]
            if ready:
                return pid, ready[0]
            if self.run_rc("kill -0 %s" % pid)[0] != 0 or time.monotonic() > deadline:
                raise GuestError("%r did not get ready: %s" % (command, text))
            time.sleep(0.5)

    def write(self, path, value):
        self.run("echo %s > %s" % (value, path))

    def scrape(self, timeout=30):
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % self.port,
                                    timeout=timeout) as r:
            return r.read().decode()

    def qemu_rss_bytes(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        return None

    def close(self):
        if self.sock is not None:
            with contextlib.suppress(OSError):
                self.sock.close()
            self.sock = None
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if getattr(self, "qemu_log", None):
            self.qemu_log.close()
        if os.environ.get("PAGESCOPE_LAB_KEEP"):
            print("lab: kept", self.workdir)
        else:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


if __name__ == "__main__":
    # python3 tests/lab/guest.py [BUILD_DIR]: boot, print timings and a few facts, then stop.
    import sys
    with Guest(sys.argv[1] if len(sys.argv) > 1 else None) as g:
        print("kernel %s, %s, prepare %.1f s, boot to init %.1f s (guest uptime %.1f s), "
              "pagescope answering %.1f s, QEMU RSS %.0f MiB" % (
                  g.kernel_version, "kvm" if g.kvm else "tcg", g.prepare_seconds,
                  g.boot_seconds, g.guest_uptime_at_ready, g.ready_seconds,
                  g.qemu_rss_bytes() / 2**20))
        print(g.run("cat /proc/cmdline; grep -H . /sys/devices/system/node/node*/hugepages/*/"
                    "nr_hugepages"))
