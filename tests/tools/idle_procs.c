/* Starts N idle child processes (each waits in pause()), prints "ready", and kills exactly
 * those children (by PID) when stdin closes or on SIGTERM/SIGINT. With NAMES, child i names
 * itself (comm) "idle<i % NAMES>" with prctl(PR_SET_NAME).
 * usage: idle_procs N [NAMES] */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static pid_t* children;
static long started;

static void KillAll(void) {
  for (long i = 0; i < started; i++) kill(children[i], SIGKILL);
  for (long i = 0; i < started; i++) waitpid(children[i], NULL, 0);
}

static void OnSignal(int sig) {
  (void)sig;
  KillAll();
  _exit(0);
}

int main(int argc, char** argv) {
  if (argc != 2 && argc != 3) {
    fprintf(stderr, "usage: %s N [NAMES]\n", argv[0]);
    return 2;
  }
  long n = atol(argv[1]);
  long names = argc == 3 ? atol(argv[2]) : 0;
  children = calloc(n > 0 ? n : 1, sizeof *children);
  signal(SIGTERM, OnSignal);
  signal(SIGINT, OnSignal);
  for (started = 0; started < n; started++) {
    pid_t pid = fork();
    if (pid < 0) {
      perror("fork");
      KillAll();
      return 1;
    }
    if (pid == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (names > 0) {
        char comm[16];
        snprintf(comm, sizeof comm, "idle%d", (int)(started % names % 100000));
        prctl(PR_SET_NAME, comm);
      }
      signal(SIGTERM, SIG_DFL);
      signal(SIGINT, SIG_DFL);
      for (;;) pause();
    }
    children[started] = pid;
  }
  printf("ready\n");
  fflush(stdout);
  char buf[64];
  while (read(0, buf, sizeof buf) > 0) {
  }
  KillAll();
  return 0;
}
