"""--collector.vmstat.fields / collectors.vmstat.fields: an expression that selects no field of
the kernel's /proc/vmstat (read once at start-up through --path.procfs) is a start-up warning
naming the flag, the YAML key and where the value came from; the collector is never silently
empty. A warning, not an error: one configuration serves kernels with different fields."""

import os
import tempfile
import unittest

from pagescope_test import Exporter, fixture_args, parse_exposition

WARNING = ("collectors.vmstat.fields (--collector.vmstat.fields) selects no field of ")


def vmstat_series(exp):
    return [n for n, _ in parse_exposition(exp.scrape()) if n.startswith("pagescope_vmstat_")]


class VmstatFields(unittest.TestCase):

    def test_flag_that_selects_nothing_is_warned_about_at_start(self):
        with Exporter(["--collector.vmstat.fields=^pg"] + fixture_args("two_nodes")) as exp:
            log = exp.log_text()  # written before the exporter listens
            self.assertIn(WARNING, log)
            self.assertIn("two_nodes/proc/vmstat: the vmstat collector exports nothing", log)
            self.assertIn('origin="flag --collector.vmstat.fields"', log)
            self.assertIn("must match the whole name", log)
            self.assertEqual(vmstat_series(exp), [])

    def test_yaml_key_that_selects_nothing_names_file_and_line(self):
        with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as f:
            f.write("collectors:\n  vmstat:\n    fields: 'zswp(in|out)x'\n")
        try:
            with Exporter(["--config.file=" + f.name] + fixture_args("two_nodes")) as exp:
                log = exp.log_text()
                self.assertIn(WARNING, log)
                self.assertIn('origin=%s:3:' % f.name, log)
                self.assertIn("it matches none of the", log)
        finally:
            os.unlink(f.name)

    def test_expressions_that_select_fields_are_quiet(self):
        for args in ([], ["--collector.vmstat.fields=pg.*"],
                     ["--collector.vmstat.fields=pg(maj)?fault|thp_.*"]):
            with self.subTest(args=args), Exporter(args + fixture_args("two_nodes")) as exp:
                self.assertNotIn(WARNING, exp.log_text())
                self.assertTrue(vmstat_series(exp))

    def test_live_kernel(self):
        # The running kernel's /proc/vmstat, not a fixture.
        with Exporter(["--collector.disable-defaults", "--collector.vmstat",
                       "--collector.vmstat.fields=^pgfault$"]) as exp:
            self.assertNotIn(WARNING, exp.log_text())
            self.assertEqual(vmstat_series(exp), ["pagescope_vmstat_pgfault_total"])
        with Exporter(["--collector.disable-defaults", "--collector.vmstat",
                       "--collector.vmstat.fields=^pg"]) as exp:
            self.assertIn(WARNING + "/proc/vmstat", exp.log_text())


if __name__ == "__main__":
    unittest.main()
