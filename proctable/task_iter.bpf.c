// SPDX-License-Identifier: GPL-2.0
/* One pass over every task in the kernel (iter/task, Linux 5.8+), handing back per task what
 * /proc/<pid>/stat and status give (proctable/bpf_tasks.h): a full record for each thread-group
 * leader and a short one (its faults) for every other thread, which user space adds to its
 * group as do_task_stat() does. Binary records, no text.
 *
 * CO-RE without a vmlinux.h: the few kernel structures used are declared below with only the
 * fields read, marked preserve_access_index, so libbpf relocates every access against the
 * running kernel's BTF and the object works across kernel versions. */
/* The kernel's types first: libbpf's headers use them. */
// clang-format off
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
// clang-format on

#include "proctable/task_iter_record.h"

char LICENSE[] SEC("license") = "GPL";

#define PF_KTHREAD 0x00200000
/* include/linux/mm_types_task.h: the order of the mm counters since 4.5. */
#define MM_FILEPAGES 0
#define MM_ANONPAGES 1
#define MM_SWAPENTS 2
#define MM_SHMEMPAGES 3

typedef struct {
  long counter;
} atomic_long_t;
typedef struct {
  __s64 counter;
} atomic64_t;

/* <= 6.1: atomic counters (struct mm_rss_stat) that /proc reads as they are. */
struct mm_rss_stat {
  atomic_long_t count[4];
} __attribute__((preserve_access_index));
/* >= 6.2 (f1a7941243c1): per-CPU counters; `count` is the shared part, each CPU keeps up to the
 * batch in its own slot. */
struct percpu_counter {
  __s64 count;
  __s32* counters; /* __percpu */
} __attribute__((preserve_access_index));

struct mm_struct {
  unsigned long locked_vm;
  atomic64_t pinned_vm;
  atomic_long_t hugetlb_usage; /* CONFIG_HUGETLB_PAGE */
} __attribute__((preserve_access_index));
struct mm_struct___old {
  struct mm_rss_stat rss_stat;
} __attribute__((preserve_access_index));
struct mm_struct___new {
  struct percpu_counter rss_stat[4];
} __attribute__((preserve_access_index));

struct signal_struct {
  unsigned long min_flt, maj_flt;
} __attribute__((preserve_access_index));

struct task_struct {
  unsigned int flags;
  int pid, tgid;
  unsigned long min_flt, maj_flt;
  __u64 start_boottime;
  char comm[16];
  struct mm_struct* mm;
  struct signal_struct* signal;
} __attribute__((preserve_access_index));

struct seq_file;
struct bpf_iter_meta {
  struct seq_file* seq;
} __attribute__((preserve_access_index));
struct bpf_iter__task {
  struct bpf_iter_meta* meta;
  struct task_struct* task;
} __attribute__((preserve_access_index));

/* Set by the loader before loading (frozen: the verifier sees the value, bounding the loops). */
const volatile __u32 nr_cpus = 1;

#define MAX_CPUS 4096

/* The per-CPU offsets (__per_cpu_offset[cpu]: the address of a per-CPU variable on `cpu` is its
 * __percpu address plus this), found once from a per-CPU array of our own: the element's
 * address on each CPU (bpf_map_lookup_percpu_elem, 5.19+) minus its __percpu address
 * (bpf_array.pptrs[0]). Not from the kernel's symbols: kernels without CONFIG_KALLSYMS_ALL
 * cannot resolve per-CPU variables for BPF. */
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, __u64);
} pcpu_probe SEC(".maps");

struct bpf_array {
  union {
    char value[0];
    void* pptrs[0];
  };
} __attribute__((preserve_access_index));

__u64 cpu_offset[MAX_CPUS];
int cpu_offsets_state; /* 0: not yet, 1: found, -1: cannot (then the shared counts only) */

static __always_inline void find_cpu_offsets(void) {
  if (nr_cpus > MAX_CPUS) {
    cpu_offsets_state = -1;
    return;
  }
  /* Addresses as numbers: through memory, as the verifier keeps pointers and numbers apart
   * (and forbids arithmetic on a map pointer). */
  void* map = &pcpu_probe;
  __u64 map_addr = 0, base = 0;
  bpf_probe_read_kernel(&map_addr, sizeof(map_addr), &map);
  __u64 pptrs = map_addr + bpf_core_field_offset(struct bpf_array, pptrs);
  if (bpf_probe_read_kernel(&base, sizeof(base), (void*)pptrs) != 0 || base == 0) {
    cpu_offsets_state = -1;
    return;
  }
  __u32 zero = 0;
  for (__u32 cpu = 0; cpu < nr_cpus && cpu < MAX_CPUS; cpu++) {
    void* elem = bpf_map_lookup_percpu_elem(&pcpu_probe, &zero, cpu);
    if (!elem) {
      cpu_offsets_state = -1;
      return;
    }
    __u64 addr = 0;
    bpf_probe_read_kernel(&addr, sizeof(addr), &elem);
    cpu_offset[cpu] = addr - base;
  }
  cpu_offsets_state = 1;
}

