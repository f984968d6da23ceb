/* Places pages on one NUMA node with libnuma, checks where the kernel put them, and holds them.
 *
 * usage: numa_pages [--hold] [--run-on CPU_NODE] hugetlb NODE PAGE_KB MAPPED TOUCHED
 *        numa_pages [--hold] thp NODE MIB
 *        numa_pages [--hold] ksm NODE MIB
 *
 * hugetlb: maps MAPPED hugepages of PAGE_KB with MAP_HUGETLB under an MPOL_BIND policy for NODE
 *          (numa_set_membind before mmap, so the reservation is made for that node, then
 *          numa_tonode_memory on the range), runs on NODE (numa_run_on_node) and touches TOUCHED
 *          of them; the rest stay reserved.
 * thp:     MIB of anonymous memory on NODE, 2 MiB aligned, madvise(MADV_HUGEPAGE), touched.
 * ksm:     MIB of identical anonymous pages on NODE, madvise(MADV_MERGEABLE).
 *
 * usage: numa_pages [--hold] split MIB PCT0 PCT1
 *        numa_pages [--hold] interleave MIB
 * split:      one mapping of MIB of anonymous 4 KiB pages (MADV_NOHUGEPAGE): its first PCT0 %
 *             bound to node 0 and touched, the next PCT1 % bound to node 1 and touched, the
 *             rest left untouched (not present). PCT1 may be 0 on a one-node machine.
 * interleave: MIB of anonymous 4 KiB pages under MPOL_INTERLEAVE over every node with memory,
 *             touched: the nodes alternate page by page.
 * Both check every touched page with move_pages in query mode and print "ready mode=...
 * pages=T N0=A N1=B ..." (the pages found on each node).
 *
 * --run-on CPU_NODE: run (every thread) on CPU_NODE instead of NODE, with one more thread that
 *          sleeps there, while the pages stay bound to NODE: memory remote from the CPUs.
 *
 * Every touched page is checked twice: get_mempolicy(MPOL_F_NODE|MPOL_F_ADDR) and move_pages in
 * query mode (nodes == NULL). Prints one line "ready mode=... node=N pages=T on_node=T" and, with
 * --hold, keeps the memory until SIGTERM or SIGINT (then exits 0).
 *
 * Exit codes: 0 done, 2 usage, 3 the node has no pages to give (a clear message names the node
 * and the size), 4 the kernel put a page on another node, 5 other errors (errno shown).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <numa.h>
#include <numaif.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MAP_HUGE_SHIFT
#define MAP_HUGE_SHIFT 26
#endif

static sigjmp_buf fault_jump;
static volatile sig_atomic_t stop_requested;

static void on_sigbus(int sig) {
  (void)sig;
  siglongjmp(fault_jump, 1);
}

static void on_stop(int sig) {
  (void)sig;
  stop_requested = 1;
}

static void* sleeper(void* arg) {
  (void)arg;
  for (;;) pause();
  return NULL;
}

static int usage(const char* argv0) {
  fprintf(stderr,
          "usage: %s [--hold] [--run-on CPU_NODE] hugetlb NODE PAGE_KB MAPPED TOUCHED\n"
          "       %s [--hold] thp NODE MIB\n"
          "       %s [--hold] ksm NODE MIB\n"
          "       %s [--hold] split MIB PCT0 PCT1\n"
          "       %s [--hold] interleave MIB\n",
          argv0, argv0, argv0, argv0, argv0);
  return 2;
}

/* Checks that every page of [p, p + count * step) is on node; returns the number that are. */
static long pages_on_node(char* p, long count, size_t step, int node) {
  long good = 0;
  void** addrs = calloc((size_t)count, sizeof(void*));
  int* status = calloc((size_t)count, sizeof(int));
  if (addrs == NULL || status == NULL) {
    fprintf(stderr, "numa_pages: out of memory\n");
    exit(5);
  }
  for (long i = 0; i < count; i++) {
    int where = -1;
    addrs[i] = p + (size_t)i * step;
    if (get_mempolicy(&where, NULL, 0, addrs[i], MPOL_F_NODE | MPOL_F_ADDR) != 0) {
      fprintf(stderr, "numa_pages: get_mempolicy(MPOL_F_NODE|MPOL_F_ADDR) page %ld: %s\n", i,
              strerror(errno));
      exit(5);
    }
    if (where != node)
      fprintf(stderr, "numa_pages: get_mempolicy: page %ld is on node %d, not %d\n", i, where,
              node);
    else
      good++;
  }
  if (move_pages(0, (unsigned long)count, addrs, NULL, status, 0) != 0) {
    fprintf(stderr, "numa_pages: move_pages (query): %s\n", strerror(errno));
    exit(5);
  }
  for (long i = 0; i < count; i++) {
    if (status[i] != node) {
      fprintf(stderr, "numa_pages: move_pages: page %ld reports %d, not node %d\n", i, status[i],
              node);
      if (good > 0) good--;
    }
  }
  free(addrs);
  free(status);
  return good;
}

