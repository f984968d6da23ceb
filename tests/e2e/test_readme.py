"""The README's examples are true: every YAML block is a configuration the real binary accepts,
the quick-start scripts it names exist, and the arguments of every `./scripts/run.sh ...`
example start the real binary without a warning, each collector they configure exporting
series."""

import os
import re
import shlex
import tempfile
import unittest

from pagescope_test import SOURCE_DIR, Exporter, fixture_args, parse_exposition


class Readme(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with open(os.path.join(SOURCE_DIR, "README.md")) as f:
            cls.text = f.read()

    def test_yaml_examples_are_accepted(self):
        blocks = re.findall(r"```yaml\n(.*?)```", self.text, re.S)
        self.assertGreaterEqual(len(blocks), 2)
        for block in blocks:
            with self.subTest(block=block[:40]), tempfile.NamedTemporaryFile(
                    "w", suffix=".yml", delete=False) as f:
                # The examples listen on the default port; the test uses a random one.
                f.write(re.sub(r"listen_address: .*", "listen_address: [\"127.0.0.1:0\"]", block))
            try:
                with Exporter(["--config.file=" + f.name] + fixture_args("two_nodes")) as exp:
                    m = parse_exposition(exp.scrape())
                    self.assertTrue(any(n == "pagescope_scrape_collector_success" for n, _ in m))
            finally:
                os.unlink(f.name)

    def test_run_sh_examples_export_what_they_configure(self):
        examples = re.findall(r"`\./scripts/run\.sh ([^`]+)`", self.text)
        self.assertGreaterEqual(len(examples), 1)
        for example in examples:
            args = shlex.split(example)
            with self.subTest(example=example), \
                    Exporter(args + fixture_args("two_nodes")) as exp:
                m = parse_exposition(exp.scrape())
                log = exp.log_text()
                self.assertNotIn("level=warn", log)
                for collector in set(re.findall(r"--collector\.([a-z0-9_]+)\.", example)):
                    self.assertEqual(m.get(("pagescope_scrape_collector_success",
                                            frozenset({("collector", collector)}))), 1.0,
                                     collector)
                    series = [n for n, _ in m if n.startswith("pagescope_%s_" % collector)]
                    self.assertTrue(series, "%s: %s exports nothing" % (example, collector))

    def test_quick_start_scripts_exist(self):
        for script in re.findall(r"^\./(scripts/\S+\.sh)", self.text, re.M):
            self.assertTrue(os.access(os.path.join(SOURCE_DIR, script), os.X_OK), script)
        with open(os.path.join(SOURCE_DIR, ".ci", "run")) as f:
            self.assertIn("scripts/test.sh", f.read())


if __name__ == "__main__":
    unittest.main()