/* get_mm_counter() (the shared count) and get_mm_counter_sum() (the shared count plus every
 * CPU's slot: status since 6.16), as signed numbers; user space clamps at zero as the kernel. */
static __always_inline void read_counters(struct mm_struct* mm, struct task_record* r) {
  /* A field check rooted at mm_struct, not bpf_core_type_exists(struct mm_rss_stat): a type
   * the running kernel lacks makes libbpf (1.1) search the modules' BTF, which needs
   * CAP_SYS_ADMIN, failing the load with only CAP_BPF + CAP_PERFMON. */
  if (bpf_core_field_exists(struct mm_struct___old, rss_stat)) {
    /* Through bpf_probe_read_kernel: 6.1's verifier cannot walk the array of atomic_long_t
     * ("Type 'atomic_long_t' is not a struct"). */
    struct mm_struct___old* old = (void*)mm;
    r->counters[MM_FILEPAGES] = BPF_CORE_READ(old, rss_stat.count[MM_FILEPAGES].counter);
    r->counters[MM_ANONPAGES] = BPF_CORE_READ(old, rss_stat.count[MM_ANONPAGES].counter);
    r->counters[MM_SWAPENTS] = BPF_CORE_READ(old, rss_stat.count[MM_SWAPENTS].counter);
    r->counters[MM_SHMEMPAGES] = BPF_CORE_READ(old, rss_stat.count[MM_SHMEMPAGES].counter);
    for (int i = 0; i < 4; i++) r->shared[i] = r->counters[i];
    r->flags |= TASK_RECORD_EXACT;
    return;
  }
  struct mm_struct___new* m = (void*)mm;
  __u64 pcpu[4];
  /* Constant indices only: CO-RE relocates each access with the kernel's element size (a loop
   * index would multiply by the local struct's). */
#define READ_COUNTER(i)                  \
  r->counters[i] = m->rss_stat[i].count; \
  r->shared[i] = r->counters[i];         \
  pcpu[i] = (__u64)m->rss_stat[i].counters;
  READ_COUNTER(0)
  READ_COUNTER(1)
  READ_COUNTER(2)
  READ_COUNTER(3)
#undef READ_COUNTER
  if (cpu_offsets_state == 0) find_cpu_offsets();
  if (cpu_offsets_state != 1) return;
  for (__u32 cpu = 0; cpu < nr_cpus && cpu < MAX_CPUS; cpu++) {
    __u64 off = cpu_offset[cpu];
    for (int i = 0; i < 4; i++) {
      __s32 v = 0;
      bpf_probe_read_kernel(&v, sizeof(v), (void*)(pcpu[i] + off));
      r->counters[i] += v;
    }
  }
  r->flags |= TASK_RECORD_EXACT;
}

SEC("iter/task")
int walk(struct bpf_iter__task* ctx) {
  struct seq_file* seq = ctx->meta->seq;
  struct task_struct* t = ctx->task;
  if (!t) return 0;
  struct task_record r = {};
  r.tgid = t->tgid;
  r.min_flt = t->min_flt;
  r.maj_flt = t->maj_flt;
  if (t->pid != r.tgid) {
    /* Another thread: its faults only, for its group. */
    bpf_seq_write(seq, &r, TASK_RECORD_THREAD_SIZE);
    return 0;
  }
  r.flags = TASK_RECORD_LEADER;
  if (t->flags & PF_KTHREAD) r.flags |= TASK_RECORD_KTHREAD;
  struct signal_struct* sig = t->signal;
  if (sig) {
    r.min_flt += sig->min_flt;
    r.maj_flt += sig->maj_flt;
  }
  r.start_boottime = t->start_boottime;
  bpf_probe_read_kernel(r.comm, sizeof(r.comm), t->comm);
  struct mm_struct* mm = t->mm;
  if (mm && !(r.flags & TASK_RECORD_KTHREAD)) {
    r.flags |= TASK_RECORD_MM;
    r.locked_vm = mm->locked_vm;
    r.pinned_vm = mm->pinned_vm.counter;
    if (bpf_core_field_exists(mm->hugetlb_usage)) r.hugetlb_usage = mm->hugetlb_usage.counter;
    read_counters(mm, &r);
  }
  bpf_seq_write(seq, &r, sizeof(r));
  return 0;
}
