// lib/pagescope/pagescope-bpf.so: loads proctable/task_iter.bpf.c (embedded by bpftool's
// skeleton) with libbpf and reads its records. A module so that the executable does not map
// libbpf and libelf (0.13-0.32 MiB of resident memory) unless the source is used.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

#include "proctable/bpf_tasks.h"
#include "proctable/task_iter_record.h"
#include "task_iter.skel.h"

namespace pagescope {
namespace {

// libbpf's messages of the current Open(), for the error string (instead of stderr).
std::mutex log_mu;
std::string* log_sink = nullptr;

// printf-like (libbpf_print_fn_t): the format is libbpf's.
__attribute__((format(printf, 2, 0))) int LibbpfPrint(enum libbpf_print_level level,
                                                      const char* format, va_list args) {
  if (level == LIBBPF_DEBUG || log_sink == nullptr) return 0;
  va_list again;
  va_copy(again, args);
  const int n = vsnprintf(nullptr, 0, format, args);
  if (n > 0) {
    std::string text(static_cast<std::size_t>(n) + 1, '\0');
    vsnprintf(text.data(), text.size(), format, again);
    text.resize(static_cast<std::size_t>(n));
    *log_sink += text;  // whole messages: the verifier's log comes as one
  }
  va_end(again);
  return n;
}

// What to quote of libbpf's messages: the verifier's reason when it rejected the program (the
// lines before "processed N insns" at the end of its log), else its first and last messages.
std::string LogSummary(const std::string& log) {
  std::istringstream in(log);
  std::string line;
  std::vector<std::string> lines;
  while (std::getline(in, line)) {
    if (!line.empty()) lines.push_back(line);
  }
  for (std::size_t i = lines.size(); i-- > 0;) {
    if (lines[i].find("-- END PROG LOAD LOG --") == std::string::npos) continue;
    std::string reason;
    std::size_t j = i, taken = 0;
    while (j-- > 0 && taken < 2) {
      if (lines[j].find("BEGIN PROG LOAD LOG") != std::string::npos) break;
      if (lines[j].rfind("processed ", 0) == 0 || lines[j].rfind("verification time", 0) == 0 ||
          lines[j].rfind("stack depth", 0) == 0) {
        continue;
      }
      reason = lines[j] + (reason.empty() ? "" : "; " + reason);
      ++taken;
    }
    if (!reason.empty()) return "verifier: " + reason;
  }
  // Else the first message (usually the cause) and the last.
  if (lines.empty()) return "";
  return lines.size() == 1 ? lines[0] : lines.front() + " ... " + lines.back();
}

// Kernel release "major.minor" as major*1000+minor; 0 when unreadable.
int KernelVersion(std::string& release) {
  struct utsname u {};
  if (uname(&u) != 0) return 0;
  release = u.release;
  int major = 0, minor = 0;
  if (std::sscanf(u.release, "%d.%d", &major, &minor) != 2) return 0;
  return major * 1000 + minor;
}

// Entries of the NSpid line of /proc/self/status: 1 in the initial pid namespace.
int PidNamespaceDepth() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("NSpid:", 0) != 0) continue;
    std::istringstream fields(line.substr(6));
    int n = 0;
    std::string f;
    while (fields >> f) ++n;
    return n;
  }
  return 1;  // kernels before 4.1 lack NSpid (and task iterators)
}

// The boot-time offset of this process's time namespace (/proc/self/timens_offsets, 5.6+), which
// stat's field 22 adds: 0 in the initial one.
std::int64_t BoottimeOffsetNs() {
  std::ifstream in("/proc/self/timens_offsets");
  std::string name;
  long long sec = 0, nsec = 0;
  while (in >> name >> sec >> nsec) {
    if (name == "boottime" || name == "7") return sec * 1000000000LL + nsec;
  }
  return 0;
}

// Whether this process's effective capabilities allow loading the program: CAP_BPF (39) and
// CAP_PERFMON (38), or CAP_SYS_ADMIN (21) standing in for both. A refusal with them is the
// verifier's, not a lack of privileges.
bool HasBpfCapabilities() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("CapEff:", 0) != 0) continue;
    const std::uint64_t caps = std::strtoull(line.c_str() + 7, nullptr, 16);
    auto has = [caps](int cap) { return (caps >> cap) & 1u; };
    return has(21) || (has(38) && has(39));
  }
  return false;
}

