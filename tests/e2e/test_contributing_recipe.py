"""CONTRIBUTING.md's "Adding a collector", followed for a throwaway collector on a copy of the tree.

The test copies the tree (the files git tracks or would track) into a temporary directory with
a fresh git repository, writes the files of a made-up collector `recipe_demo` (a parser of a
made-up /proc/recipe_demo, the collector, its registry line, a fixture file, a parser test and a
fuzz target), then runs the shell commands of the recipe's numbered steps exactly as they are
written (the ```sh blocks of the section), in order. It then checks that the collector is in
--help, the README, the metric reference, the privilege table and the goldens, and that every
file the collector needed is one a step of the recipe names (so the recipe names every place to
touch). Not run: the libFuzzer step (a clang build of the whole tree with sanitizers takes
minutes); the fuzz target is compiled instead and its seeds must match fixture files.

The copy is built with the optimizer off and, when ccache is installed, through ccache with its
cache in the build directory (later runs rebuild only what changed).
"""

import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

from pagescope_test import BUILD_DIR, SOURCE_DIR

NAME = "recipe_demo"
CASE = "two_nodes"
METRIC = "pagescope_memory_recipe_demo_widgets"

# The throwaway collector: what a contributor writes in steps 1, 2, 6 and 8.
FILES = {
    "kernel/proc_recipe_demo.h": """#pragma once
// /proc/recipe_demo: a made-up kernel file of "widgets N" lines, for the test of CONTRIBUTING.md's
// recipe (tests/e2e/test_contributing_recipe.py).

#include <cstdint>
#include <string_view>

namespace pagescope {

// The sum of the widgets lines; throws ParseError on any other line.
std::uint64_t ParseRecipeDemo(std::string_view text);

}  // namespace pagescope
""",
    "kernel/proc_recipe_demo.cpp": """#include "kernel/proc_recipe_demo.h"

#include "framework/errors.h"
#include "kernel/parse.h"

namespace pagescope {

std::uint64_t ParseRecipeDemo(std::string_view text) {
  std::uint64_t total = 0;
  parse::ForEachLine(text, [&](std::size_t n, std::string_view line) {
    if (line.empty()) return;
    if (!line.starts_with("widgets ")) throw ParseError(n, "expected \\"widgets N\\"");
    total += parse::U64(line.substr(8), n);
  });
  return total;
}

}  // namespace pagescope
""",
    "collectors/recipe_demo.h": """#pragma once
// recipe_demo: the widgets of /proc/recipe_demo (kernel/proc_recipe_demo.h).

#include "framework/collector.h"

namespace pagescope {

CollectorSpec RecipeDemoCollectorSpec();

}  // namespace pagescope
""",
    "collectors/recipe_demo.cpp": """#include "collectors/recipe_demo.h"

#include "kernel/proc_recipe_demo.h"

namespace pagescope {
namespace {

class RecipeDemoCollector : public Collector {
 public:
  void Collect(const Context& ctx, MetricSink& out) override {
    auto path = ctx.fs().Proc("recipe_demo");
    auto text = ctx.Read(path);
    if (!text) return;
    auto widgets = ParseFile(path, [&] { return ParseRecipeDemo(*text); });
    out.Gauge("%(metric)s", "Widgets in /proc/recipe_demo.", {},
              static_cast<double>(widgets));
  }
};

}  // namespace

CollectorSpec RecipeDemoCollectorSpec() {
  return CollectorSpecWithoutOptions<RecipeDemoCollector>(
      "%(name)s", "Widgets of the made-up /proc/recipe_demo", "/proc/recipe_demo");
}

}  // namespace pagescope
""" % {"metric": METRIC, "name": NAME},
    "tests/unit/recipe_demo_test.cpp": """#include <gtest/gtest.h>

#include "kernel/proc_recipe_demo.h"
#include "test_util.h"

namespace pagescope {
namespace {

TEST(RecipeDemo, SumsWidgets) { EXPECT_EQ(ParseRecipeDemo("widgets 3\\nwidgets 4\\n"), 7u); }

TEST(RecipeDemo, GarbageNamesItsLine) {
  EXPECT_EQ(testing::LineOfError([] { ParseRecipeDemo("widgets 1\\ngadgets 2\\n"); }), 2u);
  EXPECT_EQ(testing::LineOfError([] { ParseRecipeDemo("widgets \\n"); }), 1u);
}

}  // namespace
}  // namespace pagescope
""",
    "tests/fixtures/%s/proc/recipe_demo" % CASE: "widgets 3\nwidgets 4\n",
    "tests/fuzz/fuzz_recipe_demo.cpp": """// seeds: proc/recipe_demo
#include "kernel/proc_recipe_demo.h"
#include "tests/fuzz/fuzz.h"

PAGESCOPE_FUZZ_TEXT(pagescope::ParseRecipeDemo(text))
""",
}