/* Touches `count` base pages from p and counts them per node with move_pages (query mode);
 * prints them after "ready mode=MODE pages=COUNT". Returns 0, or 5 on an error. */
static int touch_and_report(const char* mode, char* p, long count, size_t base) {
  if (sigsetjmp(fault_jump, 1) != 0) {
    fprintf(stderr, "numa_pages: a node has no memory to give (SIGBUS)\n");
    exit(3);
  }
  for (long i = 0; i < count; i++) p[(size_t)i * base] = 1;
  long per_node[64] = {0};
  enum { kBatch = 4096 };
  void* addrs[kBatch];
  int status[kBatch];
  for (long i = 0; i < count; i += kBatch) {
    long n = count - i < kBatch ? count - i : kBatch;
    for (long j = 0; j < n; j++) addrs[j] = p + (size_t)(i + j) * base;
    if (move_pages(0, (unsigned long)n, addrs, NULL, status, 0) != 0) {
      fprintf(stderr, "numa_pages: move_pages (query): %s\n", strerror(errno));
      return 5;
    }
    for (long j = 0; j < n; j++) {
      if (status[j] < 0 || status[j] >= 64) {
        fprintf(stderr, "numa_pages: move_pages: touched page %ld reports %d\n", i + j, status[j]);
        return 5;
      }
      per_node[status[j]]++;
    }
  }
  printf("ready mode=%s pages=%ld", mode, count);
  for (int n = 0; n < 64; n++)
    if (per_node[n] > 0) printf(" N%d=%ld", n, per_node[n]);
  printf("\n");
  fflush(stdout);
  return 0;
}

static void hold(int enabled) {
  if (!enabled) return;
  while (!stop_requested) pause();
}

