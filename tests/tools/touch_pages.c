/* Maps N anonymous pages, prints "mapped", waits for a line on stdin, touches each page once
 * (one minor fault per page), prints "touched", then waits until stdin closes.
 * usage: touch_pages N */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

/* Not instrumented: under AddressSanitizer each store would also fault in shadow pages. */
__attribute__((no_sanitize_address)) static void Touch(char* p, long n, long page) {
  for (long i = 0; i < n; i++) p[i * page] = 1;
}

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s N\n", argv[0]);
    return 2;
  }
  long n = atol(argv[1]);
  long page = sysconf(_SC_PAGESIZE);
  char* p = mmap(NULL, n * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    perror("mmap");
    return 1;
  }
  /* No transparent hugepages: one fault per base page. */
  madvise(p, n * page, MADV_NOHUGEPAGE);
  printf("mapped\n");
  fflush(stdout);
  char line[64];
  if (fgets(line, sizeof line, stdin) == NULL) return 1;
  Touch(p, n, page);
  printf("touched\n");
  fflush(stdout);
  while (fgets(line, sizeof line, stdin) != NULL) {
  }
  return 0;
}