def recipe():
    """The "Adding a collector" section of CONTRIBUTING.md: (text, [shell command lines])."""
    with open(os.path.join(SOURCE_DIR, "CONTRIBUTING.md"), encoding="utf-8") as f:
        text = f.read()
    section = text.split("\n## Adding a collector\n", 1)[1].split("\n## ", 1)[0]
    commands = []
    for block in re.findall(r"^[ \t]*```sh\n(.*?)^[ \t]*```", section, re.M | re.S):
        commands += [line.strip() for line in block.splitlines()
                     if line.strip() and not line.strip().startswith("#")]
    return section, commands


def named_paths(section):
    """Regular expressions for the paths the recipe names in backquotes (`<…>` is any name,
    `<name>` this collector's, `…` anything, a trailing / everything below)."""
    out = []
    for token in re.findall(r"`([^`\s]+)`", section):
        if "/" not in token and not re.search(r"\.(md|cpp|h|py|prom|yml)$", token):
            continue
        if token.startswith(("/proc", "/sys", "--", "$")) or "(" in token:
            continue
        rx = ""
        for part in re.split(r"(<[^>]+>|…)", token):
            if part == "<name>":
                rx += re.escape(NAME)
            elif part.startswith("<"):
                rx += "[^/]+"
            elif part == "…":
                rx += ".*"
            else:
                rx += re.escape(part)
        if token.endswith("/"):
            rx += ".*"
        out.append(re.compile(rx + "$"))
    return out


def run(cmd, cwd, env, timeout=900):
    start = time.monotonic()
    r = subprocess.run(cmd, cwd=cwd, env=env, shell=isinstance(cmd, str), capture_output=True,
                       text=True, timeout=timeout, executable="/bin/bash" if isinstance(
                           cmd, str) else None)
    print("%6.1f s  %s" % (time.monotonic() - start, cmd if isinstance(cmd, str) else
                             " ".join(cmd)[:100]), file=sys.stderr)
    if r.returncode != 0:
        raise AssertionError("%s failed (%d):\n%s\n%s" % (cmd, r.returncode, r.stdout[-4000:],
                                                          r.stderr[-4000:]))
    return r.stdout


