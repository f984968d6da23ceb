/* Prototype: loads task_walk.bpf.c, walks every task ITERATIONS times and prints CPU per walk
 * in the format of tests/tools/proc_floor, so the two compare directly.
 * usage: task_walk ITERATIONS     (root, or CAP_BPF + CAP_PERFMON) */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "task_walk.skel.h"

struct record {
  uint32_t tgid, leader;
  uint64_t min_flt, maj_flt, start_time;
  int64_t file_pages, anon_pages, shmem_pages, swap_ents;
};

static double Seconds(struct timeval tv) { return tv.tv_sec + tv.tv_usec / 1e6; }

int main(int argc, char** argv) {
  int iterations = argc > 1 ? atoi(argv[1]) : 1;
  int dump = argc > 2;  /* any second argument: print the leaders' records of the last walk */
  struct task_walk_bpf* skel = task_walk_bpf__open_and_load();
  if (!skel) {
    fprintf(stderr, "cannot load the BPF program (root or CAP_BPF+CAP_PERFMON needed)\n");
    return 1;
  }
  struct bpf_link* link = bpf_program__attach_iter(skel->progs.walk, NULL);
  if (!link) {
    fprintf(stderr, "cannot attach iter/task\n");
    return 1;
  }
  static struct record buf[8192];
  long processes = 0;
  struct rusage r0, r1;
  struct timespec w0, w1;
  getrusage(RUSAGE_SELF, &r0);
  clock_gettime(CLOCK_MONOTONIC, &w0);
  for (int it = 0; it < iterations; it++) {
    int fd = bpf_iter_create(bpf_link__fd(link));
    if (fd < 0) return 1;
    processes = 0;
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0) {
      for (size_t i = 0; i < (size_t)n / sizeof(struct record); i++) {
        if (!buf[i].leader) continue;
        processes++;
        if (dump && it == iterations - 1) {
          printf("%u minflt=%llu majflt=%llu rss_pages=%lld swap=%lld\n", buf[i].tgid,
                 (unsigned long long)buf[i].min_flt, (unsigned long long)buf[i].maj_flt,
                 (long long)(buf[i].file_pages + buf[i].anon_pages + buf[i].shmem_pages),
                 (long long)buf[i].swap_ents);
        }
      }
    }
    close(fd);
  }
  clock_gettime(CLOCK_MONOTONIC, &w1);
  getrusage(RUSAGE_SELF, &r1);
  double cpu =
      Seconds(r1.ru_utime) - Seconds(r0.ru_utime) + Seconds(r1.ru_stime) - Seconds(r0.ru_stime);
  double wall = (w1.tv_sec - w0.tv_sec) + (w1.tv_nsec - w0.tv_nsec) / 1e9;
  printf("cpu_seconds_per_iteration=%.6f wall_seconds_per_iteration=%.6f processes=%ld\n",
         cpu / iterations, wall / iterations, processes);
  bpf_link__destroy(link);
  task_walk_bpf__destroy(skel);
  return 0;
}
