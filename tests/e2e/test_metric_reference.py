"""The metric reference (docs/metrics.md), the README's collector and flag sections and the
privilege table of docs/security.md match the binary; the privilege rules match the running
kernel."""

import glob
import importlib.util
import os
import stat
import subprocess
import sys
import unittest

from pagescope_test import BINARY, SOURCE_DIR

SCRIPT = os.path.join(SOURCE_DIR, "scripts", "gen-metric-reference.py")


def generator():
    spec = importlib.util.spec_from_file_location("gen_metric_reference", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class MetricReference(unittest.TestCase):
    def test_reference_is_up_to_date(self):
        r = subprocess.run([sys.executable, SCRIPT, "--check"], capture_output=True, text=True,
                           env=dict(os.environ))
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_privilege_rules_cover_what_the_kernel_restricts(self):
        """Every file a collector declares that exists on this host and that not everyone may
        read (no read bit for others) has a rule in the generator's PRIVILEGES, so the table
        of docs/security.md does not call it readable by any user. /proc/<pid>/ files are
        checked on this process's own (/proc/self)."""
        gen = generator()
        help_ = subprocess.run([BINARY, "--help"], check=True, capture_output=True,
                               text=True).stdout
        checked, missing = 0, []
        for name, _, sources in gen.collector_sources(help_):
            for item in gen.source_items(sources):
                if not item.startswith("/") or item.endswith("/"):
                    continue  # a system call, or a directory (the files in it are named apart)
                concrete = item.replace("<pid>", "self")
                if "<" in concrete or "**" in concrete:
                    continue  # a configured cgroup parent or size
                for path in glob.glob(concrete):
                    st = os.stat(path)
                    if not stat.S_ISREG(st.st_mode):
                        continue
                    checked += 1
                    if not st.st_mode & stat.S_IROTH and gen.needs(item) is None:
                        missing.append("%s (%s, mode %o)" % (item, name, st.st_mode & 0o777))
        self.assertGreater(checked, 10)
        self.assertEqual(missing, [], "add a rule to PRIVILEGES in scripts/gen-metric-reference.py")

    def test_metrics_contract_names_are_documented(self):
        with open(os.path.join(SOURCE_DIR, "docs", "metrics.md")) as f:
            doc = f.read()
        # The names fixed by the project's metric contract that the merged collectors emit.
        for name in ("pagescope_hugepages_pool_pages", "pagescope_hugepages_free_pages",
                     "pagescope_hugepages_reserved_pages", "pagescope_hugepages_surplus_pages",
                     "pagescope_hugepages_overcommit_limit_pages",
                     "pagescope_hugepages_page_size_bytes", "pagescope_numa_hugepages_pool_pages",
                     "pagescope_numa_hugepages_free_pages",
                     "pagescope_numa_hugepages_surplus_pages", "pagescope_memory_total_bytes",
                     "pagescope_memory_hugetlb_bytes", "pagescope_memory_commit_limit_bytes",
                     "pagescope_scrape_collector_success",
                     "pagescope_scrape_collector_duration_seconds", "pagescope_build_info"):
            self.assertIn("`%s`" % name, doc)


if __name__ == "__main__":
    unittest.main()
