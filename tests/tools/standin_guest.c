/* A stand-in for a QEMU guest, for scripts/bench-harm.py: a process whose comm is
 * "qemu-system-x86" and whose command line reads as QEMU's, holding guest RAM touched page by
 * page, with one thread that maps and unmaps a page in a loop and reports its worst round once a
 * second. mmap and munmap take the process's mmap_lock for writing, so that thread waits while
 * anyone walks the process's page tables (numa_maps, smaps, smaps_rollup hold the lock for
 * reading during the walk): its worst round is the stall a vCPU faulting behind it would see.
 *
 * usage: run with argv[0] "qemu-system-x86_64" and QEMU-like options, e.g.
 *   qemu-system-x86_64 -name guest=g1,debug-threads=on -m 1024
 *       -object memory-backend-ram,id=pc.ram,size=1024M -machine pc,memory-backend=pc.ram
 *       -standin-backing 4k|hugetlb|thp [-standin-hugetlb-kb 2048] [-standin-vmas N]
 *       [-standin-rt]
 * Only -m (MiB) and the -standin-* options are read; the rest is there for the qemu collector
 * (proctable/qemu_cmdline.h).
 *   4k:      anonymous private memory with MADV_NOHUGEPAGE (THP cannot fold it), every 4 KiB
 *            page touched: one page-table entry per page, as a guest backed by 4 KiB pages;
 *   hugetlb: a hugetlb memfd of the given page size (as memory-backend-memfd,hugetlb=on), mapped
 *            shared, every page touched (the pool must hold them: exit 3 otherwise);
 *   thp:     anonymous memory aligned to 2 MiB with MADV_HUGEPAGE, touched.
 * -standin-vmas N adds N one-page mappings that cannot merge (alternating protections): a
 * process with many mappings and little memory, for the cost of listing mappings.
 * -standin-rt runs the mapping thread under SCHED_FIFO (priority 1; needs root or CAP_SYS_NICE,
 * exit 5 otherwise): on a machine busy with other work its rounds then measure waiting for the
 * mmap_lock, not waiting for a CPU (it runs about 5 % of the time: 1 ms sleeps).
 *
 * Prints "ready" once the memory is touched, then once a second
 *   "stall worst_us=W rounds=R"
 * (the longest mmap+touch+munmap round of that second in µs, and the rounds done; the thread
 * sleeps 1 ms between rounds). Exits 0 when stdin closes or on SIGTERM. Exit codes: 2 usage,
 * 3 no memory (hugetlb pool too small: SIGBUS or ENOMEM), 5 other errors.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef MFD_HUGETLB
#define MFD_HUGETLB 0x0004U
#endif
#ifndef MFD_HUGE_SHIFT
#define MFD_HUGE_SHIFT 26
#endif

static sigjmp_buf fault_jump;

static void on_sigbus(int sig) {
  (void)sig;
  siglongjmp(fault_jump, 1);
}

static void on_term(int sig) {
  (void)sig;
  _exit(0);
}

static double now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static void* churn(void* arg) {
  (void)arg;
  long page = sysconf(_SC_PAGESIZE);
  double second_start = now_us(), worst = 0;
  long rounds = 0;
  struct timespec pause = {0, 1000000}; /* 1 ms */
  for (;;) {
    double t0 = now_us();
    volatile char* p =
        mmap(NULL, (size_t)page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
      fprintf(stderr, "standin_guest: mmap: %s\n", strerror(errno));
      exit(5);
    }
    p[0] = 1;
    munmap((void*)p, (size_t)page);
    double t1 = now_us();
    if (t1 - t0 > worst) worst = t1 - t0;
    rounds++;
    if (t1 - second_start >= 1e6) {
      printf("stall worst_us=%.0f rounds=%ld\n", worst, rounds);
      fflush(stdout);
      second_start = t1;
      worst = 0;
      rounds = 0;
    }
    nanosleep(&pause, NULL);
  }
  return NULL;
}

static int usage(void) {
  fprintf(stderr,
          "usage: qemu-system-x86_64 -m MIB ... -standin-backing 4k|hugetlb|thp "
          "[-standin-hugetlb-kb KB] [-standin-vmas N]\n");
  return 2;
}

