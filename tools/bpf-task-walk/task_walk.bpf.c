// SPDX-License-Identifier: GPL-2.0
/* Prototype (not linked into pagescope): one pass over every task in the kernel with a BPF task
 * iterator (iter/task, Linux 5.8+), handing back per thread-group the figures the processes
 * collector takes from /proc/<pid>/{stat,status}: minor and major faults (live threads plus
 * those the signal struct keeps for dead threads), resident pages and swap entries (the mm's
 * counters). Binary records, no text. See README.md. */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

struct record {
  __u32 tgid;
  __u32 leader;  /* 1 for the thread-group leader: its record carries the group's figures */
  __u64 min_flt;
  __u64 maj_flt;
  __u64 start_time;
  __s64 file_pages, anon_pages, shmem_pages, swap_ents;
};

static __always_inline __s64 mm_counter(struct mm_struct *mm, int i) {
  /* percpu_counter's shared count: what get_mm_counter() returns (approximate by at most the
   * per-CPU batches, as in /proc/<pid>/status before 6.16). */
  return BPF_CORE_READ(mm, rss_stat[i].count);
}

SEC("iter/task")
int walk(struct bpf_iter__task *ctx) {
  struct seq_file *seq = ctx->meta->seq;
  struct task_struct *t = ctx->task;
  if (!t) return 0;
  if (BPF_CORE_READ(t, flags) & 0x00200000 /* PF_KTHREAD */) return 0;
  struct record r = {};
  r.tgid = BPF_CORE_READ(t, tgid);
  r.min_flt = BPF_CORE_READ(t, min_flt);
  r.maj_flt = BPF_CORE_READ(t, maj_flt);
  if (BPF_CORE_READ(t, pid) == r.tgid) {
    r.leader = 1;
    r.min_flt += BPF_CORE_READ(t, signal, min_flt);
    r.maj_flt += BPF_CORE_READ(t, signal, maj_flt);
    r.start_time = BPF_CORE_READ(t, start_boottime);
    struct mm_struct *mm = BPF_CORE_READ(t, mm);
    if (mm) {
      r.file_pages = mm_counter(mm, MM_FILEPAGES);
      r.anon_pages = mm_counter(mm, MM_ANONPAGES);
      r.shmem_pages = mm_counter(mm, MM_SHMEMPAGES);
      r.swap_ents = mm_counter(mm, MM_SWAPENTS);
    }
  }
  bpf_seq_write(seq, &r, sizeof(r));
  return 0;
}
