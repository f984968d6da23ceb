/* Maps hugepages with MAP_HUGETLB and touches some of them, then waits until stdin closes.
 * usage: hugetlb_hold PAGE_SIZE_KB MAPPED TOUCHED
 * Prints "ready" once the mapping is in place. The untouched pages stay reserved. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MAP_HUGE_SHIFT
#define MAP_HUGE_SHIFT 26
#endif

int main(int argc, char** argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: %s PAGE_SIZE_KB MAPPED TOUCHED\n", argv[0]);
    return 2;
  }
  unsigned long kb = strtoul(argv[1], NULL, 10);
  unsigned long mapped = strtoul(argv[2], NULL, 10);
  unsigned long touched = strtoul(argv[3], NULL, 10);
  if (kb == 0 || touched > mapped) return 2;
  size_t page = kb * 1024;
  int log2 = 0;
  while ((1UL << log2) < page) log2++;
  char* p = mmap(NULL, page * mapped, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | (log2 << MAP_HUGE_SHIFT), -1, 0);
  if (p == MAP_FAILED) {
    perror("mmap MAP_HUGETLB");
    return 1;
  }
  for (unsigned long i = 0; i < touched; i++) memset(p + i * page, 1, 64);
  printf("ready\n");
  fflush(stdout);
  char buf[64];
  while (read(0, buf, sizeof buf) > 0) {
  }
  munmap(p, page * mapped);
  return 0;
}
