#include "kernel/perf_event.h"

#include <linux/capability.h>
#include <linux/perf_event.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <unordered_map>

#include "kernel/parse.h"

namespace pagescope {
namespace {

constexpr std::uint64_t HwCache(std::uint64_t cache, std::uint64_t op, std::uint64_t result) {
  return cache | (op << 8) | (result << 16);
}

}  // namespace

const std::vector<PerfEventSpec>& KnownPerfEvents() {
  static const std::vector<PerfEventSpec> kEvents = {
      {"instructions", PERF_TYPE_HARDWARE, PERF_COUNT_HW_INSTRUCTIONS,
       "Instructions retired (PERF_COUNT_HW_INSTRUCTIONS)"},
      {"cycles", PERF_TYPE_HARDWARE, PERF_COUNT_HW_CPU_CYCLES,
       "CPU cycles (PERF_COUNT_HW_CPU_CYCLES)"},
      {"dtlb_loads", PERF_TYPE_HW_CACHE,
       HwCache(PERF_COUNT_HW_CACHE_DTLB, PERF_COUNT_HW_CACHE_OP_READ,
               PERF_COUNT_HW_CACHE_RESULT_ACCESS),
       "Data TLB lookups by loads (PERF_TYPE_HW_CACHE DTLB read access)"},
      {"dtlb_load_misses", PERF_TYPE_HW_CACHE,
       HwCache(PERF_COUNT_HW_CACHE_DTLB, PERF_COUNT_HW_CACHE_OP_READ,
               PERF_COUNT_HW_CACHE_RESULT_MISS),
       "Data TLB misses by loads (PERF_TYPE_HW_CACHE DTLB read miss)"},
      {"dtlb_store_misses", PERF_TYPE_HW_CACHE,
       HwCache(PERF_COUNT_HW_CACHE_DTLB, PERF_COUNT_HW_CACHE_OP_WRITE,
               PERF_COUNT_HW_CACHE_RESULT_MISS),
       "Data TLB misses by stores (PERF_TYPE_HW_CACHE DTLB write miss)"},
      {"itlb_load_misses", PERF_TYPE_HW_CACHE,
       HwCache(PERF_COUNT_HW_CACHE_ITLB, PERF_COUNT_HW_CACHE_OP_READ,
               PERF_COUNT_HW_CACHE_RESULT_MISS),
       "Instruction TLB misses (PERF_TYPE_HW_CACHE ITLB read miss)"},
      // Software events: they need no PMU, so they show the counting path works where the
      // hardware ones cannot be counted (a VM without PMU passthrough).
      {"page_faults", PERF_TYPE_SOFTWARE, PERF_COUNT_SW_PAGE_FAULTS,
       "Page faults (software event PERF_COUNT_SW_PAGE_FAULTS)"},
      {"context_switches", PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CONTEXT_SWITCHES,
       "Context switches (software event PERF_COUNT_SW_CONTEXT_SWITCHES)"},
  };
  return kEvents;
}

const PerfEventSpec* FindPerfEvent(const std::string& name) {
  for (const auto& e : KnownPerfEvents()) {
    if (e.name == name) return &e;
  }
  return nullptr;
}

std::string PerfEventDescription(const PerfEventSpec& e) {
  if (!e.description.empty()) return e.description;
  char buf[64];
  std::snprintf(buf, sizeof buf, "Raw PMU event 0x%llx", static_cast<unsigned long long>(e.config));
  return buf;
}

namespace {

class SystemBackend : public PerfBackend {
 public:
  int Open(int tid, const std::vector<PerfEventSpec>& events,
           const PerfOpenOptions& options) override {
    if (events.empty()) return -EINVAL;
    std::vector<int> fds;
    if (!options.group || !options.inherit || events.size() == 1) {
      int err = OpenFds(tid, events, options, &fds);
      return err != 0 ? -err : Register(std::move(fds), options.group);
    }
    // An inherited group on a task that starts threads meanwhile (a guest's I/O workers) races
    // with them twice. Adding a member is refused (EINVAL or ENODEV on 6.x kernels: the kernel
    // swaps the counter contexts of a task and its equivalent child threads at context switches,
    // and the leader's context may then be another task's); measured on this kernel with a
    // process starting a thread every ~50 us, 9 of 10 member opens failed. And a thread started
    // between the leader and the members inherits the leader alone: a group read then fails
    // with ECHILD for as long as that thread lives. Both only happen in the microseconds of
    // opening, so open again; a task that starts threads through every attempt (or whose
    // members are refused for another reason) gets one counter per event, which reads the same
    // figures (only not scheduled on the PMU together), unless options.group_fallback is off.
    for (int attempt = 0; attempt < kGroupAttempts; ++attempt) {
      int err = OpenFds(tid, events, options, &fds);
      if (err == 0) {
        std::vector<std::uint64_t> buf(3 + fds.size());
        const ssize_t want = static_cast<ssize_t>(buf.size() * sizeof(std::uint64_t));
        const ssize_t n = ReadFull(fds[0], buf.data(), want);
        if (n == want) return Register(std::move(fds), true);
        err = n < 0 ? errno : EIO;
        CloseFds(fds);
        if (err != ECHILD) return -err;
        continue;
      }
      if (err != kMemberFailed) return -err;
    }
    if (!options.group_fallback) return -EINVAL;
    PerfOpenOptions single = options;
    single.group = false;
    int err = OpenFds(tid, events, single, &fds);
    return err != 0 ? -err : Register(std::move(fds), false);
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
    CloseFds(fds);
  }

