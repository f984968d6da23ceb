#include "kernel/proc_pid.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

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

std::string_view StatComm(std::string_view text, std::size_t* close_out) {
  auto open = text.find('(');
  auto close = text.rfind(')');
  if (open == std::string_view::npos || close == std::string_view::npos || close < open) {
    throw ParseError(1, "no command name in parentheses");
  }
  *close_out = close;
  return text.substr(open + 1, close - open - 1);
}

ProcPidStat ParseProcPidStat(std::string_view text) {
  ProcPidStat s;
  std::size_t close = 0;
  s.comm = std::string(StatComm(text, &close));
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
        case 4:
          s.ppid = static_cast<int>(v);
          break;
        case 9:
          s.flags = v;
          break;
        case 10:
          s.minflt = v;
          break;
        case 12:
          s.majflt = v;
          break;
        case 20:
          s.num_threads = v;
          break;
        case 14:
          s.utime = v;
          break;
        case 15:
          s.stime = v;
          break;
        case 22:
          s.starttime = v;
          break;
        case 23:
          s.vsize = v;
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

std::vector<ProcPidCgroup> ParseProcPidCgroup(std::string_view text) {
  std::vector<ProcPidCgroup> out;
  parse::ForEachLine(text, [&](std::size_t n, std::string_view line) {
    if (line.empty()) return;
    auto c1 = line.find(':');
    auto c2 = c1 == std::string_view::npos ? c1 : line.find(':', c1 + 1);
    if (c2 == std::string_view::npos) throw ParseError(n, "expected \"id:controllers:path\"");
    ProcPidCgroup c;
    c.hierarchy_id = static_cast<int>(parse::U64(line.substr(0, c1), n));
    std::string_view controllers = line.substr(c1 + 1, c2 - c1 - 1);
    std::string_view path = line.substr(c2 + 1);
    if (path.empty() || path.front() != '/') throw ParseError(n, "path does not start with /");
    while (!controllers.empty()) {
      auto comma = controllers.find(',');
      c.controllers.emplace_back(controllers.substr(0, comma));
      if (comma == std::string_view::npos) break;
      controllers.remove_prefix(comma + 1);
    }
    while (!path.empty() && path.front() == '/') path.remove_prefix(1);
    c.path = std::string(path);
    out.push_back(std::move(c));
  });
  return out;
}

const ProcPidCgroup* FindProcPidCgroup(const std::vector<ProcPidCgroup>& cgroups,
                                       std::string_view controller) {
  for (const auto& c : cgroups) {
    if (controller.empty() ? c.v2() : c.Has(controller)) return &c;
  }
  return nullptr;
}

std::string ProcPidCgroupPath(std::string_view text) {
  const auto cgroups = ParseProcPidCgroup(text);
  for (std::string_view controller : {"memory", "", "name=systemd"}) {
    if (const auto* c = FindProcPidCgroup(cgroups, controller)) return c->path;
  }
  return "";
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

PidReader::PidReader(const std::filesystem::path& procfs) : procfs_(procfs) {
  dir_fd_ = ::open(procfs.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

PidReader::PidReader(const Context& ctx) : PidReader(ctx.fs().procfs()) { ctx_ = &ctx; }

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
  if (fd < 0) {
    ReadStatus status = StatusFromErrno(errno);
    if (status == ReadStatus::kDenied) Denied(pid, file);
    return status;
  }
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
  if (status == ReadStatus::kDenied) Denied(pid, file);
  return status;
}

void PidReader::Denied(int pid, const char* file) const {
  if (ctx_ != nullptr) ctx_->WarnDenied(Path(pid, file), "permission denied");
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

}  // namespace pagescope
