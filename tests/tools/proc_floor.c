/* The floor for per-process collection: walk procfs and read /proc/<pid>/stat and status of
 * every process with one open/read/close each, nothing else (no parsing, no output).
 * usage: proc_floor ITERATIONS [PROCFS]
 * Prints "cpu_seconds_per_iteration=<s> wall_seconds_per_iteration=<s> processes=<n>
 * rss_kib=<k>". Used by scripts/bench-processes.py as the cost nobody can go below. */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static double Seconds(struct timeval tv) { return tv.tv_sec + tv.tv_usec / 1e6; }

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s ITERATIONS [PROCFS]\n", argv[0]);
    return 2;
  }
  int iterations = atoi(argv[1]);
  const char* procfs = argc > 2 ? argv[2] : "/proc";
  int dfd = open(procfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0 || iterations <= 0) return 1;
  static char buf[4096];
  long processes = 0;
  struct rusage r0, r1;
  struct timespec w0, w1;
  getrusage(RUSAGE_SELF, &r0);
  clock_gettime(CLOCK_MONOTONIC, &w0);
  for (int it = 0; it < iterations; it++) {
    processes = 0;
    int fd = dup(dfd);
    DIR* dir = fdopendir(fd);
    rewinddir(dir);
    struct dirent* e;
    while ((e = readdir(dir)) != NULL) {
      if (e->d_name[0] < '1' || e->d_name[0] > '9') continue;
      static const char* files[] = {"stat", "status"};
      for (int f = 0; f < 2; f++) {
        char rel[300];
        snprintf(rel, sizeof rel, "%s/%s", e->d_name, files[f]);
        int pfd = openat(dfd, rel, O_RDONLY | O_CLOEXEC);
        if (pfd < 0) continue;
        if (read(pfd, buf, sizeof buf) < 0) perror("read");
        close(pfd);
      }
      processes++;
    }
    closedir(dir);
  }
  clock_gettime(CLOCK_MONOTONIC, &w1);
  getrusage(RUSAGE_SELF, &r1);
  double cpu =
      Seconds(r1.ru_utime) - Seconds(r0.ru_utime) + Seconds(r1.ru_stime) - Seconds(r0.ru_stime);
  double wall = (w1.tv_sec - w0.tv_sec) + (w1.tv_nsec - w0.tv_nsec) / 1e9;
  long rss_kib = 0; /* VmRSS now: ru_maxrss would carry the parent's peak across exec */
  FILE* st = fopen("/proc/self/status", "r");
  char line[256];
  while (st != NULL && fgets(line, sizeof line, st) != NULL) {
    if (sscanf(line, "VmRSS: %ld", &rss_kib) == 1) break;
  }
  if (st != NULL) fclose(st);
  printf(
      "cpu_seconds_per_iteration=%.6f wall_seconds_per_iteration=%.6f processes=%ld "
      "rss_kib=%ld\n",
      cpu / iterations, wall / iterations, processes, rss_kib);
  return 0;
}
