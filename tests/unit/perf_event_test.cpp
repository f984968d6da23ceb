// The real perf_event_open backend and the tlb collector on it, against the running kernel, with
// a software event (page faults: no PMU needed) on real child processes with several threads:
// open per thread, inherit into threads created later, group reads, aggregation per group, and
// counts of an exited process kept.

#include "kernel/perf_event.h"

#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <thread>

#include "collectors/tlb.h"

namespace pagescope {
namespace {

constexpr int kPages = 1000;

void* TouchPages(void* arg) {
  int done_fd = *static_cast<int*>(arg);
  long page = sysconf(_SC_PAGESIZE);
  auto* p = static_cast<char*>(
      mmap(nullptr, kPages * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  if (p == MAP_FAILED) _exit(3);
  for (long i = 0; i < kPages; ++i) p[i * page] = 1;
  char c = 'd';
  if (write(done_fd, &c, 1) != 1) _exit(4);
  return nullptr;
}

// A child process named `comm` with `threads` threads besides its main thread. Each command
// byte makes the main thread start one more thread that touches kPages pages and reports.
class Child {
 public:
  Child(const char* comm, int threads) {
    int cmd[2], done[2];
    if (pipe(cmd) != 0 || pipe(done) != 0) std::abort();
    pid_ = fork();
    if (pid_ == 0) {
      close(cmd[1]);
      close(done[0]);
      prctl(PR_SET_NAME, comm);
      static int done_fd;
      done_fd = done[1];
      // Idle threads first (they exist before the counters are opened).
      for (int i = 0; i < threads; ++i) {
        pthread_t t;
        pthread_create(
            &t, nullptr,
            [](void*) -> void* {
              for (;;) pause();
            },
            nullptr);
      }
      char c = 'r';
      if (write(done_fd, &c, 1) != 1) _exit(2);
      while (read(cmd[0], &c, 1) == 1) {
        pthread_t t;
        pthread_create(&t, nullptr, TouchPages, &done_fd);
      }
      _exit(0);
    }
    close(cmd[0]);
    close(done[1]);
    cmd_ = cmd[1];
    done_ = done[0];
    char c;
    EXPECT_EQ(read(done_, &c, 1), 1);  // the idle threads are running
  }
  ~Child() { Kill(); }
  int pid() const { return pid_; }
  // Starts a thread that touches kPages pages, and waits until it did.
  void Touch() {
    char c = 'g';
    ASSERT_EQ(write(cmd_, &c, 1), 1);
    ASSERT_EQ(read(done_, &c, 1), 1);
  }
  void Kill() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    close(cmd_);
    close(done_);
    pid_ = -1;
  }
  std::vector<int> Tids() const {
    std::vector<int> out;
    for (const auto& e :
         std::filesystem::directory_iterator("/proc/" + std::to_string(pid_) + "/task")) {
      out.push_back(std::stoi(e.path().filename().string()));
    }
    return out;
  }

 private:
  pid_t pid_ = -1;
  int cmd_ = -1, done_ = -1;
};

bool PerfAvailable() {
  auto b = SystemPerfBackend();
  int h = b->Open(0, {*FindPerfEvent("page_faults")}, PerfOpenOptions{});
  if (h < 0) return false;
  b->Close(h);
  return true;
}

TEST(PerfEventSystem, OpenPerThreadInheritReadAndSum) {
  if (!PerfAvailable()) GTEST_SKIP() << "perf_event_open refused here (paranoid or seccomp)";
  Child child("pgs-perf-unit", 3);
  auto backend = SystemPerfBackend();
  std::vector<PerfEventSpec> events = {*FindPerfEvent("page_faults"),
                                       *FindPerfEvent("context_switches")};
  std::vector<int> handles;
  auto tids = child.Tids();
  ASSERT_EQ(tids.size(), 4u);
  for (int tid : tids) {
    int h = backend->Open(tid, events, PerfOpenOptions{});
    ASSERT_GE(h, 0) << "tid " << tid << ": " << strerror(-h);
    handles.push_back(h);
  }
  auto sum = [&] {
    std::uint64_t faults = 0;
    for (int h : handles) {
      std::vector<PerfCount> c;
      EXPECT_TRUE(backend->Read(h, &c));
      EXPECT_EQ(c.size(), 2u);
      // A software event is always on: running equals enabled, nothing to scale.
      EXPECT_EQ(c[0].enabled, c[0].running);
      faults += c[0].value;
    }
    return faults;
  };
  std::uint64_t before = sum();
  // Three threads created after the counters were opened, by the counted main thread: counted
  // through inherit, into the main thread's counters.
  child.Touch();
  child.Touch();
  child.Touch();
  std::uint64_t after = sum();
  EXPECT_GE(after - before, 3u * kPages);
  EXPECT_LT(after - before, 3u * kPages + 500);
  for (int h : handles) backend->Close(h);

  // One counter per event (no group) reads the same way.
  PerfOpenOptions single;
  single.group = false;
  int h = backend->Open(child.pid(), events, single);
  ASSERT_GE(h, 0);
  child.Touch();
  std::vector<PerfCount> c;
  ASSERT_TRUE(backend->Read(h, &c));
  ASSERT_EQ(c.size(), 2u);
  EXPECT_GE(c[0].value, static_cast<std::uint64_t>(kPages));
  backend->Close(h);
  EXPECT_FALSE(backend->Read(h, &c));
  // A thread that does not exist.
  EXPECT_EQ(backend->Open(0x7ffffff0, events, PerfOpenOptions{}), -ESRCH);
}

double Value(const std::vector<prometheus::MetricFamily>& fams, const std::string& name,
             const std::string& group) {
  for (const auto& f : fams) {
    if (f.name != name) continue;
    for (const auto& m : f.metric) {
      if (!m.label.empty() && m.label[0].value == group) return m.counter.value;
    }
  }
  return -1;
}

TEST(PerfEventSystem, CollectorCountsAGroupOfRealProcesses) {
  if (!PerfAvailable()) GTEST_SKIP() << "perf_event_open refused here (paranoid or seccomp)";
  TlbSettings s;
  s.events = {*FindPerfEvent("page_faults")};
  s.top_groups = 0;
  s.include_groups = {"pgs-perf-coll"};
  s.vms = false;
  auto collector = MakeTlbCollector(s, SystemPerfBackend());
  FsRoot fs;  // the real /proc and /sys
  log::RateLimiter limiter(std::chrono::minutes(1));
  auto scrape = [&] {
    Context ctx(fs, limiter);
    MetricSink out;
    collector->Collect(ctx, out);
    EXPECT_TRUE(out.errors().empty());
    return out.Take();
  };
  const std::string name = "pagescope_tlb_page_faults_total";
  Child a("pgs-perf-coll", 2);
  Child b("pgs-perf-coll", 1);
  auto first = scrape();
  double v0 = Value(first, name, "pgs-perf-coll");
  ASSERT_GE(v0, 0) << "the group is counted";
  a.Touch();
  b.Touch();
  b.Touch();
  double v1 = Value(scrape(), name, "pgs-perf-coll");
  EXPECT_GE(v1 - v0, 3.0 * kPages);
  EXPECT_LT(v1 - v0, 3.0 * kPages + 1000);
  // b exits: what it counted stays; a goes on counting.
  b.Kill();
  a.Touch();
  double v2 = Value(scrape(), name, "pgs-perf-coll");
  EXPECT_GE(v2 - v1, 1.0 * kPages);
  EXPECT_LT(v2 - v1, 1.0 * kPages + 1000);
  a.Kill();
}

}  // namespace
}  // namespace pagescope
