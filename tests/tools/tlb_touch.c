/* Touches memory at random through 4 KiB pages or 2 MiB hugepages, to show what hugepages do to
 * TLB misses (tests/e2e/test_live_tlb.py) and what counting costs (scripts/bench-tlb.py).
 *
 * usage: tlb_touch 4k|2m SIZE_MIB ACCESSES
 *   Prints "ready" and waits for a line on stdin; maps SIZE_MIB of anonymous memory (4k:
 *   MADV_NOHUGEPAGE, so no transparent hugepages; 2m: MAP_HUGETLB 2 MiB pages from the pool),
 *   writes every page once (faults), links its cache lines into one random cycle, prints
 *   "prepared FAULT_NS" (CPU time of the map and fault part) and waits for another line; then reads
 * ACCESSES cache lines along the cycle (each address comes from the previous load, so the loads
 * cannot overlap), prints "done ACCESS_NS CHECKSUM" (CPU time) and waits until stdin closes.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#ifndef MAP_HUGE_SHIFT
#define MAP_HUGE_SHIFT 26
#endif

/* CPU time of the process (user and system): what counting costs it, without the time it
 * waits for a CPU on a busy machine. */
static uint64_t NowNs(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Not instrumented: under AddressSanitizer each access would also touch shadow memory. */
__attribute__((no_sanitize_address)) static void Fault(uint64_t* p, size_t bytes, size_t page) {
  for (size_t off = 0; off < bytes; off += page) p[off / 8] = off;
}

/* Every cache line holds the index of the next line to visit: a random cycle over all lines
 * (Sattolo's algorithm), so every access depends on the one before. */
__attribute__((no_sanitize_address)) static void Link(uint64_t* p, size_t lines) {
  uint64_t x = 88172645463325252ull;
  for (size_t i = 0; i < lines; i++) p[i * 8] = i;
  for (size_t i = lines - 1; i > 0; i--) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    size_t j = x % i;
    uint64_t t = p[i * 8];
    p[i * 8] = p[j * 8];
    p[j * 8] = t;
  }
}

__attribute__((no_sanitize_address)) static uint64_t Chase(const uint64_t* p, uint64_t n) {
  uint64_t at = 0, sum = 0;
  for (uint64_t i = 0; i < n; i++) {
    at = p[at * 8];
    sum += at;
  }
  return sum;
}

int main(int argc, char** argv) {
  if (argc != 4 || (strcmp(argv[1], "4k") != 0 && strcmp(argv[1], "2m") != 0)) {
    fprintf(stderr, "usage: %s 4k|2m SIZE_MIB ACCESSES\n", argv[0]);
    return 2;
  }
  int huge = strcmp(argv[1], "2m") == 0;
  size_t bytes = strtoull(argv[2], NULL, 10) << 20;
  uint64_t accesses = strtoull(argv[3], NULL, 10);
  if (bytes == 0) return 2;
  printf("ready\n");
  fflush(stdout);
  char line[64];
  if (fgets(line, sizeof line, stdin) == NULL) return 1;

  uint64_t t0 = NowNs();
  int flags = MAP_PRIVATE | MAP_ANONYMOUS;
  if (huge) flags |= MAP_HUGETLB | (21 << MAP_HUGE_SHIFT);
  uint64_t* p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, flags, -1, 0);
  if (p == MAP_FAILED) {
    perror(huge ? "mmap MAP_HUGETLB 2 MiB" : "mmap");
    return 1;
  }
  if (!huge) madvise(p, bytes, MADV_NOHUGEPAGE);
  Fault(p, bytes, huge ? 2u << 20 : (size_t)sysconf(_SC_PAGESIZE));
  uint64_t t1 = NowNs();
  Link(p, bytes / 64);
  printf("prepared %llu\n", (unsigned long long)(t1 - t0));
  fflush(stdout);
  if (fgets(line, sizeof line, stdin) == NULL) return 1;
  uint64_t t2 = NowNs();
  uint64_t sum = Chase(p, accesses);
  uint64_t t3 = NowNs();
  printf("done %llu %llu\n", (unsigned long long)(t3 - t2), (unsigned long long)sum);
  fflush(stdout);
  while (fgets(line, sizeof line, stdin) != NULL) {
  }
  return 0;
}