class ContributingRecipe(unittest.TestCase):
    def test_adding_a_collector_by_the_recipe(self):
        section, commands = recipe()
        self.assertTrue(commands, "no ```sh commands in CONTRIBUTING.md's recipe")
        tmp = tempfile.mkdtemp(prefix="pagescope-recipe-")
        try:
            self.follow(section, commands, os.path.join(tmp, "pagescope"))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def follow(self, section, commands, tree):
        # The commands run as a contributor would: paths from where they run, not from ctest.
        env = {k: v for k, v in os.environ.items() if not k.startswith("PAGESCOPE_")}
        env.update(GIT_AUTHOR_NAME="recipe", GIT_AUTHOR_EMAIL="recipe@localhost",
                   GIT_COMMITTER_NAME="recipe", GIT_COMMITTER_EMAIL="recipe@localhost")
        files = run(["git", "ls-files", "-z", "-co", "--exclude-standard"], SOURCE_DIR,
                    env).split("\0")
        for rel in filter(None, files):
            src, dst = os.path.join(SOURCE_DIR, rel), os.path.join(tree, rel)
            if not os.path.lexists(src):
                continue  # deleted in the work tree
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            if os.path.islink(src):
                os.symlink(os.readlink(src), dst)
            else:
                shutil.copy2(src, dst)
        run("git init -q && git add -A && git commit -qm copy", tree, env)

        # Steps 1, 2, 6, 8: the new files; step 4: the registry.
        for rel, text in FILES.items():
            path = os.path.join(tree, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
        registry = os.path.join(tree, "collectors", "registry.cpp")
        with open(registry, encoding="utf-8") as f:
            text = f.read()
        self.assertIn("MeminfoCollectorSpec(),", text)
        block = re.search(r'(?:#include "collectors/(?!registry)[a-z0-9_]+\.h"\n)+', text)
        includes = sorted(block.group(0).splitlines(True) +
                          ['#include "collectors/%s.h"\n' % NAME])
        text = text[:block.start()] + "".join(includes) + text[block.end():]
        text = re.sub(r"( *)(MeminfoCollectorSpec\(\),\n)", r"\1\2\1RecipeDemoCollectorSpec(),\n",
                      text, count=1)
        self.assertIn('#include "collectors/%s.h"' % NAME, text)
        with open(registry, "w", encoding="utf-8") as f:
            f.write(text)

        # Configured as a contributor's tree would be (the recipe starts from a configured
        # build/); optimizer off and ccache when there is one, to stay within a few minutes.
        configure = ["cmake", "-S", ".", "-B", "build", "-DCMAKE_BUILD_TYPE=None"]
        if shutil.which("ccache"):
            configure += ["-DCMAKE_CXX_COMPILER_LAUNCHER=ccache",
                          "-DCMAKE_C_COMPILER_LAUNCHER=ccache"]
            env.update(CCACHE_DIR=os.path.join(BUILD_DIR, "recipe-ccache"),
                       CCACHE_BASEDIR=tree, CCACHE_NOHASHDIR="1")
        run(configure, tree, env)

        for cmd in commands:
            if cmd.startswith("PAGESCOPE_FUZZ_SECONDS="):
                continue  # the libFuzzer run: see the module's docstring
            with self.subTest(step=cmd):
                run(cmd, tree, env)

        # The fuzz target compiles and has seeds.
        fuzz = os.path.join(tree, "tests", "fuzz", "fuzz_%s.cpp" % NAME)
        run(["c++", "-std=c++20", "-fsyntax-only", "-I", tree, "-I",
             os.path.join(tree, "build", "generated"), fuzz], tree, env)
        with open(fuzz, encoding="utf-8") as f:
            globs = f.readline().split(":", 1)[1].split()
        self.assertTrue(any(glob.glob(os.path.join(tree, "tests", "fixtures", "*", g))
                            for g in globs), globs)

        # The collector is everywhere it should be.
        help_ = run([os.path.join(tree, "build", "pagescope"), "--help"], tree, env)
        self.assertRegex(help_, r"(?m)^  --collector\.%s\s.*\[enabled\]$" % NAME)

        def read(rel):
            with open(os.path.join(tree, rel), encoding="utf-8") as f:
                return f.read()

        metrics = read("docs/metrics.md")
        self.assertIn("## Collector `%s`" % NAME, metrics)
        self.assertIn("| `%s` | gauge |" % METRIC, metrics)
        self.assertRegex(read("README.md"), r"\| `%s` \| enabled \| .* \| `/proc/recipe_demo` \|"
                         % NAME)
        self.assertRegex(read("docs/security.md"),
                         r"\| `%s` \| enabled \| `/proc/recipe_demo` \| any user \|" % NAME)
        self.assertIn("%s 7" % METRIC, read("tests/golden/%s/%s.prom" % (CASE, NAME)))
        self.assertIn("%s 7" % METRIC, read("tests/golden/e2e/%s.prom" % CASE))
        self.assertNotIn(METRIC, read("tests/golden/no_numa/%s.prom" % NAME),
                         "no file, no series")
        # --help lists it right after meminfo, where the registry has it.
        order = re.findall(r"(?m)^  --collector\.([a-z0-9_]+)\s", help_)
        self.assertEqual(order[order.index("meminfo") + 1], NAME)

        # Every file that changed is one a step names.
        status = run(["git", "status", "--porcelain", "--untracked-files=all"], tree, env)
        changed = [line[3:] for line in status.splitlines()]
        patterns = named_paths(section)
        unnamed = [p for p in changed if not any(rx.match(p) for rx in patterns)]
        self.assertEqual(unnamed, [], "files the recipe does not name")
        for rel in list(FILES) + ["collectors/registry.cpp", "docs/metrics.md", "README.md",
                                  "docs/security.md"]:
            self.assertIn(rel, changed)


if __name__ == "__main__":
    unittest.main()
