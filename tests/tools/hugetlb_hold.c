/* Maps hugepages with MAP_HUGETLB and touches some of them, then waits until stdin closes.
 * usage: hugetlb_hold PAGE_SIZE_KB MAPPED TOUCHED [FILE]
 * With FILE (a new file on a hugetlbfs mount of that page size) the pages are a MAP_SHARED
 * mapping of the file instead, reserved at mmap time; the file is removed on exit.
 * Prints "ready" once the mapping is in place. The untouched pages stay reserved. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MAP_HUGE_SHIFT
#define MAP_HUGE_SHIFT 26
#endif

int main(int argc, char** argv) {
  if (argc != 4 && argc != 5) {
    fprintf(stderr, "usage: %s PAGE_SIZE_KB MAPPED TOUCHED [FILE]\n", argv[0]);
    return 2;
  }
  const char* file = argc == 5 ? argv[4] : NULL;
  unsigned long kb = strtoul(argv[1], NULL, 10);
  unsigned long mapped = strtoul(argv[2], NULL, 10);
  unsigned long touched = strtoul(argv[3], NULL, 10);
  if (kb == 0 || touched > mapped) return 2;
  size_t page = kb * 1024;
  int log2 = 0;
  while ((1UL << log2) < page) log2++;
  char* p;
  if (file) {
    int fd = open(file, O_RDWR | O_CREAT | O_EXCL, 0600);
    if (fd < 0) {
      perror(file);
      return 1;
    }
    p = mmap(NULL, page * mapped, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (p == MAP_FAILED) {
      perror("mmap MAP_SHARED");
      unlink(file);
      return 1;
    }
  } else {
    p = mmap(NULL, page * mapped, PROT_READ | PROT_WRITE,
             MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | (log2 << MAP_HUGE_SHIFT), -1, 0);
    if (p == MAP_FAILED) {
      perror("mmap MAP_HUGETLB");
      return 1;
    }
  }
  for (unsigned long i = 0; i < touched; i++) memset(p + i * page, 1, 64);
  printf("ready\n");
  fflush(stdout);
  char buf[64];
  while (read(0, buf, sizeof buf) > 0) {
  }
  munmap(p, page * mapped);
  if (file) unlink(file);
  return 0;
}