  bool Privileged() override {
    __user_cap_header_struct header{};
    header.version = _LINUX_CAPABILITY_VERSION_3;
    header.pid = 0;
    __user_cap_data_struct data[2]{};
    if (::syscall(SYS_capget, &header, data) != 0) return false;
    const std::uint64_t effective =
        data[0].effective | (static_cast<std::uint64_t>(data[1].effective) << 32);
    // CAP_PERFMON (38; older headers lack the name) or CAP_SYS_ADMIN.
    return (effective & ((1ULL << 38) | (1ULL << CAP_SYS_ADMIN))) != 0;
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
  static constexpr int kGroupAttempts = 8;
  static constexpr int kMemberFailed = -1;  // OpenFds: the leader opened, a member did not

  // Opens one counter per event into `fds` (as one group when options.group). 0, or the errno of
  // the failure (kMemberFailed when a group member was refused), with nothing left open.
  static int OpenFds(int tid, const std::vector<PerfEventSpec>& events,
                     const PerfOpenOptions& options, std::vector<int>* fds) {
    fds->clear();
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
      const bool member = options.group && i > 0;
      int group_fd = member ? (*fds)[0] : -1;
      long fd = ::syscall(SYS_perf_event_open, &attr, static_cast<pid_t>(tid), -1, group_fd,
                          PERF_FLAG_FD_CLOEXEC);
      if (fd < 0) {
        int err = errno;
        CloseFds(*fds);
        return member ? kMemberFailed : err;
      }
      fds->push_back(static_cast<int>(fd));
    }
    return 0;
  }
  // Members first, the group leader last.
  static void CloseFds(std::vector<int>& fds) {
    for (auto it = fds.rbegin(); it != fds.rend(); ++it) ::close(*it);
    fds.clear();
  }
  int Register(std::vector<int> fds, bool group) {
    std::lock_guard lock(mu_);
    int handle = next_++;
    if (next_ < 0) next_ = 0;
    open_.emplace(handle, Entry{std::move(fds), group});
    return handle;
  }

  // A group read of an inherited counter fails with ECHILD while a counted thread exits: the
  // kernel detaches the exiting thread's group before it folds its counts into ours, and refuses
  // to sum groups of different shapes (kernel/events/core.c, __perf_read_group_add). The window
  // is microseconds, but a process that starts a thread every ~20 us hit it on 4 % of reads here
  // (kernel 6.18), and one of ~25000 reads still failed after 100 sched_yield(2) calls. Try
  // again, yielding and then sleeping, for a bounded time.
  static ssize_t ReadFull(int fd, void* buf, ssize_t size) {
    int echild = 0;
    for (;;) {
      ssize_t n = ::read(fd, buf, static_cast<std::size_t>(size));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == ECHILD && ++echild <= kEchildRetries) {
        // Yield first; then sleep a little, so the exiting thread gets a CPU to finish on.
        if (echild <= 16) {
          sched_yield();
        } else {
          ::usleep(20);
        }
        continue;
      }
      return n;
    }
  }
  static constexpr int kEchildRetries = 64;  // at most ~5 ms
  std::mutex mu_;
  std::unordered_map<int, Entry> open_;
  int next_ = 0;
};

}  // namespace

std::shared_ptr<PerfBackend> SystemPerfBackend() { return std::make_shared<SystemBackend>(); }