std::uint64_t Positive(std::int64_t v) { return v > 0 ? static_cast<std::uint64_t>(v) : 0; }

class Walker final : public BpfTaskWalker {
 public:
  Walker(task_iter* skel, bpf_link* link)
      : skel_(skel), link_(link), boottime_offset_ns_(BoottimeOffsetNs()) {
    long hz = sysconf(_SC_CLK_TCK);
    ns_per_tick_ = static_cast<std::uint64_t>(1000000000L / (hz > 0 ? hz : 100));
  }
  ~Walker() override {
    bpf_link__destroy(link_);
    task_iter__destroy(skel_);
  }
  bool exact_sums() const override { return exact_; }
  std::uint64_t tasks() const override { return tasks_; }

  bool Read(std::vector<TaskFigures>& out, std::string& error) override {
    out.clear();
    int fd = bpf_iter_create(bpf_link__fd(link_));
    if (fd < 0) {
      error = std::string("BPF task source: bpf_iter_create: ") + std::strerror(errno);
      return false;
    }
    index_.clear();
    pending_.clear();
    tasks_ = 0;
    buf_.resize(64 * 1024);
    std::size_t have = 0;  // bytes of an incomplete record carried over
    bool ok = true;
    for (;;) {
      ssize_t n = read(fd, buf_.data() + have, buf_.size() - have);
      if (n < 0) {
        if (errno == EINTR) continue;
        error = std::string("BPF task source: reading the iterator: ") + std::strerror(errno);
        ok = false;
        break;
      }
      if (n == 0) break;
      have += static_cast<std::size_t>(n);
      std::size_t pos = 0;
      while (have - pos >= TASK_RECORD_THREAD_SIZE) {
        task_record r{};
        std::memcpy(&r, buf_.data() + pos, TASK_RECORD_THREAD_SIZE);
        std::size_t size = (r.flags & TASK_RECORD_LEADER) ? sizeof r : TASK_RECORD_THREAD_SIZE;
        if (have - pos < size) break;
        std::memcpy(&r, buf_.data() + pos, size);
        Add(r, out);
        pos += size;
      }
      std::memmove(buf_.data(), buf_.data() + pos, have - pos);
      have -= pos;
    }
    close(fd);
    if (!ok) return false;
    for (const auto& p : pending_) {
      auto it = index_.find(p.tgid);
      if (it == index_.end()) continue;  // its leader was reaped during the walk
      out[it->second].minflt += p.min_flt;
      out[it->second].majflt += p.maj_flt;
    }
    // Leaders come in pid order (the iterator walks the pid IDR); sort in case that changes.
    for (std::size_t i = 1; i < out.size(); ++i) {
      if (out[i - 1].pid > out[i].pid) {
        std::sort(out.begin(), out.end(),
                  [](const TaskFigures& a, const TaskFigures& b) { return a.pid < b.pid; });
        break;
      }
    }
    return true;
  }

 private:
  void Add(const task_record& r, std::vector<TaskFigures>& out) {
    ++tasks_;
    const int tgid = static_cast<int>(r.tgid);
    if (!(r.flags & TASK_RECORD_LEADER)) {
      auto it = index_.find(tgid);
      if (it == index_.end()) {
        pending_.push_back(r);  // a thread listed before its leader (pid wrap-around)
      } else {
        out[it->second].minflt += r.min_flt;
        out[it->second].majflt += r.maj_flt;
      }
      return;
    }
    TaskFigures f;
    f.pid = tgid;
    std::int64_t boot = static_cast<std::int64_t>(r.start_boottime) + boottime_offset_ns_;
    f.start_time = static_cast<std::uint64_t>(boot > 0 ? boot : 0) / ns_per_tick_;
    f.minflt = r.min_flt;
    f.majflt = r.maj_flt;
    f.kernel_thread = (r.flags & TASK_RECORD_KTHREAD) != 0;
    f.has_mm = (r.flags & TASK_RECORD_MM) != 0;
    if (f.has_mm) {
      exact_ = (r.flags & TASK_RECORD_EXACT) != 0;
      enum { kFile = 0, kAnon = 1, kSwap = 2, kShmem = 3 };
      f.rss_pages =
          Positive(r.shared[kFile]) + Positive(r.shared[kAnon]) + Positive(r.shared[kShmem]);
      f.rss_sum_pages =
          Positive(r.counters[kFile]) + Positive(r.counters[kAnon]) + Positive(r.counters[kShmem]);
      f.swap_pages = Positive(r.counters[kSwap]);
      f.hugetlb_pages = Positive(r.hugetlb_usage);
      f.locked_pages = r.locked_vm;
      f.pinned_pages = Positive(r.pinned_vm);
    }
    std::memcpy(f.comm, r.comm, sizeof f.comm);
    f.comm[sizeof f.comm - 1] = '\0';
    index_.emplace(tgid, out.size());
    out.push_back(f);
  }