/* Touches every `step` bytes of [p, p + len); 3 on SIGBUS (no hugepage left). */
static int touch(char* p, size_t len, size_t step) {
  if (sigsetjmp(fault_jump, 1) != 0) {
    fprintf(stderr, "standin_guest: SIGBUS touching guest RAM: the hugepage pool is too small\n");
    return 3;
  }
  for (size_t off = 0; off < len; off += step) p[off] = 1;
  return 0;
}

int main(int argc, char** argv) {
  long mib = 0, hugetlb_kb = 2048, vmas = 0;
  int rt = 0;
  const char* backing = NULL;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "-standin-rt") == 0) rt = 1;
  }
  for (int i = 1; i + 1 < argc; i++) {
    if (strcmp(argv[i], "-m") == 0) mib = atol(argv[i + 1]);
    if (strcmp(argv[i], "-standin-backing") == 0) backing = argv[i + 1];
    if (strcmp(argv[i], "-standin-hugetlb-kb") == 0) hugetlb_kb = atol(argv[i + 1]);
    if (strcmp(argv[i], "-standin-vmas") == 0) vmas = atol(argv[i + 1]);
  }
  if (mib <= 0 || backing == NULL || hugetlb_kb <= 0 || vmas < 0) return usage();
  prctl(PR_SET_NAME, "qemu-system-x86"); /* comm as QEMU's (15 characters) */
  signal(SIGTERM, on_term);
  signal(SIGBUS, on_sigbus);

  size_t len = (size_t)mib << 20;
  long base = sysconf(_SC_PAGESIZE);
  char* ram = NULL;
  int rc = 0;
  if (strcmp(backing, "4k") == 0 || strcmp(backing, "thp") == 0) {
    size_t align = (size_t)2 << 20;
    char* raw = mmap(NULL, len + align, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) {
      fprintf(stderr, "standin_guest: mmap %ld MiB: %s\n", mib, strerror(errno));
      return 5;
    }
    ram = (char*)(((uintptr_t)raw + align - 1) & ~(uintptr_t)(align - 1));
    int advice = strcmp(backing, "4k") == 0 ? MADV_NOHUGEPAGE : MADV_HUGEPAGE;
    if (madvise(ram, len, advice) != 0) {
      fprintf(stderr, "standin_guest: madvise: %s\n", strerror(errno));
      return 5;
    }
    rc = touch(ram, len, (size_t)base);
  } else if (strcmp(backing, "hugetlb") == 0) {
    size_t page = (size_t)hugetlb_kb << 10;
    unsigned log2 = 0;
    while (((size_t)1 << log2) < page) log2++;
    int fd = (int)syscall(SYS_memfd_create, "pc.ram", MFD_HUGETLB | (log2 << MFD_HUGE_SHIFT));
    if (fd < 0 || ftruncate(fd, (off_t)len) != 0) {
      fprintf(stderr, "standin_guest: hugetlb memfd of %ld kB pages: %s\n", hugetlb_kb,
              strerror(errno));
      return 5;
    }
    ram = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (ram == MAP_FAILED) {
      int e = errno;
      fprintf(stderr, "standin_guest: mmap hugetlb memfd %ld MiB: %s\n", mib, strerror(e));
      return e == ENOMEM ? 3 : 5;
    }
    rc = touch(ram, len, page);
  } else {
    return usage();
  }
  if (rc != 0) return rc;
  for (long i = 0; i < vmas; i++) {
    int prot = (i % 2) ? PROT_READ : PROT_READ | PROT_WRITE;
    if (mmap(NULL, (size_t)base, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) == MAP_FAILED) {
      fprintf(stderr, "standin_guest: mapping %ld of %ld: %s\n", i, vmas, strerror(errno));
      return 5;
    }
  }
  pthread_t t;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  if (rt) {
    struct sched_param sp = {.sched_priority = 1};
    pthread_attr_setinheritsched(&attr, PTHREAD_EXPLICIT_SCHED);
    pthread_attr_setschedpolicy(&attr, SCHED_FIFO);
    pthread_attr_setschedparam(&attr, &sp);
  }
  int err = pthread_create(&t, &attr, churn, NULL);
  if (err != 0) {
    fprintf(stderr, "standin_guest: pthread_create%s: %s\n", rt ? " (SCHED_FIFO)" : "",
            strerror(err));
    return 5;
  }
  printf("ready\n");
  fflush(stdout);
  char buf[64];
  while (read(0, buf, sizeof buf) > 0) {
  }
  return 0;
}
