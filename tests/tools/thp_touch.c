/* Maps anonymous memory aligned to 2 MiB, asks for transparent hugepages with MADV_HUGEPAGE,
 * writes every page, then waits until stdin closes.
 * usage: thp_touch MIB
 * Prints "ready" once every page is touched. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#define ALIGN (2UL << 20)

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s MIB\n", argv[0]);
    return 2;
  }
  unsigned long mib = strtoul(argv[1], NULL, 10);
  if (mib == 0) return 2;
  size_t len = mib << 20;
  /* Over-allocate so a 2 MiB aligned range of `len` bytes fits inside. */
  char* raw = mmap(NULL, len + ALIGN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) {
    perror("mmap");
    return 1;
  }
  char* p = (char*)(((uintptr_t)raw + ALIGN - 1) & ~(ALIGN - 1));
  if (madvise(p, len, MADV_HUGEPAGE) != 0) {
    perror("madvise MADV_HUGEPAGE");
    return 1;
  }
  long page = sysconf(_SC_PAGESIZE);
  for (size_t off = 0; off < len; off += (size_t)page) p[off] = 1;
  printf("ready\n");
  fflush(stdout);
  char buf[64];
  while (read(0, buf, sizeof buf) > 0) {
  }
  munmap(raw, len + ALIGN);
  return 0;
}