const std::vector<std::string>& PerfModes() {
  static const std::vector<std::string> kModes = {"available", "no_pmu", "not_supported",
                                                  "paranoid",  "denied", "error"};
  return kModes;
}

std::string PerfModeHint(const std::string& mode) {
  if (mode == "no_pmu") {
    return "no hardware PMU (a VM needs PMU passthrough, e.g. QEMU -cpu host,pmu=on)";
  }
  if (mode == "paranoid") {
    return "give pagescope CAP_PERFMON, lower kernel.perf_event_paranoid, or at 2 set "
           "exclude_kernel: true";
  }
  if (mode == "denied") return "a seccomp filter or LSM refuses perf_event_open";
  if (mode == "not_supported") return "the CPU or kernel has no such event";
  return "";
}

namespace {

// A core PMU (the one generic hardware events go to) registers with type PERF_TYPE_RAW.
bool HasCorePmu(const Context& ctx) {
  auto dir = ctx.fs().Sys("bus/event_source/devices");
  auto names = FsRoot::ReadDir(dir);
  for (const auto& n : names.names) {
    auto t = ctx.ReadQuiet(dir / n / "type");
    if (t && parse::Trim(*t) == std::to_string(PERF_TYPE_RAW)) return true;
  }
  return false;
}

// The mode of an event perf_event_open refused with `err`.
std::string Refusal(const Context& ctx, PerfBackend& backend, const PerfEventSpec& e, int err,
                    const std::string& paranoid, bool exclude_kernel) {
  switch (err) {
    case ENOENT:
    case EOPNOTSUPP:
    case ENODEV:
    case EINVAL:
    case ENOSYS:
      if (e.type != PERF_TYPE_SOFTWARE && !HasCorePmu(ctx)) return "no_pmu";
      return "not_supported";
    case EACCES:
    case EPERM: {
      // perf-security.rst: 2 allows only user-space measurement without CAP_PERFMON; Debian's
      // 3 allows nothing. CAP_PERFMON or CAP_SYS_ADMIN bypass the setting.
      std::int64_t level = 0;
      try {
        level = paranoid.empty() ? 0 : parse::SingleI64(paranoid);
      } catch (const ParseError&) {
      }
      if (!backend.Privileged() && (level >= 3 || (level >= 2 && !exclude_kernel))) {
        return "paranoid";
      }
      return "denied";
    }
    default:
      return "error";
  }
}

}  // namespace

PerfProbe ProbePerfEvents(const Context& ctx, PerfBackend& backend,
                          const std::vector<PerfEventSpec>& events, bool exclude_kernel) {
  PerfProbe probe;
  probe.options.exclude_kernel = exclude_kernel;
  // inherit_thread needs Linux 5.13; without it, count without inherit.
  if (const PerfEventSpec* sw = FindPerfEvent("context_switches")) {
    int h = backend.Open(0, {*sw}, probe.options);
    if (h == -EINVAL) {
      PerfOpenOptions plain = probe.options;
      plain.inherit = false;
      plain.inherit_thread = false;
      int h2 = backend.Open(0, {*sw}, plain);
      if (h2 >= 0) {
        backend.Close(h2);
        probe.options = plain;
      }
    } else if (h >= 0) {
      backend.Close(h);
    }
  }
  auto paranoid = ctx.ReadQuiet(ctx.fs().Proc("sys/kernel/perf_event_paranoid"));
  probe.paranoid = paranoid ? std::string(parse::Trim(*paranoid)) : "";
  PerfOpenOptions single = probe.options;
  single.group = false;
  for (const auto& e : events) {
    int h = backend.Open(0, {e}, single);
    std::string mode = "available";
    if (h >= 0) {
      backend.Close(h);
      probe.usable.push_back(e);
    } else {
      mode = Refusal(ctx, backend, e, -h, probe.paranoid, exclude_kernel);
      if (probe.first_errno == 0) {
        probe.first_errno = -h;
        probe.first_mode = mode;
      }
    }
    probe.status.emplace_back(e.name, mode);
  }
  probe.options.group = true;
  if (probe.usable.size() > 1) {
    PerfOpenOptions strict = probe.options;
    strict.group_fallback = false;
    int h = backend.Open(0, probe.usable, strict);
    if (h >= 0) {
      backend.Close(h);
    } else {
      probe.options.group = false;  // the group does not fit the PMU: one counter per event
    }
  }
  return probe;
}

}  // namespace pagescope
