"""End to end on fixture trees: the thp, ksm, vmstat and pressure collectors on an old kernel
(files missing: no series, success 1) and on malformed files (success 0, the file and line in
the log, the readable rest still served)."""

import unittest

from pagescope_test import Exporter, fixture_args, promtool_check_metrics, value

COLLECTORS = ["--collector.disable-defaults", "--collector.thp", "--collector.ksm",
              "--collector.vmstat", "--collector.pressure"]


def names(metrics, prefix):
    return {n for (n, _), _ in metrics.items() if n.startswith(prefix)}


class OldKernel(unittest.TestCase):
    def test_missing_files_give_no_series_and_success(self):
        with Exporter(fixture_args("old_kernel") + COLLECTORS) as exp:
            text = exp.scrape()
            m = exp.metrics()
            for c in ("thp", "ksm", "vmstat", "pressure"):
                self.assertEqual(value(m, "pagescope_scrape_collector_success", collector=c), 1, c)
            # No multi-size THP, no KSM profit, zero pages, advisor or smart scan, no PSI.
            self.assertEqual(names(m, "pagescope_thp_size_"), set())
            for n in ("pagescope_ksm_general_profit_bytes", "pagescope_ksm_zero_pages",
                      "pagescope_ksm_advisor_mode", "pagescope_ksm_advisor_max_cpu_ratio",
                      "pagescope_ksm_smart_scan", "pagescope_ksm_pages_skipped_total"):
                self.assertNotIn(n, names(m, n), n)
            self.assertEqual(names(m, "pagescope_pressure_"), set())
            self.assertNotIn("pagescope_vmstat_zswpout_total", names(m, "pagescope_vmstat_"))
            # What the old kernel has is there.
            self.assertEqual(value(m, "pagescope_ksm_pages_sharing"), 30412)
            self.assertEqual(value(m, "pagescope_ksm_run", mode="run"), 1)
            self.assertEqual(value(m, "pagescope_thp_enabled", mode="madvise"), 1)
            self.assertEqual(value(m, "pagescope_thp_khugepaged_pages_collapsed_total"), 1532)
            self.assertEqual(value(m, "pagescope_vmstat_thp_fault_alloc_total"), 20771)
            self.assertEqual(value(m, "pagescope_vmstat_nr_anon_transparent_hugepages"), 1033)
            self.assertEqual(promtool_check_metrics(text), (0, ""))


class Malformed(unittest.TestCase):
    def test_errors_name_file_and_line_and_the_rest_is_served(self):
        with Exporter(fixture_args("malformed") + COLLECTORS) as exp:
            m = exp.metrics()
            log = exp.log_text()
            for c in ("thp", "ksm", "vmstat", "pressure"):
                self.assertEqual(value(m, "pagescope_scrape_collector_success", collector=c), 0, c)
            for needle in (
                    "transparent_hugepage/enabled:1: expected exactly one [selected] choice",
                    "khugepaged/pages_collapsed:1: expected an unsigned integer",
                    "hugepages-64kB/stats/anon_fault_alloc:1:",
                    "ksm/run: unknown run value 3",
                    "ksm/pages_sharing:1: expected an unsigned integer",
                    "proc/vmstat:4: expected",
                    "pressure/memory:2: expected a number"):
                self.assertIn(needle, log)
            # Files that parse are still reported.
            self.assertEqual(value(m, "pagescope_thp_defrag", mode="madvise"), 1)
            self.assertEqual(value(m, "pagescope_thp_size_split_total", page_size="64KiB"), 42)
            self.assertEqual(value(m, "pagescope_ksm_general_profit_bytes"), -40960)
            self.assertEqual(value(m, "pagescope_ksm_pages_shared"), 100)
            self.assertIsNone(value(m, "pagescope_ksm_pages_sharing"))
            self.assertIsNone(value(m, "pagescope_thp_enabled", mode="madvise"))


if __name__ == "__main__":
    unittest.main()
