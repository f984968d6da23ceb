"""Live kernel: hugetlbfs mounts with and without a size limit, as pagescope's hugetlbfs
collector sees them.

Mounts `-o pagesize=2M,size=8M` on a temporary directory (after growing the 2 MiB pool by 4
pages), checks the reported size, then maps and touches two pages of a file there and checks that
free falls by exactly those two pages, as statfs(2) says. A mount without size= has no size,
but the most it can hold, from the pool, rises by the two pages a file there touches. Unmounts and
restores the pool even when a check fails.
"""

import contextlib
import mmap
import os
import subprocess
import tempfile
import unittest

from pagescope_test import (Exporter, SysfsRestorer, kernel_lock, require_root, value)

POOL = "/sys/kernel/mm/hugepages/hugepages-2048kB"
PAGE = 2 << 20
LIMIT = 4 * PAGE


def read_int(path):
    with open(path) as f:
        return int(f.read())


@contextlib.contextmanager
def hugetlbfs(options):
    """A temporary directory with hugetlbfs mounted there; unmounted and removed after."""
    mnt = tempfile.mkdtemp(prefix="pagescope-hugetlbfs-")
    mounted = False
    try:
        subprocess.run(["mount", "-t", "hugetlbfs", "-o", options, "none", mnt], check=True)
        mounted = True
        yield mnt
    finally:
        if mounted:
            subprocess.run(["umount", mnt], check=True)
        os.rmdir(mnt)


@contextlib.contextmanager
def two_touched_pages(mnt):
    """A file on the mount with two 2 MiB pages mapped shared and touched; removed after."""
    path = os.path.join(mnt, "data")
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        os.ftruncate(fd, 2 * PAGE)
        with mmap.mmap(fd, 2 * PAGE, flags=mmap.MAP_SHARED,
                       prot=mmap.PROT_READ | mmap.PROT_WRITE) as mem:
            mem[0] = 1
            mem[PAGE] = 1
            yield
    finally:
        os.close(fd)
        os.unlink(path)


class LiveHugetlbfs(unittest.TestCase):
    @require_root
    def test_limited_mount_size_and_free_falls_when_touched(self):
        if not os.path.isdir(POOL):
            self.skipTest("this kernel has no 2 MiB hugepages")
        with kernel_lock(), SysfsRestorer() as sysfs:
            before = read_int(POOL + "/nr_hugepages")
            sysfs.set(POOL + "/nr_hugepages", before + 4)
            if read_int(POOL + "/free_hugepages") < 4:
                self.fail("the kernel could not give 4 free 2 MiB pages")
            with hugetlbfs("pagesize=2M,size=%d" % LIMIT) as mnt, \
                    Exporter(["--collector.disable-defaults", "--collector.hugetlbfs"]) as exp:
                m = exp.metrics()
                self.assertEqual(value(m, "pagescope_scrape_collector_success",
                                       collector="hugetlbfs"), 1, exp.log_text())
                self.assertEqual(value(m, "pagescope_hugetlbfs_info", mountpoint=mnt,
                                       page_size="2MiB", size_limited="true"), 1)
                self.assertEqual(value(m, "pagescope_hugetlbfs_size_bytes", mountpoint=mnt,
                                       page_size="2MiB"), LIMIT)
                self.assertEqual(value(m, "pagescope_hugetlbfs_free_bytes", mountpoint=mnt,
                                       page_size="2MiB"), LIMIT)
                with two_touched_pages(mnt):
                    m = exp.metrics()
                    st = os.statvfs(mnt)
                    free = value(m, "pagescope_hugetlbfs_free_bytes", mountpoint=mnt,
                                 page_size="2MiB")
                    self.assertEqual(free, LIMIT - 2 * PAGE)
                    self.assertEqual(free, st.f_bfree * st.f_bsize)
                    self.assertEqual(value(m, "pagescope_hugetlbfs_size_bytes",
                                           mountpoint=mnt, page_size="2MiB"), LIMIT)
                # The pages go back to the mount once the file is gone.
                self.assertEqual(value(exp.metrics(), "pagescope_hugetlbfs_free_bytes",
                                       mountpoint=mnt, page_size="2MiB"), LIMIT)

    @require_root
    def test_unlimited_mount_has_info_no_size_and_an_upper_bound_from_the_pool(self):
        if not os.path.isdir(POOL):
            self.skipTest("this kernel has no 2 MiB hugepages")
        with kernel_lock(), SysfsRestorer() as sysfs:
            sysfs.set(POOL + "/nr_hugepages", read_int(POOL + "/nr_hugepages") + 4)
            with hugetlbfs("pagesize=2M") as mnt, \
                    Exporter(["--collector.disable-defaults", "--collector.hugetlbfs"]) as exp:
                m = exp.metrics()
                self.assertEqual(value(m, "pagescope_hugetlbfs_info", mountpoint=mnt,
                                       page_size="2MiB", size_limited="false"), 1)
                self.assertIsNone(value(m, "pagescope_hugetlbfs_size_bytes", mountpoint=mnt))
                self.assertIsNone(value(m, "pagescope_hugetlbfs_free_bytes", mountpoint=mnt))
                before = value(m, "pagescope_hugetlbfs_used_upper_bound_bytes",
                               mountpoint=mnt, page_size="2MiB")
                self.assertIsNotNone(before)
                # Two pages of a file on the mount: the pool's in-use count rises by two, and
                # so does the bound.
                with two_touched_pages(mnt):
                    after = value(exp.metrics(), "pagescope_hugetlbfs_used_upper_bound_bytes",
                                  mountpoint=mnt, page_size="2MiB")
                    print("\nunlimited mount: bound %d -> %d bytes with a 2-page file"
                          % (before, after))
                    self.assertEqual(after - before, 2 * PAGE)
                    self.assertGreaterEqual(after, 2 * PAGE)

if __name__ == "__main__":
    unittest.main()
