#!/usr/bin/env python3
"""Runs one libFuzzer target for a bounded time on a corpus seeded from the fixtures.

usage: run_fuzz.py BINARY SOURCE SECONDS WORKDIR

The seed files are the `// seeds:` globs on SOURCE's first line, matched under every
tests/fixtures/<case>/ directory, plus tests/fuzz/seeds/<name>-*. Crash reproducers land in
WORKDIR/<name>/artifacts/ and are printed; the exit status is libFuzzer's (0: nothing found)."""

import glob
import os
import shutil
import subprocess
import sys

binary, source, seconds, workdir = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
here = os.path.dirname(os.path.abspath(__file__))
fixtures = os.path.join(here, "..", "fixtures")
name = os.path.basename(source)[len("fuzz_"):-len(".cpp")]
with open(source) as f:
    first = f.readline().strip()
globs = first.split(":", 1)[1].split() if first.startswith("// seeds:") else []

base = os.path.join(workdir, name)
corpus = os.path.join(base, "corpus")
seeds = os.path.join(base, "seeds")
artifacts = os.path.join(base, "artifacts") + "/"
shutil.rmtree(seeds, ignore_errors=True)
for d in (corpus, seeds, artifacts):
    os.makedirs(d, exist_ok=True)
n = 0
paths = []
for case in sorted(glob.glob(os.path.join(fixtures, "*"))):
    for g in globs:
        paths += [p for p in glob.glob(os.path.join(case, g)) if os.path.isfile(p)]
paths += glob.glob(os.path.join(here, "seeds", name + "-*"))
for p in paths:
    shutil.copy(p, os.path.join(seeds, "%04d" % n))
    n += 1
print("fuzz %s: %d seed files, %d s" % (name, n, seconds), flush=True)
env = dict(os.environ)
env.setdefault("ASAN_OPTIONS", "detect_leaks=1:allocator_may_return_null=1")
env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
cmd = [binary, "-max_total_time=%d" % seconds, "-timeout=10", "-rss_limit_mb=2048",
       "-malloc_limit_mb=1024", "-max_len=65536", "-print_final_stats=1",
       "-artifact_prefix=" + artifacts, corpus, seeds]
r = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                   errors="replace")
lines = r.stdout.splitlines()
stats = [line for line in lines if line.startswith("stat::")]
print("\n".join(stats))
if r.returncode != 0:
    print("\n".join(lines[-80:]))
    print("fuzz %s FAILED (exit %d); reproducers: %s" % (name, r.returncode,
                                                       os.listdir(artifacts)))
sys.exit(r.returncode)
