/* Starts N idle child processes (each waits in pause()), prints "ready", and kills exactly
 * those children (by PID) when stdin closes or on SIGTERM/SIGINT. With NAMES, child i names
 * itself (comm) "<PREFIX><i % NAMES>" with prctl(PR_SET_NAME) (PREFIX "idle" by default; the
 * kernel keeps 15 characters: PREFIX "qemu-system-x86" makes stand-in QEMU processes). "ready"
 * comes only after every child has said (through a pipe) that it has its name, so a scrape after
 * "ready" sees every name.
 * usage: idle_procs N [NAMES [PREFIX]] */
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
  if (argc < 2 || argc > 4) {
    fprintf(stderr, "usage: %s N [NAMES [PREFIX]]\n", argv[0]);
    return 2;
  }
  long n = atol(argv[1]);
  long names = argc >= 3 ? atol(argv[2]) : 0;
  const char* prefix = argc == 4 ? argv[3] : "idle";
  children = calloc(n > 0 ? n : 1, sizeof *children);
  signal(SIGTERM, OnSignal);
  signal(SIGINT, OnSignal);
  int named[2];
  if (pipe(named) != 0) {
    perror("pipe");
    return 1;
  }
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
        snprintf(comm, sizeof comm, "%s%d", prefix, (int)(started % names % 100000));
        prctl(PR_SET_NAME, comm);
      }
      if (write(named[1], "x", 1) != 1) _exit(1);
      signal(SIGTERM, SIG_DFL);
      signal(SIGINT, SIG_DFL);
      for (;;) pause();
    }
    children[started] = pid;
  }
  for (long got = 0; got < n;) {
    char ok[256];
    size_t want = (size_t)(n - got) < sizeof ok ? (size_t)(n - got) : sizeof ok;
    ssize_t r = read(named[0], ok, want);
    if (r <= 0) {
      perror("read");
      KillAll();
      return 1;
    }
    got += r;
  }
  printf("ready\n");
  fflush(stdout);
  char buf[64];
  while (read(0, buf, sizeof buf) > 0) {
  }
  KillAll();
  return 0;
}
