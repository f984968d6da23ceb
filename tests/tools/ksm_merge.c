/* Maps PAGES anonymous pages that all hold the same non-zero bytes, marks them MADV_MERGEABLE
 * for KSM, then waits until stdin closes.
 * usage: ksm_merge PAGES
 * Prints "ready" once the pages are filled and advised. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s PAGES\n", argv[0]);
    return 2;
  }
  unsigned long pages = strtoul(argv[1], NULL, 10);
  if (pages == 0) return 2;
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  size_t len = pages * page;
  char* p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    perror("mmap");
    return 1;
  }
  /* Small pages only: KSM does not merge inside a transparent hugepage until it is split. */
  madvise(p, len, MADV_NOHUGEPAGE);
  for (size_t i = 0; i < pages; i++) memset(p + i * page, 0x5a, page);
  if (madvise(p, len, MADV_MERGEABLE) != 0) {
    perror("madvise MADV_MERGEABLE");
    return 1;
  }
  printf("ready\n");
  fflush(stdout);
  char buf[64];
  while (read(0, buf, sizeof buf) > 0) {
  }
  munmap(p, len);
  return 0;
}
