#include "kernel/proc_pid.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <thread>

#include "kernel/parse.h"

namespace pagescope {
namespace {

// Unsigned decimal at `p`; advances `p`. False when no digit.
bool ScanU64(const char*& p, const char* end, std::uint64_t& out) {
  const char* start = p;
  std::uint64_t v = 0;
  while (p < end && *p >= '0' && *p <= '9') {
    v = v * 10 + static_cast<std::uint64_t>(*p - '0');
    ++p;
  }
  out = v;
  return p != start;
}

// "   1234 kB" -> bytes. Throws on anything else.
std::uint64_t KbValue(std::string_view v, std::size_t line) {
  v = parse::Trim(v);
  if (v.size() < 3 || v.substr(v.size() - 2) != "kB") {
    throw ParseError(line, "expected a value in kB, got \"" + std::string(v) + "\"");
  }
  return parse::U64(parse::Trim(v.substr(0, v.size() - 2)), line) * 1024;
}

}  // namespace

ProcPidStat ParseProcPidStat(std::string_view text) {
  ProcPidStat s;
  auto open = text.find('(');
  auto close = text.rfind(')');
  if (open == std::string_view::npos || close == std::string_view::npos || close < open) {
    throw ParseError(1, "no command name in parentheses");
  }
  s.comm = std::string(text.substr(open + 1, close - open - 1));
  const char* p = text.data() + close + 1;
  const char* end = text.data() + text.size();
  // Fields from (3) on, separated by single spaces.
  int field = 3;
  while (p < end && field <= 24) {
    while (p < end && *p == ' ') ++p;
    if (p >= end || *p == '\n') break;
    if (field == 3) {
      s.state = *p;
      while (p < end && *p != ' ' && *p != '\n') ++p;
    } else {
      std::uint64_t v = 0;
      if (*p == '-') {  // signed fields (priority, nice) are not used
        ++p;
      }
      if (!ScanU64(p, end, v) || (p < end && *p != ' ' && *p != '\n')) {
        throw ParseError(1, "field " + std::to_string(field) + " is not a number");
      }
      switch (field) {
        case 9:
          s.flags = v;
          break;
        case 10:
          s.minflt = v;
          break;
        case 12:
          s.majflt = v;
          break;
        case 22:
          s.starttime = v;
          break;
        case 24:
          s.rss_pages = v;
          break;
        default:
          break;
      }
    }
    ++field;
  }
  if (field <= 24) {
    throw ParseError(1, "only " + std::to_string(field - 1) + " fields, expected at least 24");
  }
  return s;
}

ProcPidStatus ParseProcPidStatus(std::string_view text) {
  ProcPidStatus s;
  std::size_t line = 0;
  std::size_t pos = 0;
  while (pos < text.size()) {
    ++line;
    std::size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    std::string_view l = text.substr(pos, nl - pos);
    pos = nl + 1;
    // Fast key scan: only lines starting with 'V' or 'H' can matter.
    if (l.empty() || (l[0] != 'V' && l[0] != 'H')) continue;
    auto colon = l.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view key = l.substr(0, colon);
    std::optional<std::uint64_t>* field = nullptr;
    if (key == "VmRSS") {
      field = &s.vm_rss;
    } else if (key == "VmSwap") {
      field = &s.vm_swap;
    } else if (key == "HugetlbPages") {
      field = &s.hugetlb_pages;
    } else if (key == "VmLck") {
      field = &s.vm_lck;
    } else if (key == "VmPin") {
      field = &s.vm_pin;
    }
    if (field != nullptr) *field = KbValue(l.substr(colon + 1), line);
  }
  return s;
}

ProcPidSmapsRollup ParseProcPidSmapsRollup(std::string_view text) {
  ProcPidSmapsRollup s;
  parse::ForEachLine(text, [&](std::size_t line, std::string_view l) {
    auto colon = l.find(':');
    if (colon == std::string_view::npos || l.find(' ') < colon) return;  // the header line
    std::string_view key = l.substr(0, colon);
    std::optional<std::uint64_t>* field = nullptr;
    if (key == "Rss") {
      field = &s.rss;
    } else if (key == "AnonHugePages") {
      field = &s.anon_huge_pages;
    } else if (key == "Swap") {
      field = &s.swap;
    } else if (key == "Private_Hugetlb") {
      field = &s.private_hugetlb;
    } else if (key == "Shared_Hugetlb") {
      field = &s.shared_hugetlb;
    }
    if (field != nullptr) *field = KbValue(l.substr(colon + 1), line);
  });
  return s;
}

ProcPidNumaMaps ParseProcPidNumaMaps(std::string_view text) {
  ProcPidNumaMaps m;
  const std::uint64_t base_page = SystemPageSize();
  parse::ForEachLine(text, [&](std::size_t line, std::string_view l) {
    auto fields = parse::Fields(l);
    if (fields.empty()) return;
    if (fields.size() < 2) throw ParseError(line, "expected an address and a policy");
    bool huge = false;
    for (auto f : fields) {
      if (f == "huge") huge = true;
    }
    if (huge) ++m.huge_mappings;
    std::uint64_t page_kb = 0;
    std::vector<std::pair<int, std::uint64_t>> nodes;
    for (auto f : fields) {
      if (f.starts_with("kernelpagesize_kB=")) {
        page_kb = parse::U64(f.substr(18), line);
      } else if (f.size() > 2 && f[0] == 'N' && f[1] >= '0' && f[1] <= '9') {
        auto eq = f.find('=');
        if (eq == std::string_view::npos)
          throw ParseError(line, "bad node field " + std::string(f));
        nodes.emplace_back(static_cast<int>(parse::U64(f.substr(1, eq - 1), line)),
                           parse::U64(f.substr(eq + 1), line));
      }
    }
    // The policy (mm/mempolicy.c, mpol_to_str): "default", "local", or
    // "<mode>[=<flags>]:<nodelist>" with mode bind, prefer, "prefer (many)", interleave,
    // "weighted interleave" (the two-word modes take two fields).
    std::optional<std::vector<int>> policy_nodes;
    std::string_view pol = fields[1];
    if (fields.size() > 2 && (pol == "weighted" || fields[2].starts_with("(many)"))) {
      pol = fields[2];
    }
    if (auto colon = pol.find(':'); colon != std::string_view::npos) {
      policy_nodes = parse::IdList(pol.substr(colon + 1), 4096);
    }
    // Page cache of ordinary files was placed by whoever read the file first, not by this
    // policy: only hugetlb, anonymous and shared-memory (memfd, /dev/shm, SysV) mappings count.
    if (policy_nodes && !huge) {
      for (auto f : fields) {
        if (f.starts_with("file=") && !f.starts_with("file=/memfd:") &&
            !f.starts_with("file=/dev/shm/") && !f.starts_with("file=/SYSV")) {
          policy_nodes.reset();
          break;
        }
      }
    }
    if (policy_nodes) ++m.policy_mappings;
    if (nodes.empty()) return;  // mapped, nothing faulted yet
    if (huge && page_kb == 0) throw ParseError(line, "huge mapping without kernelpagesize_kB");
    const std::uint64_t page = page_kb ? page_kb * 1024 : base_page;
    for (const auto& [node, pages] : nodes) {
      if (huge) m.huge_pages[{node, page}] += pages;
      m.node_bytes[node] += pages * page;
      if (policy_nodes) {
        m.policy_bytes += pages * page;
        if (!std::binary_search(policy_nodes->begin(), policy_nodes->end(), node)) {
          m.outside_policy_bytes += pages * page;
        }
      }
    }
  });
  return m;
}

ProcPidKsmStat ParseProcPidKsmStat(std::string_view text) {
  ProcPidKsmStat k;
  parse::ForEachLine(text, [&](std::size_t line, std::string_view l) {
    auto fields = parse::Fields(l);
    if (fields.empty()) return;
    if (fields.size() != 2) throw ParseError(line, "expected \"key value\"");
    std::string_view key = fields[0];
    if (!key.empty() && key.back() == ':') return;  // "ksm_merge_any: no" style flags
    if (key == "ksm_merging_pages") {
      k.merging_pages = parse::U64(fields[1], line);
    } else if (key == "ksm_process_profit") {
      k.process_profit = parse::I64(fields[1], line);
    } else if (key == "ksm_zero_pages") {
      k.zero_pages = parse::U64(fields[1], line);
    }
  });
  return k;
}

std::string ProcPidCgroupPath(std::string_view text) {
  std::optional<std::string_view> memory, v2, systemd;
  parse::ForEachLine(text, [&](std::size_t n, std::string_view line) {
    if (line.empty()) return;
    auto c1 = line.find(':');
    auto c2 = c1 == std::string_view::npos ? c1 : line.find(':', c1 + 1);
    if (c2 == std::string_view::npos) throw ParseError(n, "expected \"id:controllers:path\"");
    std::string_view controllers = line.substr(c1 + 1, c2 - c1 - 1);
    std::string_view path = line.substr(c2 + 1);
    if (path.empty() || path.front() != '/') throw ParseError(n, "path does not start with /");
    if (line.substr(0, c1) == "0" && controllers.empty()) {
      v2 = path;
    } else if (controllers == "name=systemd") {
      systemd = path;
    } else {
      while (!controllers.empty()) {
        auto comma = controllers.find(',');
        if (controllers.substr(0, comma) == "memory") memory = path;
        if (comma == std::string_view::npos) break;
        controllers.remove_prefix(comma + 1);
      }
    }
  });
  auto path = memory ? *memory : v2 ? *v2 : systemd ? *systemd : std::string_view("/");
  while (!path.empty() && path.front() == '/') path.remove_prefix(1);
  return std::string(path);
}

std::vector<std::string> SplitCmdline(std::string_view text) {
  std::vector<std::string> args;
  while (!text.empty()) {
    auto nul = text.find('\0');
    args.emplace_back(text.substr(0, nul));
    if (nul == std::string_view::npos) break;
    text.remove_prefix(nul + 1);
  }
  return args;
}

std::uint64_t SystemPageSize() {
  static const std::uint64_t size = [] {
    long v = ::sysconf(_SC_PAGESIZE);
    return v > 0 ? static_cast<std::uint64_t>(v) : 4096u;
  }();
  return size;
}

std::optional<std::uint64_t> ParseSize(std::string_view text, std::uint64_t default_unit) {
  text = parse::Trim(text);
  std::size_t i = 0;
  while (i < text.size() && ((text[i] >= '0' && text[i] <= '9') || text[i] == '.')) ++i;
  if (i == 0) return std::nullopt;
  std::string number(text.substr(0, i));
  std::string_view unit = text.substr(i);
  std::uint64_t mult = default_unit;
  if (!unit.empty()) {
    std::string u(unit);
    std::transform(u.begin(), u.end(), u.begin(), [](unsigned char c) { return std::tolower(c); });
    if (u == "b") {
      mult = 1;
    } else if (u == "k" || u == "kb" || u == "kib") {
      mult = 1ull << 10;
    } else if (u == "m" || u == "mb" || u == "mib") {
      mult = 1ull << 20;
    } else if (u == "g" || u == "gb" || u == "gib") {
      mult = 1ull << 30;
    } else if (u == "t" || u == "tb" || u == "tib") {
      mult = 1ull << 40;
    } else {
      return std::nullopt;
    }
  }
  // A size that does not fit in 64 bits is no size (not a wrapped or undefined value).
  if (number.find('.') == std::string::npos) {
    std::uint64_t v = 0;
    for (char c : number) {
      if (__builtin_mul_overflow(v, 10u, &v) ||
          __builtin_add_overflow(v, static_cast<std::uint64_t>(c - '0'), &v)) {
        return std::nullopt;
      }
    }
    if (__builtin_mul_overflow(v, mult, &v)) return std::nullopt;
    return v;
  }
  char* endp = nullptr;
  double d = std::strtod(number.c_str(), &endp);
  if (endp == nullptr || *endp != '\0') return std::nullopt;
  d *= static_cast<double>(mult);
  // 2^64 is the first double above the range; the comparison also rejects NaN.
  if (!(d >= 0 && d < 18446744073709551616.0)) return std::nullopt;
  return static_cast<std::uint64_t>(d);
}

PidReader::PidReader(const std::filesystem::path& procfs) : procfs_(procfs) {
  dir_fd_ = ::open(procfs.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

PidReader::~PidReader() {
  if (dir_fd_ >= 0) ::close(dir_fd_);
}

std::filesystem::path PidReader::Path(int pid, const char* file) const {
  return procfs_ / std::to_string(pid) / file;
}

ReadStatus PidReader::Read(int pid, const char* file, std::string& buf, bool single_record,
                           std::size_t max_bytes) const {
  char rel[64];
  std::snprintf(rel, sizeof rel, "%d/%s", pid, file);
  int fd = ::openat(dir_fd_, rel, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) return StatusFromErrno(errno);
  if (buf.size() < 4096) buf.resize(4096);
  buf.resize(std::max(buf.size(), buf.capacity()));
  std::size_t len = 0;
  ReadStatus status = ReadStatus::kOk;
  for (;;) {
    ssize_t n = ::read(fd, buf.data() + len, buf.size() - len);
    if (n < 0) {
      if (errno == EINTR) continue;
      status = StatusFromErrno(errno);
      break;
    }
    len += static_cast<std::size_t>(n);
    if (n == 0 || (single_record && len < buf.size())) break;
    if (len < buf.size()) continue;
    if (buf.size() >= max_bytes) {
      status = ReadStatus::kError;
      break;
    }
    buf.resize(std::min(buf.size() * 2, max_bytes));
  }
  ::close(fd);
  buf.resize(status == ReadStatus::kOk ? len : 0);
  return status;
}

std::string PidReader::ReadLink(int pid, const char* file) const {
  char rel[64];
  std::snprintf(rel, sizeof rel, "%d/%s", pid, file);
  std::string target(PATH_MAX, '\0');
  ssize_t n = ::readlinkat(dir_fd_, rel, target.data(), target.size());
  if (n <= 0) return {};
  target.resize(static_cast<std::size_t>(n));
  return target;
}

std::vector<int> PidReader::Pids() const {
  std::vector<int> pids;
  if (dir_fd_ < 0) return pids;
  int fd = ::dup(dir_fd_);
  if (fd < 0) return pids;
  DIR* dir = ::fdopendir(fd);
  if (dir == nullptr) {
    ::close(fd);
    return pids;
  }
  ::rewinddir(dir);
  while (dirent* e = ::readdir(dir)) {
    const char* n = e->d_name;
    if (*n < '1' || *n > '9') continue;
    long v = 0;
    bool numeric = true;
    for (const char* c = n; *c != '\0'; ++c) {
      if (*c < '0' || *c > '9') {
        numeric = false;
        break;
      }
      v = v * 10 + (*c - '0');
    }
    if (numeric && v > 0 && v <= 0x7fffffff) pids.push_back(static_cast<int>(v));
  }
  ::closedir(dir);
  std::sort(pids.begin(), pids.end());
  return pids;
}

namespace {

// Reads stat and status of pids[begin, end) into `t` (one reader and buffer per call).
void ScanRange(const Context& ctx, const std::vector<int>& pids, std::size_t begin, std::size_t end,
               ProcessTable& t) {
  PidReader reader(ctx.fs().procfs());
  if (!reader.ok()) return;
  std::string buf;
  auto handle = [&](ReadStatus st, int pid, const char* file) {
    switch (st) {
      case ReadStatus::kOk:
        return true;
      case ReadStatus::kMissing:
        ++t.vanished;
        return false;
      case ReadStatus::kDenied:
        ++t.denied;
        // One key for all processes: at most one line a minute, not one per pid.
        ctx.WarnDenied(ctx.fs().Proc(std::string("<pid>/") + file),
                       "permission denied (hidepid or another user's process)");
        return false;
      case ReadStatus::kError:
        t.errors.push_back(reader.Path(pid, file).string() + ": read error");
        return false;
    }
    return false;
  };
  t.processes.reserve(end - begin);
  for (std::size_t i = begin; i < end; ++i) {
    const int pid = pids[i];
    ProcessEntry e;
    e.pid = pid;
    if (!handle(reader.Read(pid, "stat", buf, true), pid, "stat")) continue;
    try {
      e.stat = ParseProcPidStat(buf);
    } catch (const ParseError& err) {
      t.errors.push_back(FileLineError(reader.Path(pid, "stat"), err));
      continue;
    }
    if (e.stat.kernel_thread()) {
      ++t.kernel_threads;
      continue;
    }
    if (!handle(reader.Read(pid, "status", buf, true), pid, "status")) continue;
    try {
      e.status = ParseProcPidStatus(buf);
      e.has_status = true;
    } catch (const ParseError& err) {
      t.errors.push_back(FileLineError(reader.Path(pid, "status"), err));
    }
    t.processes.push_back(std::move(e));
  }
}

}  // namespace

const ProcessTable& ScanProcesses(const Context& ctx) {
  return ctx.Memo<ProcessTable>("proc_pid_table", [&ctx] {
    ProcessTable t;
    PidReader reader(ctx.fs().procfs());
    if (!reader.ok()) return t;
    const std::vector<int> pids = reader.Pids();
    // Reading the files is nearly all kernel time per process and independent between
    // processes: from kScanPerThread processes on, the walk is split into contiguous pid
    // ranges read by up to kMaxScanThreads threads (no more than the CPUs), which divides the
    // scrape's latency, not its CPU. The parts are joined in pid order, so the table is the same.
    const std::size_t cpus = std::max(1u, std::thread::hardware_concurrency());
    const std::size_t threads =
        std::min({kMaxScanThreads, cpus, std::max<std::size_t>(1, pids.size() / kScanPerThread)});
    if (threads <= 1) {
      ScanRange(ctx, pids, 0, pids.size(), t);
      return t;
    }
    std::vector<ProcessTable> parts(threads);
    std::vector<std::thread> workers;
    const std::size_t per = (pids.size() + threads - 1) / threads;
    for (std::size_t i = 1; i < threads; ++i) {
      workers.emplace_back([&, i] {
        ScanRange(ctx, pids, std::min(pids.size(), i * per), std::min(pids.size(), (i + 1) * per),
                  parts[i]);
      });
    }
    ScanRange(ctx, pids, 0, std::min(pids.size(), per), parts[0]);
    for (auto& w : workers) w.join();
    t.processes.reserve(pids.size());
    for (auto& part : parts) {
      for (auto& e : part.processes) t.processes.push_back(std::move(e));
      t.vanished += part.vanished;
      t.denied += part.denied;
      t.kernel_threads += part.kernel_threads;
      for (auto& err : part.errors) t.errors.push_back(std::move(err));
    }
    return t;
  });
}

std::optional<ProcPidSmapsRollup> SmapsGuard::Get(const Context& ctx, const PidReader& reader,
                                                  Scrape& scrape, const ProcessEntry& p,
                                                  std::uint64_t page_size, std::string& buf) {
  auto key = std::make_pair(p.pid, p.stat.starttime);
  auto now = std::chrono::steady_clock::now();
  std::optional<ProcPidSmapsRollup> cached;
  {
    std::lock_guard lock(mu_);
    auto it = cache_.find(key);
    if (it != cache_.end()) {
      if (now - it->second.at < limits_.min_interval) {
        ++cached_;
        return it->second.value;
      }
      cached = it->second.value;
    }
    if (limits_.max_resident_bytes != 0 &&
        p.stat.rss_pages * page_size > limits_.max_resident_bytes) {
      ++skipped_resident_;
      return std::nullopt;
    }
    if (limits_.budget.count() > 0 && now - scrape.start > limits_.budget) {
      ++skipped_budget_;
      return cached;
    }
  }
  auto t0 = std::chrono::steady_clock::now();
  ReadStatus st = reader.Read(p.pid, "smaps_rollup", buf, true);
  std::chrono::duration<double> took = std::chrono::steady_clock::now() - t0;
  std::lock_guard lock(mu_);
  ++reads_;
  read_seconds_ += took.count();
  if (st == ReadStatus::kDenied) {
    ctx.WarnDenied(ctx.fs().Proc("<pid>/smaps_rollup"), "permission denied");
  }
  if (st != ReadStatus::kOk) return std::nullopt;
  ProcPidSmapsRollup v;
  try {
    v = ParseProcPidSmapsRollup(buf);
  } catch (const ParseError& e) {
    throw CollectError(FileLineError(reader.Path(p.pid, "smaps_rollup"), e));
  }
  cache_[key] = Cached{v, now};
  return v;
}

void SmapsGuard::Retain(const std::vector<std::pair<int, std::uint64_t>>& alive) {
  std::lock_guard lock(mu_);
  std::erase_if(cache_, [&](const auto& kv) {
    return !std::binary_search(alive.begin(), alive.end(), kv.first);
  });
}

void SmapsGuard::Emit(MetricSink& out, std::string_view prefix) const {
  std::lock_guard lock(mu_);
  std::string p(prefix);
  out.Counter(p + "_smaps_reads_total", "smaps_rollup files read (opt-in THP source).", {},
              static_cast<double>(reads_));
  out.Counter(p + "_smaps_read_seconds_total", "Time spent reading smaps_rollup files.", {},
              read_seconds_);
  out.Counter(p + "_smaps_cached_total",
              "smaps_rollup values reused because the process was read less than the minimum "
              "interval ago.",
              {}, static_cast<double>(cached_));
  const char* help =
      "smaps_rollup reads skipped: resident_limit (process larger than the limit, never read), "
      "time_budget (the scrape's budget was spent; the last value is reused when there is one).";
  out.Counter(p + "_smaps_skipped_total", help, {{"reason", "resident_limit"}},
              static_cast<double>(skipped_resident_));
  out.Counter(p + "_smaps_skipped_total", help, {{"reason", "time_budget"}},
              static_cast<double>(skipped_budget_));
}

std::vector<OptionSpec> SmapsOptionSpecs(const std::string& whose,
                                         const std::string& default_max_resident,
                                         const std::string& default_budget_ms) {
  return {
      {"smaps", OptionType::kBool, "false",
       "Read smaps_rollup of " + whose +
           " for AnonHugePages (stalls large processes: guarded by the limits below)."},
      {"smaps_max_resident", OptionType::kString, default_max_resident,
       "Never read smaps_rollup of " + whose + " with more resident memory than this."},
      {"smaps_min_interval_seconds", OptionType::kInt, "60",
       "Read smaps_rollup of each of the " + whose +
           " at most once per interval; reuse the value meanwhile."},
      {"smaps_budget_ms", OptionType::kInt, default_budget_ms,
       "Stop reading smaps_rollup in a scrape once this much time has passed."},
  };
}

SmapsGuard::Limits SmapsLimitsFromOptions(const CollectorOptions& o) {
  SmapsGuard::Limits limits;
  auto max = ParseSize(o.String("smaps_max_resident"));
  if (!max) o.Fail("smaps_max_resident", "expected a size such as 8GiB or 512MiB");
  limits.max_resident_bytes = *max;
  if (o.Int("smaps_min_interval_seconds") < 0) {
    o.Fail("smaps_min_interval_seconds", "must not be negative");
  }
  if (o.Int("smaps_budget_ms") < 0) o.Fail("smaps_budget_ms", "must not be negative");
  limits.min_interval = std::chrono::seconds(o.Int("smaps_min_interval_seconds"));
  limits.budget = std::chrono::milliseconds(o.Int("smaps_budget_ms"));
  return limits;
}

}  // namespace pagescope
