/* Maps MIB mebibytes of anonymous memory, locks them with mlock() (they are faulted in and can
 * no longer be reclaimed or swapped), prints "ready", then waits until stdin closes.
 * usage: mlock_hold MIB */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s MIB\n", argv[0]);
    return 2;
  }
  size_t bytes = strtoul(argv[1], NULL, 10) << 20;
  if (bytes == 0) return 2;
  char* p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    perror("mmap");
    return 1;
  }
  /* The system call itself: AddressSanitizer's mlock() interceptor only warns and locks
   * nothing. */
  if (syscall(SYS_mlock, p, bytes) != 0) {
    perror("mlock");
    return 1;
  }
  printf("ready\n");
  fflush(stdout);
  char buf[64];
  while (read(0, buf, sizeof buf) > 0) {
  }
  return 0;
}
