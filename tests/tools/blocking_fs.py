#!/usr/bin/python3
"""A read-only FUSE mirror of a directory in which reading the files named with --block blocks
until this program's stdin closes: a procfs or sysfs stand-in with one file whose read hangs, as a
hung filesystem or a very long kernel walk would (tests/e2e/test_deadline.py).

usage: blocking_fs.py SOURCE MOUNTPOINT --block REL [--block REL ...]

Prints "ready" once mounted. When stdin closes, blocked reads return the file's content and the
program unmounts and exits (the caller may also unmount it: it exits then). Needs root (mount)
and Debian's python3-fusepy, which lives in /usr/lib/python3/dist-packages (hence /usr/bin/python3).
"""

import argparse
import errno
import os
import subprocess
import sys
import threading

sys.path.append("/usr/lib/python3/dist-packages")
import fusepy  # noqa: E402  (Debian's python3-fusepy; libfuse2)


class BlockingMirror(fusepy.Operations):
    def __init__(self, source, blocked, released):
        self.source = source
        self.blocked = {"/" + b.strip("/") for b in blocked}
        self.released = released

    def _path(self, path):
        return os.path.join(self.source, path.lstrip("/"))

    def init(self, path):
        print("ready", flush=True)

    def getattr(self, path, fh=None):
        try:
            st = os.lstat(self._path(path))
        except OSError as e:
            raise fusepy.FuseOSError(e.errno)
        return {k: getattr(st, k) for k in ("st_mode", "st_nlink", "st_size", "st_uid", "st_gid",
                                            "st_atime", "st_mtime", "st_ctime")}

    def readdir(self, path, fh):
        try:
            return [".", ".."] + os.listdir(self._path(path))
        except OSError as e:
            raise fusepy.FuseOSError(e.errno)

    def readlink(self, path):
        return os.readlink(self._path(path))

    def open(self, path, flags):
        if flags & (os.O_WRONLY | os.O_RDWR):
            raise fusepy.FuseOSError(errno.EROFS)
        return 0

    def read(self, path, size, offset, fh):
        if path in self.blocked:
            self.released.wait()
        try:
            with open(self._path(path), "rb") as f:
                f.seek(offset)
                return f.read(size)
        except OSError as e:
            raise fusepy.FuseOSError(e.errno)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("source")
    ap.add_argument("mountpoint")
    ap.add_argument("--block", action="append", default=[])
    args = ap.parse_args()
    released = threading.Event()

    def release_on_eof():
        sys.stdin.read()
        released.set()
        # Blocked readers get their answer first; then the mount goes and fusepy returns.
        subprocess.run(["umount", "-l", args.mountpoint], check=False)

    threading.Thread(target=release_on_eof, daemon=True).start()
    # direct_io: no page cache, every read comes here (a second read blocks too).
    fusepy.FUSE(BlockingMirror(os.path.abspath(args.source), args.block, released),
                args.mountpoint, foreground=True, nothreads=False, ro=True, direct_io=True,
                attr_timeout=0, entry_timeout=0)


if __name__ == "__main__":
    main()