  task_iter* skel_;
  bpf_link* link_;
  bool exact_ = false;       // the last Read's records carried TASK_RECORD_EXACT
  std::uint64_t tasks_ = 0;  // records of the last Read (one per task)
  std::int64_t boottime_offset_ns_;
  std::uint64_t ns_per_tick_ = 10000000;
  std::vector<char> buf_;
  std::unordered_map<int, std::size_t> index_;
  std::vector<task_record> pending_;
};

BpfTaskWalker* Open(std::string& error) {
  std::string release;
  const int version = KernelVersion(release);
  if (version != 0 && version < 5008) {
    error = "BPF task source needs Linux 5.8 or later (task iterators); this kernel is " + release;
    return nullptr;
  }
  if (access("/sys/kernel/btf/vmlinux", R_OK) != 0) {
    error = "BPF task source needs the kernel's BTF (/sys/kernel/btf/vmlinux: " +
            std::string(std::strerror(errno)) + "; CONFIG_DEBUG_INFO_BTF)";
    return nullptr;
  }
  if (PidNamespaceDepth() != 1) {
    error =
        "BPF task source runs only in the initial pid namespace (the iterator gives the "
        "host's pids; run with the host's pid namespace)";
    return nullptr;
  }
  std::string log;
  std::lock_guard<std::mutex> lock(log_mu);
  log_sink = &log;
  libbpf_print_fn_t previous = libbpf_set_print(LibbpfPrint);
  struct Restore {
    libbpf_print_fn_t previous;
    ~Restore() {
      libbpf_set_print(previous);
      log_sink = nullptr;
    }
  } restore{previous};

  task_iter* skel = task_iter__open();
  if (skel == nullptr) {
    error = std::string("BPF task source: opening the BPF object failed: ") + std::strerror(errno) +
            (log.empty() ? "" : " (" + LogSummary(log) + ")");
    return nullptr;
  }
  const int cpus = libbpf_num_possible_cpus();
  skel->rodata->nr_cpus = cpus > 0 ? static_cast<__u32>(cpus) : 1;
  int err = task_iter__load(skel);
  if (err != 0) {
    const int e = -err;
    task_iter__destroy(skel);
    if ((e == EPERM || e == EACCES) && !HasBpfCapabilities()) {
      error = "BPF task source needs CAP_BPF and CAP_PERFMON (or root): loading the program: " +
              std::string(std::strerror(e));
    } else {
      error = "BPF task source: loading the program failed: " + std::string(std::strerror(e)) +
              (log.empty() ? "" : " (" + LogSummary(log) + ")");
    }
    return nullptr;
  }
  bpf_link* link = bpf_program__attach_iter(skel->progs.walk, nullptr);
  if (link == nullptr) {
    const int e = errno;
    task_iter__destroy(skel);
    error = (e == EPERM || e == EACCES) && !HasBpfCapabilities()
                ? "BPF task source needs CAP_BPF and CAP_PERFMON (or root): attaching iter/task"
                : "BPF task source: attaching iter/task failed: " + std::string(std::strerror(e));
    return nullptr;
  }
  return new Walker(skel, link);
}

}  // namespace
}  // namespace pagescope

extern "C" __attribute__((visibility("default"))) pagescope::BpfTaskWalker*
pagescope_bpf_tasks_open(std::string* error) {
  return pagescope::Open(*error);
}
