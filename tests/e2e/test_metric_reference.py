"""The metric reference (docs/metrics.md) matches what the binary exports."""

import os
import subprocess
import sys
import unittest

from pagescope_test import SOURCE_DIR

SCRIPT = os.path.join(SOURCE_DIR, "scripts", "gen-metric-reference.py")


class MetricReference(unittest.TestCase):
    def test_reference_is_up_to_date(self):
        r = subprocess.run([sys.executable, SCRIPT, "--check"], capture_output=True, text=True,
                           env=dict(os.environ))
        self.assertEqual(r.returncode, 0, r.stderr)

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