int main(int argc, char** argv) {
  int argi = 1;
  int holding = 0;
  if (argi < argc && strcmp(argv[argi], "--hold") == 0) {
    holding = 1;
    argi++;
  }
  volatile int run_on = -1;
  if (argi + 1 < argc && strcmp(argv[argi], "--run-on") == 0) {
    run_on = atoi(argv[argi + 1]);
    argi += 2;
  }
  if (argc - argi < 2) return usage(argv[0]);
  const char* mode = argv[argi];

  if (numa_available() < 0) {
    fprintf(stderr, "numa_pages: the kernel has no NUMA support (numa_available)\n");
    return 5;
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_stop;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  sa.sa_handler = on_sigbus;
  sigaction(SIGBUS, &sa, NULL);

  if (strcmp(mode, "split") == 0 || strcmp(mode, "interleave") == 0) {
    int split = strcmp(mode, "split") == 0;
    if (argc - argi != (split ? 4 : 2)) return usage(argv[0]);
    long mib = atol(argv[argi + 1]);
    long pct0 = split ? atol(argv[argi + 2]) : 100;
    long pct1 = split ? atol(argv[argi + 3]) : 0;
    if (mib <= 0 || pct0 < 0 || pct1 < 0 || pct0 + pct1 > 100) return usage(argv[0]);
    size_t base = (size_t)sysconf(_SC_PAGESIZE);
    size_t len = (size_t)mib << 20;
    long pages = (long)(len / base);
    char* p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
      fprintf(stderr, "numa_pages: mmap %ld MiB: %s\n", mib, strerror(errno));
      return 5;
    }
    madvise(p, len, MADV_NOHUGEPAGE); /* 4 KiB pages: one numa_maps entry per page */
    long n0 = pages * pct0 / 100, n1 = pages * pct1 / 100;
    if (split) {
      unsigned long mask0 = 1UL << 0, mask1 = 1UL << 1;
      if (n0 > 0 && mbind(p, (size_t)n0 * base, MPOL_BIND, &mask0, 64, 0) != 0) {
        fprintf(stderr, "numa_pages: mbind node 0: %s\n", strerror(errno));
        return 5;
      }
      if (n1 > 0 &&
          mbind(p + (size_t)n0 * base, (size_t)n1 * base, MPOL_BIND, &mask1, 64, 0) != 0) {
        fprintf(stderr, "numa_pages: mbind node 1: %s\n", strerror(errno));
        return n1 > 0 && numa_max_node() < 1 ? 3 : 5;
      }
    } else {
      numa_interleave_memory(p, len, numa_all_nodes_ptr);
    }
    int rc = touch_and_report(mode, p, n0 + n1, base);
    if (rc != 0) return rc;
    hold(holding);
    munmap(p, len);
    return 0;
  }

  if (argc - argi < 3) return usage(argv[0]);
  int node = atoi(argv[argi + 1]);
  if (node < 0 || node > numa_max_node() || !numa_bitmask_isbitset(numa_all_nodes_ptr, node)) {
    fprintf(stderr, "numa_pages: node %d is not online (nodes 0-%d)\n", node, numa_max_node());
    return 3;
  }

  /* Run on the node (when it has CPUs) so "local" is the node asked for; or on --run-on's. */
  if (run_on >= 0) {
    if (run_on > numa_max_node() || numa_run_on_node(run_on) != 0) {
      fprintf(stderr, "numa_pages: numa_run_on_node(%d): %s\n", run_on, strerror(errno));
      return 5;
    }
    pthread_t t;
    if (pthread_create(&t, NULL, sleeper, NULL) != 0) {
      fprintf(stderr, "numa_pages: pthread_create failed\n");
      return 5;
    }
  } else if (numa_run_on_node(node) != 0) {
    fprintf(stderr, "numa_pages: numa_run_on_node(%d): %s (continuing)\n", node, strerror(errno));
  }

  if (strcmp(mode, "hugetlb") == 0) {
    if (argc - argi != 5) return usage(argv[0]);
    unsigned long kb = strtoul(argv[argi + 2], NULL, 10);
    long mapped = atol(argv[argi + 3]);
    long touched = atol(argv[argi + 4]);
    if (kb == 0 || mapped <= 0 || touched < 0 || touched > mapped) return usage(argv[0]);
    size_t page = kb * 1024;
    int log2 = 0;
    while (((size_t)1 << log2) < page) log2++;
    struct bitmask* nodes = numa_allocate_nodemask();
    numa_bitmask_setbit(nodes, (unsigned)node);
    numa_set_bind_policy(1);
    numa_set_membind(nodes); /* the reservation at mmap follows the task's policy */
    char* p = mmap(NULL, page * (size_t)mapped, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | (log2 << MAP_HUGE_SHIFT), -1, 0);
    if (p == MAP_FAILED) {
      int e = errno;
      if (e == ENOMEM) {
        fprintf(stderr,
                "numa_pages: node %d has no %lu kB hugepages to give: cannot reserve %ld "
                "(mmap MAP_HUGETLB: %s)\n",
                node, kb, mapped, strerror(e));
        return 3;
      }
      fprintf(stderr, "numa_pages: mmap MAP_HUGETLB %lu kB x %ld: %s\n", kb, mapped, strerror(e));
      return 5;
    }
    numa_tonode_memory(p, page * (size_t)mapped, node);
    long i = 0;
    if (sigsetjmp(fault_jump, 1) != 0) {
      fprintf(stderr,
              "numa_pages: node %d has no %lu kB hugepages to give: SIGBUS touching page %ld "
              "of %ld (the pool of another node may still have free pages)\n",
              node, kb, i + 1, touched);
      return 3;
    }
    for (i = 0; i < touched; i++) ((volatile char*)p)[(size_t)i * page] = 1;
    long good = touched > 0 ? pages_on_node(p, touched, page, node) : 0;
    printf("ready mode=hugetlb node=%d page_kb=%lu mapped=%ld pages=%ld on_node=%ld run_on=%d\n",
           node, kb, mapped, touched, good, run_on >= 0 ? run_on : node);
    fflush(stdout);
    if (good != touched) return 4;
    hold(holding);
    munmap(p, page * (size_t)mapped);
    numa_free_nodemask(nodes);
    return 0;
  }

  if (strcmp(mode, "thp") == 0 || strcmp(mode, "ksm") == 0) {
    if (argc - argi != 3) return usage(argv[0]);
    long mib = atol(argv[argi + 2]);
    if (mib <= 0) return usage(argv[0]);
    size_t len = (size_t)mib << 20;
    size_t huge = (size_t)2 << 20;
    /* numa_alloc_onnode gives an mmap'd, node-bound region; over-allocate to align to 2 MiB. */
    char* raw = numa_alloc_onnode(len + huge, node);
    if (raw == NULL) {
      fprintf(stderr, "numa_pages: node %d has no memory to give (numa_alloc_onnode %ld MiB)\n",
              node, mib);
      return 3;
    }
    char* p = (char*)(((uintptr_t)raw + huge - 1) & ~(uintptr_t)(huge - 1));
    int advice = strcmp(mode, "thp") == 0 ? MADV_HUGEPAGE : MADV_MERGEABLE;
    if (madvise(p, len, advice) != 0) {
      fprintf(stderr, "numa_pages: madvise(%s): %s\n", mode, strerror(errno));
      return 5;
    }
    size_t base = (size_t)sysconf(_SC_PAGESIZE);
    if (sigsetjmp(fault_jump, 1) != 0) {
      fprintf(stderr, "numa_pages: node %d has no memory to give (SIGBUS)\n", node);
      return 3;
    }
    for (size_t off = 0; off < len; off += base) memset(p + off, 0x5a, 64);
    long count = (long)(len / base);
    long good = pages_on_node(p, count, base, node);
    printf("ready mode=%s node=%d pages=%ld on_node=%ld\n", mode, node, count, good);
    fflush(stdout);
    if (good != count) return 4;
    hold(holding);
    numa_free(raw, len + huge);
    return 0;
  }
  return usage(argv[0]);
}
