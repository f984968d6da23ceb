#include "kernel/perf_event.h"

#include <linux/perf_event.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <unordered_map>

namespace pagescope {
namespace {

constexpr std::uint64_t HwCache(std::uint64_t cache, std::uint64_t op, std::uint64_t result) {
  return cache | (op << 8) | (result << 16);
}

}  // namespace

const std::vector<PerfEventSpec>& KnownPerfEvents() {
  static const std::vector<PerfEventSpec> kEvents = {
      {"instructions", PERF_TYPE_HARDWARE, PERF_COUNT_HW_INSTRUCTIONS},
      {"cycles", PERF_TYPE_HARDWARE, PERF_COUNT_HW_CPU_CYCLES},
      {"dtlb_loads", PERF_TYPE_HW_CACHE,
       HwCache(PERF_COUNT_HW_CACHE_DTLB, PERF_COUNT_HW_CACHE_OP_READ,
               PERF_COUNT_HW_CACHE_RESULT_ACCESS)},
      {"dtlb_load_misses", PERF_TYPE_HW_CACHE,
       HwCache(PERF_COUNT_HW_CACHE_DTLB, PERF_COUNT_HW_CACHE_OP_READ,
               PERF_COUNT_HW_CACHE_RESULT_MISS)},
      {"dtlb_store_misses", PERF_TYPE_HW_CACHE,
       HwCache(PERF_COUNT_HW_CACHE_DTLB, PERF_COUNT_HW_CACHE_OP_WRITE,
               PERF_COUNT_HW_CACHE_RESULT_MISS)},
      {"itlb_load_misses", PERF_TYPE_HW_CACHE,
       HwCache(PERF_COUNT_HW_CACHE_ITLB, PERF_COUNT_HW_CACHE_OP_READ,
               PERF_COUNT_HW_CACHE_RESULT_MISS)},
      // Software events: they need no PMU, so they show the counting path works where the
      // hardware ones cannot be counted (a VM without PMU passthrough).
      {"page_faults", PERF_TYPE_SOFTWARE, PERF_COUNT_SW_PAGE_FAULTS},
      {"context_switches", PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CONTEXT_SWITCHES},
  };
  return kEvents;
}

const PerfEventSpec* FindPerfEvent(const std::string& name) {
  for (const auto& e : KnownPerfEvents()) {
    if (e.name == name) return &e;
  }
  return nullptr;
}

namespace {

class SystemBackend : public PerfBackend {
 public:
  int Open(int tid, const std::vector<PerfEventSpec>& events,
           const PerfOpenOptions& options) override {
    if (events.empty()) return -EINVAL;
    std::vector<int> fds;
    auto fail = [&fds](int err) {
      for (int fd : fds) ::close(fd);
      return -err;
    };
    for (std::size_t i = 0; i < events.size(); ++i) {
      perf_event_attr attr;
      std::memset(&attr, 0, sizeof attr);
      attr.size = sizeof attr;
      attr.type = events[i].type;
      attr.config = events[i].config;
      attr.read_format = PERF_FORMAT_TOTAL_TIME_ENABLED | PERF_FORMAT_TOTAL_TIME_RUNNING;
      if (options.group) attr.read_format |= PERF_FORMAT_GROUP;
      attr.inherit = options.inherit ? 1 : 0;
      attr.inherit_thread = options.inherit && options.inherit_thread ? 1 : 0;
      attr.exclude_kernel = options.exclude_kernel ? 1 : 0;
      attr.exclude_hv = 1;
      int group_fd = options.group && i > 0 ? fds[0] : -1;
      long fd = ::syscall(SYS_perf_event_open, &attr, static_cast<pid_t>(tid), -1, group_fd,
                          PERF_FLAG_FD_CLOEXEC);
      if (fd < 0) return fail(errno);
      fds.push_back(static_cast<int>(fd));
    }
    std::lock_guard lock(mu_);
    int handle = next_++;
    if (next_ < 0) next_ = 0;
    open_.emplace(handle, Entry{std::move(fds), options.group});
    return handle;
  }

  bool Read(int handle, std::vector<PerfCount>* counts) override {
    Entry e;
    {
      std::lock_guard lock(mu_);
      auto it = open_.find(handle);
      if (it == open_.end()) return false;
      e = it->second;
    }
    counts->assign(e.fds.size(), PerfCount{});
    if (e.group) {
      // struct read_format { u64 nr; u64 time_enabled; u64 time_running; u64 values[nr]; }
      std::vector<std::uint64_t> buf(3 + e.fds.size());
      ssize_t want = static_cast<ssize_t>(buf.size() * sizeof(std::uint64_t));
      if (ReadFull(e.fds[0], buf.data(), want) != want || buf[0] != e.fds.size()) return false;
      for (std::size_t i = 0; i < e.fds.size(); ++i) {
        (*counts)[i] = PerfCount{buf[3 + i], buf[1], buf[2]};
      }
      return true;
    }
    for (std::size_t i = 0; i < e.fds.size(); ++i) {
      std::uint64_t buf[3];
      if (ReadFull(e.fds[i], buf, sizeof buf) != static_cast<ssize_t>(sizeof buf)) return false;
      (*counts)[i] = PerfCount{buf[0], buf[1], buf[2]};
    }
    return true;
  }

  void Close(int handle) override {
    std::vector<int> fds;
    {
      std::lock_guard lock(mu_);
      auto it = open_.find(handle);
      if (it == open_.end()) return;
      fds = std::move(it->second.fds);
      open_.erase(it);
    }
    // Members first, the group leader last.
    for (auto it = fds.rbegin(); it != fds.rend(); ++it) ::close(*it);
  }

  ~SystemBackend() override {
    for (auto& [handle, e] : open_) {
      for (int fd : e.fds) ::close(fd);
    }
  }

 private:
  struct Entry {
    std::vector<int> fds;
    bool group = false;
  };
  static ssize_t ReadFull(int fd, void* buf, ssize_t size) {
    for (;;) {
      ssize_t n = ::read(fd, buf, static_cast<std::size_t>(size));
      if (n < 0 && errno == EINTR) continue;
      return n;
    }
  }
  std::mutex mu_;
  std::unordered_map<int, Entry> open_;
  int next_ = 0;
};

}  // namespace

std::shared_ptr<PerfBackend> SystemPerfBackend() { return std::make_shared<SystemBackend>(); }

}  // namespace pagescope
