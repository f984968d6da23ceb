#!/bin/sh
# Builds the task-iterator prototype into OUT (default ./out): vmlinux.h from the running
# kernel's BTF, the BPF object (clang -target bpf), its skeleton (bpftool), the loader.
# Needs clang, bpftool and libbpf-dev (scripts/install-deps.sh).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/out}
mkdir -p "$out"
bpftool btf dump file /sys/kernel/btf/vmlinux format c > "$out/vmlinux.h"
clang -O2 -g -target bpf -D__TARGET_ARCH_x86 -I"$out" -c "$here/task_walk.bpf.c" \
  -o "$out/task_walk.bpf.o"
bpftool gen skeleton "$out/task_walk.bpf.o" > "$out/task_walk.skel.h"
cc -O2 -Wall -I"$out" "$here/task_walk.c" -o "$out/task_walk" -lbpf -lelf -lz
echo "$out/task_walk"
