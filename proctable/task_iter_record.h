/* The records proctable/task_iter.bpf.c writes and proctable/bpf_tasks_module.cpp reads: C, for
 * both the BPF object (clang -target bpf) and the C++ loader. */
#pragma once
#include <linux/types.h>

#define TASK_RECORD_LEADER 1u  /* a thread-group leader: the full record */
#define TASK_RECORD_KTHREAD 2u /* PF_KTHREAD */
#define TASK_RECORD_MM 4u      /* the task has an mm: the memory fields are read */
#define TASK_RECORD_EXACT 8u   /* counters[] hold the per-CPU sums (or <= 6.1's atomics) */

struct task_record {
  __u32 tgid;
  __u32 flags;
  __u64 min_flt; /* the thread's; a leader's also carries the signal struct's dead-thread sums */
  __u64 maj_flt;
  /* The rest only in leaders' records (TASK_RECORD_THREAD_SIZE bytes for other threads). */
  __u64 start_boottime; /* ns since boot, suspend included */
  __s64 counters[4];    /* MM_FILEPAGES, MM_ANONPAGES, MM_SWAPENTS, MM_SHMEMPAGES: exact sums */
  __s64 shared[4];      /* the same, shared part only (get_mm_counter() of 6.2+) */
  __u64 locked_vm;      /* pages */
  __s64 pinned_vm;      /* pages */
  __s64 hugetlb_usage;  /* base pages */
  char comm[16];
};

#define TASK_RECORD_THREAD_SIZE 24
