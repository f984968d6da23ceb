#include "proctable/page_sample.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <random>

#include "kernel/parse.h"

// The PROCMAP_QUERY ioctl on /proc/<pid>/maps (include/uapi/linux/fs.h, Linux 6.11+). Debian 12's
// headers are 6.1's, so the ABI is declared here; where the headers have it, it must agree.
namespace pagescope {
namespace {

struct ProcmapQuery {
  std::uint64_t size;         // sizeof(struct procmap_query)
  std::uint64_t query_flags;  // in: PROCMAP_QUERY_*
  std::uint64_t query_addr;   // in
  std::uint64_t vma_start;    // out
  std::uint64_t vma_end;
  std::uint64_t vma_flags;      // PROCMAP_QUERY_VMA_{READABLE,WRITABLE,EXECUTABLE,SHARED}
  std::uint64_t vma_page_size;  // vma_kernel_pagesize(): the hugetlb page size, else the base
  std::uint64_t vma_offset;
  std::uint64_t inode;
  std::uint32_t dev_major;
  std::uint32_t dev_minor;
  std::uint32_t vma_name_size;  // in: buffer size; out: name length with its NUL, 0 for none
  std::uint32_t build_id_size;  // in: 0 (not asked)
  std::uint64_t vma_name_addr;  // in: buffer
  std::uint64_t build_id_addr;
};
static_assert(sizeof(ProcmapQuery) == 104, "struct procmap_query is 104 bytes");

constexpr unsigned long kProcmapQuery = _IOWR('f', 17, ProcmapQuery);
constexpr std::uint64_t kQueryVmaReadable = 0x01;
constexpr std::uint64_t kQueryVmaWritable = 0x02;
constexpr std::uint64_t kQueryVmaExecutable = 0x04;
constexpr std::uint64_t kQueryCoveringOrNextVma = 0x10;
#ifdef PROCMAP_QUERY
static_assert(PROCMAP_QUERY == kProcmapQuery, "PROCMAP_QUERY of the kernel headers");
#endif

// memfd_create(2) flags (linux/memfd.h; Linux 4.14+ for MFD_HUGETLB).
constexpr unsigned kMfdCloexec = 0x0001;
constexpr unsigned kMfdHugetlb = 0x0004;
constexpr unsigned kMfdHugeShift = 26;

double Since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

enum class ListResult { kOk, kGone, kDenied, kUnsupported };

// Every mapping through PROCMAP_QUERY: one ioctl per mapping, from address 0 up
// (COVERING_OR_NEXT_VMA). kUnsupported when the kernel has no such ioctl (before 6.11).
ListResult ListByProcmapQuery(int fd, std::vector<ListedMapping>& out) {
  std::vector<char> name(8192);
  std::uint64_t addr = 0;
  for (bool first = true;; first = false) {
    ProcmapQuery q{};
    q.size = sizeof q;
    q.query_flags = kQueryCoveringOrNextVma;
    q.query_addr = addr;
    q.vma_name_size = static_cast<std::uint32_t>(name.size());
    q.vma_name_addr = reinterpret_cast<std::uintptr_t>(name.data());
    int rc = ioctl(fd, kProcmapQuery, &q);
    if (rc != 0 && errno == ENAMETOOLONG) {  // a name beyond the buffer: list it nameless
      q.vma_name_size = 0;
      q.vma_name_addr = 0;
      rc = ioctl(fd, kProcmapQuery, &q);
    }
    if (rc != 0) {
      const int e = errno;
      if (e == ENOENT) return ListResult::kOk;  // no mapping at or after addr
      if (first && (e == ENOTTY || e == EINVAL || e == EOPNOTSUPP)) {
        return ListResult::kUnsupported;
      }
      if (e == ESRCH) return ListResult::kGone;
      if (e == EACCES || e == EPERM) return ListResult::kDenied;
      throw CollectError(std::string("PROCMAP_QUERY: ") + std::strerror(e));
    }
    ListedMapping m;
    m.start = q.vma_start;
    m.end = q.vma_end;
    m.any_access =
        (q.vma_flags & (kQueryVmaReadable | kQueryVmaWritable | kQueryVmaExecutable)) != 0;
    m.dev_major = q.dev_major;
    m.dev_minor = q.dev_minor;
    m.inode = q.inode;
    if (q.vma_name_size > 1) m.name.assign(name.data(), q.vma_name_size - 1);
    m.page_size = q.vma_page_size;
    if (m.end <= addr) {
      throw CollectError("PROCMAP_QUERY: mapping " + std::to_string(m.start) + "-" +
                         std::to_string(m.end) + " does not advance past " + std::to_string(addr));
    }
    addr = m.end;
    out.push_back(std::move(m));
  }
}

// The device numbers of the kernel's internal hugetlbfs mounts, one per page size of
// /sys/kernel/mm/hugepages: the st_dev of a memfd created with MFD_HUGETLB for that size (it
// allocates no page). Sizes the kernel refuses are left out.
void ProbeHugetlbDevices(const Context& ctx, PageSizeClues& clues) {
  auto dirs = ctx.TryReadSubdirs(ctx.fs().Sys("kernel/mm/hugepages"));
  if (!dirs) return;
  auto probe = [](unsigned flags) -> std::optional<std::pair<std::uint32_t, std::uint32_t>> {
    int fd = static_cast<int>(syscall(SYS_memfd_create, "pagescope-probe", flags));
    if (fd < 0) return std::nullopt;
    struct stat st {};
    int rc = fstat(fd, &st);
    close(fd);
    if (rc != 0) return std::nullopt;
    return std::make_pair(static_cast<std::uint32_t>(major(st.st_dev)),
                          static_cast<std::uint32_t>(minor(st.st_dev)));
  };
  for (const auto& d : *dirs) {
    auto bytes = parse::HugepageDirBytes(d);
    if (!bytes || (*bytes & (*bytes - 1)) != 0) continue;
    unsigned log2 = 0;
    while ((std::uint64_t{1} << log2) < *bytes) ++log2;
    if (auto dev = probe(kMfdCloexec | kMfdHugetlb | (log2 << kMfdHugeShift))) {
      clues.hugetlb_devices[*dev] = *bytes;
    }
  }
  if (auto dev = probe(kMfdCloexec | kMfdHugetlb)) {
    auto it = clues.hugetlb_devices.find(*dev);
    if (it != clues.hugetlb_devices.end()) clues.default_hugepage_size = it->second;
  }
}

}  // namespace

ListedMapping ListedFromMaps(ProcPidMapsEntry entry) {
  ListedMapping m;
  m.start = entry.start;
  m.end = entry.end;
  m.any_access = entry.read || entry.write || entry.exec;
  m.dev_major = entry.dev_major;
  m.dev_minor = entry.dev_minor;
  m.inode = entry.inode;
  m.name = std::move(entry.name);
  return m;
}

bool SampledByName(const ListedMapping& m) {
  if (m.end - m.start < kMinSampledMappingBytes || !m.any_access) return false;
  std::string_view name = m.name;
  if (name.starts_with("[")) {
    return name == "[heap]" || name.starts_with("[stack") || name.starts_with("[anon:") ||
           name.starts_with("[anon_shmem:");
  }
  if (name.starts_with("anon_inode:")) return name == "anon_inode:[kvm-gmem]";
  return true;
}

std::optional<std::uint64_t> MappingPageSize(const ListedMapping& m, const PageSizeClues& clues) {
  const MountinfoEntry* mount = nullptr;
  if (m.dev_major != 0 || m.dev_minor != 0) {
    for (const auto& e : clues.mounts) {
      if (e.dev_major == m.dev_major && e.dev_minor == m.dev_minor) {
        mount = &e;
        break;
      }
    }
  }
  if (mount != nullptr && mount->fs_type == "devtmpfs") return std::nullopt;
  if (m.page_size != 0) return m.page_size;
  if (mount != nullptr) {
    if (mount->fs_type != "hugetlbfs") return clues.base_page_size;
    auto size = ParseHugetlbfsOptions(mount->super_options).page_size;
    if (!size) size = clues.default_hugepage_size;
    // A hugetlbfs mount of unknown page size: sampling it in base pages still finds the node of
    // every huge page it lands on (the answers weigh bytes alike); only its class is wrong.
    return size.value_or(clues.base_page_size);
  }
  auto it = clues.hugetlb_devices.find({m.dev_major, m.dev_minor});
  if (it != clues.hugetlb_devices.end()) return it->second;
  return clues.base_page_size;
}

std::vector<PlannedClass> PlanSample(const std::vector<SampleMapping>& mappings,
                                     std::size_t max_pages, std::uint64_t seed) {
  struct Class {
    PlannedClass plan;
    std::vector<const SampleMapping*> maps;
    std::uint64_t pages = 0;
    std::uint64_t quota = 0;
    bool settled = false;
  };
  std::map<std::uint64_t, Class> by_size;
  for (const auto& m : mappings) {
    if (m.page_size == 0 || m.end <= m.start) continue;
    std::uint64_t pages = (m.end - m.start) / m.page_size;
    if (pages == 0) continue;
    Class& c = by_size[m.page_size];
    c.plan.page_size = m.page_size;
    c.plan.mapped_bytes += m.end - m.start;
    c.pages += pages;
    c.maps.push_back(&m);
  }
  // Each class is estimated on its own (and scaled to its own figure: HugetlbPages, Rss), so the
  // classes share the budget equally, not by bytes: a small hugetlb backing beside a large
  // base-page one would otherwise get a handful of addresses. A class with fewer pages than its
  // share is asked about every page and leaves the rest to the others (repeated until no class
  // is settled that way); the remainder of the division goes to the largest classes.
  std::uint64_t budget = max_pages;
  std::vector<Class*> open;
  for (auto& [size, c] : by_size) open.push_back(&c);
  for (bool changed = true; changed && !open.empty();) {
    changed = false;
    const std::uint64_t share = budget / open.size();
    for (auto it = open.begin(); it != open.end(); ++it) {
      if ((*it)->pages <= share) {
        (*it)->quota = (*it)->pages;
        budget -= (*it)->pages;
        open.erase(it);
        changed = true;
        break;  // the share changes: compute it again
      }
    }
  }
  if (!open.empty()) {
    std::stable_sort(open.begin(), open.end(), [](const Class* a, const Class* b) {
      return a->plan.mapped_bytes > b->plan.mapped_bytes;
    });
    const std::uint64_t share = budget / open.size();
    std::uint64_t rest = budget % open.size();
    for (Class* c : open) c->quota = share + (rest > 0 ? (--rest, 1) : 0);
  }
  std::mt19937_64 rng(seed);
  std::vector<PlannedClass> out;
  for (auto& [size, c] : by_size) {
    const std::uint64_t n = std::min(c.quota, c.pages);
    c.plan.addresses.reserve(n);
    std::size_t mi = 0;
    std::uint64_t before = 0;  // pages of the mappings before maps[mi]
    for (std::uint64_t i = 0; i < n; ++i) {
      // Stratum i holds pages [lo, hi) of the class's pages end to end.
      const std::uint64_t q = c.pages / n, r = c.pages % n;  // floor(i * pages / n), no overflow
      const std::uint64_t lo = i * q + i * r / n;
      const std::uint64_t hi = (i + 1) * q + (i + 1) * r / n;
      std::uint64_t page = lo;
      if (hi - lo > 1) page = std::uniform_int_distribution<std::uint64_t>(lo, hi - 1)(rng);
      for (;;) {
        const SampleMapping* m = c.maps[mi];
        std::uint64_t pages = (m->end - m->start) / size;
        if (page < before + pages) {
          c.plan.addresses.push_back(m->start + (page - before) * size);
          break;
        }
        before += pages;
        ++mi;
      }
    }
    out.push_back(std::move(c.plan));
  }
  return out;
}

std::optional<PageSample> SamplePages(const Context& ctx, int pid, const PageSampleOptions& opts) {
  return SamplePages(ctx, pid, opts, MappingSource::kAuto);
}

std::optional<PageSample> SamplePages(const Context& ctx, int pid, const PageSampleOptions& opts,
                                      MappingSource source) {
  const auto t0 = std::chrono::steady_clock::now();
  const std::string dir = std::to_string(pid);
  const auto maps_path = ctx.fs().Proc(dir + "/maps");
  PageSample sample;
  std::vector<ListedMapping> listed;
  bool listed_ok = false;
  if (source == MappingSource::kAuto) {
    int fd = open(maps_path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      ReadStatus st = StatusFromErrno(errno);
      if (st == ReadStatus::kDenied) ctx.WarnDenied(maps_path, std::strerror(errno));
      if (st != ReadStatus::kError) return std::nullopt;
      throw CollectError(maps_path.string() + ": " + std::strerror(errno));
    }
    ListResult r = ListResult::kUnsupported;
    try {
      r = ListByProcmapQuery(fd, listed);
    } catch (const CollectError& e) {
      close(fd);
      throw CollectError(maps_path.string() + ": " + e.what());
    }
    close(fd);
    if (r == ListResult::kGone) return std::nullopt;
    if (r == ListResult::kDenied) {
      ctx.WarnDenied(maps_path, "PROCMAP_QUERY: permission denied");
      return std::nullopt;
    }
    if (r == ListResult::kOk) {
      listed_ok = true;
      sample.path = "procmap_query";
    } else {
      listed.clear();
    }
  }
  bool text = false;
  if (!listed_ok) {
    auto content = ctx.ReadQuiet(maps_path);
    if (!content) return std::nullopt;
    auto entries = ParseFile(maps_path, [&] { return ParseProcPidMaps(*content); });
    listed.reserve(entries.size());
    for (auto& e : entries) listed.push_back(ListedFromMaps(std::move(e)));
    sample.path = "maps";
    text = true;
  }

  // The clues for the page size: the mounts when a mapping may be a file on hugetlbfs (text
  // path) or a device (a name under /dev/), the internal hugetlbfs devices when a text mapping
  // is a file on no mount the process sees.
  PageSizeClues clues;
  clues.base_page_size = SystemPageSize();
  bool need_mounts = false;
  for (const auto& m : listed) {
    if (!SampledByName(m)) continue;
    if ((text && m.inode != 0) || m.name.starts_with("/dev/")) need_mounts = true;
  }
  if (need_mounts) {
    const auto mountinfo_path = ctx.fs().Proc(dir + "/mountinfo");
    if (auto content = ctx.ReadQuiet(mountinfo_path)) {
      clues.mounts = ParseFile(mountinfo_path, [&] { return ParseMountinfo(*content); });
    }
    if (text) {
      for (const auto& m : listed) {
        if (!SampledByName(m) || m.inode == 0) continue;
        bool on_mount = std::any_of(clues.mounts.begin(), clues.mounts.end(), [&](const auto& e) {
          return e.dev_major == m.dev_major && e.dev_minor == m.dev_minor;
        });
        if (!on_mount) {
          ProbeHugetlbDevices(ctx, clues);
          break;
        }
      }
    }
  }
  std::vector<SampleMapping> mappings;
  for (const auto& m : listed) {
    if (!SampledByName(m)) continue;
    std::optional<std::uint64_t> size;
    try {
      size = MappingPageSize(m, clues);
    } catch (const ParseError& e) {
      throw CollectError(FileLineError(ctx.fs().Proc(dir + "/mountinfo"), e));
    }
    if (size) mappings.push_back({m.start, m.end, *size});
  }

  std::random_device entropy;
  const std::uint64_t seed = (std::uint64_t{entropy()} << 32) ^ entropy() ^
                             static_cast<std::uint64_t>(t0.time_since_epoch().count());
  auto plan = PlanSample(mappings, opts.max_pages, seed);
  const std::size_t batch = std::max<std::size_t>(opts.batch, 1);
  std::vector<void*> pages;
  std::vector<int> status;
  for (auto& c : plan) {
    PageClassSample cls;
    cls.page_size = c.page_size;
    cls.mapped_bytes = c.mapped_bytes;
    cls.asked = c.addresses.size();
    for (std::size_t i = 0; i < c.addresses.size(); i += batch) {
      const std::size_t n = std::min(batch, c.addresses.size() - i);
      pages.resize(n);
      status.assign(n, 0);
      for (std::size_t j = 0; j < n; ++j) {
        pages[j] = reinterpret_cast<void*>(static_cast<std::uintptr_t>(c.addresses[i + j]));
      }
      const auto c0 = std::chrono::steady_clock::now();
      // nodes = NULL: only where each page is (the node, or a negative errno); nothing moves.
      long rc = syscall(SYS_move_pages, pid, n, pages.data(), nullptr, status.data(), 0);
      int e = errno;
      sample.max_call_seconds = std::max(sample.max_call_seconds, Since(c0));
      if (rc < 0) {
        if (e == ESRCH) return std::nullopt;
        if (e == EPERM || e == EACCES) {
          ctx.WarnDenied(ctx.fs().Proc(dir + "/move_pages"),
                         std::string("move_pages(2): ") + std::strerror(e), ctx.fs().Proc(dir));
          return std::nullopt;
        }
        if (e == ENOSYS) return std::nullopt;  // a kernel without NUMA or page migration
        throw CollectError("move_pages(2) of pid " + dir + ": " + std::strerror(e));
      }
      for (int s : status) {
        if (s >= 0) ++cls.present_by_node[s];  // negative: -ENOENT not present, -EFAULT, …
      }
    }
    sample.classes.push_back(std::move(cls));
  }
  sample.seconds = Since(t0);
  return sample;
}

}  // namespace pagescope
