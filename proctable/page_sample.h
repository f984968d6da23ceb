#pragma once
// Where a process's pages are, estimated without walking its page tables: a bounded sample of
// addresses spread over its large mappings, each asked of the kernel with move_pages(2) in query
// mode (nodes = NULL: only the node of each page, or a negative errno). The kernel takes the
// process's mmap_lock once per move_pages call, so the longest lock hold is one batch of
// addresses, whatever the process's size (docs/processes-and-vms.md, "Estimated placement").
//   /proc/<pid>/maps          the mappings: with the PROCMAP_QUERY ioctl (Linux 6.11+) on the
//                             open file, else its text (kernel/proc_pid_maps.h)
//   /proc/<pid>/mountinfo     hugetlbfs mounts and their page size (text path only)

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "framework/collector.h"
#include "kernel/proc_mountinfo.h"
#include "kernel/proc_pid_maps.h"

namespace pagescope {

struct PageSampleOptions {
  std::size_t max_pages = 4096;  // addresses asked per process per sample
  std::size_t batch = 64;        // addresses per move_pages(2) call (one mmap_lock hold each)
};

struct PageClassSample {           // one class of mappings: base pages, or hugetlb of one page size
  std::uint64_t page_size = 0;     // bytes
  std::uint64_t mapped_bytes = 0;  // virtual size of the mappings of this class that were sampled
  std::uint64_t asked = 0;         // addresses asked
  std::map<int, std::uint64_t> present_by_node;  // answers with a node
};

struct PageSample {
  std::vector<PageClassSample> classes;
  double seconds = 0;           // whole sample
  double max_call_seconds = 0;  // longest single move_pages call (the longest lock hold)
  std::string path;  // "procmap_query" or "maps" (which kernel interface listed the mappings)
};

// nullopt when the process is gone or cannot be sampled (no ptrace access); throws CollectError
// naming the file on garbage.
std::optional<PageSample> SamplePages(const Context& ctx, int pid, const PageSampleOptions& opts);

// Which interface lists the mappings: kAuto is PROCMAP_QUERY where the kernel has it, else the
// maps text; kMapsText forces the text (the tests run both paths on one kernel).
enum class MappingSource { kAuto, kMapsText };
std::optional<PageSample> SamplePages(const Context& ctx, int pid, const PageSampleOptions& opts,
                                      MappingSource source);

// The parts below are pure; they are declared here for the unit tests.

// A mapping as listed by PROCMAP_QUERY or the maps text.
struct ListedMapping {
  std::uint64_t start = 0;
  std::uint64_t end = 0;
  bool any_access = false;  // r, w or x: a PROT_NONE mapping (a guard, a reservation) holds
                            // no memory worth sampling
  std::uint32_t dev_major = 0;
  std::uint32_t dev_minor = 0;
  std::uint64_t inode = 0;
  std::string name;             // as the kernel prints it ("" for anonymous memory)
  std::uint64_t page_size = 0;  // from PROCMAP_QUERY's vma_page_size; 0: not known (maps text)
};

// The same from a line of the maps text.
ListedMapping ListedFromMaps(ProcPidMapsEntry entry);

// Mappings smaller than this are not sampled: libraries, stacks, small heaps and arenas are most
// of a process's mappings but a negligible part of a large process's memory.
inline constexpr std::uint64_t kMinSampledMappingBytes = 1 << 20;

// Whether a mapping is worth sampling, by its size, access and name alone: at least
// kMinSampledMappingBytes, some access, and not a kernel-provided special mapping ([vdso],
// [vvar], [vsyscall], [uprobes]) or an anon_inode: mapping (VFIO device regions, io_uring and
// perf rings, KVM's vCPU pages) other than guest_memfd's [kvm-gmem].
bool SampledByName(const ListedMapping& m);

// What the page size of a mapping of the maps text is known from.
struct PageSizeClues {
  std::uint64_t base_page_size = 4096;
  // The process's mounts (its /proc/<pid>/mountinfo): a file on a hugetlbfs mount has that
  // mount's pagesize=; a file on devtmpfs is a device (its memory is not sampled).
  std::vector<MountinfoEntry> mounts;
  // The kernel's internal hugetlbfs mounts, one per page size, which the maps text shows only
  // by their device number: anonymous MAP_HUGETLB ("/anon_hugepage (deleted)"), hugetlb memfds
  // ("/memfd:NAME (deleted)") and SysV SHM_HUGETLB ("/SYSV…"). Learnt from the st_dev of a
  // memfd created with MFD_HUGETLB for each size (ProbeHugetlbDevices).
  std::map<std::pair<std::uint32_t, std::uint32_t>, std::uint64_t> hugetlb_devices;
  std::optional<std::uint64_t> default_hugepage_size;  // for a hugetlbfs mount without pagesize=
};
// The page size to sample a mapping with, or nullopt for a device mapping (devtmpfs).
// `m.page_size` when PROCMAP_QUERY gave it; otherwise from the clues; base pages when none
// applies. Throws ParseError(1, …) on a hugetlbfs mount whose pagesize= is not a size.
std::optional<std::uint64_t> MappingPageSize(const ListedMapping& m, const PageSizeClues& clues);

// One mapping to sample, with the page size to sample it with.
struct SampleMapping {
  std::uint64_t start = 0;
  std::uint64_t end = 0;
  std::uint64_t page_size = 0;
};
// The addresses to ask for one class (one page size), ascending, one per page at most.
struct PlannedClass {
  std::uint64_t page_size = 0;
  std::uint64_t mapped_bytes = 0;
  std::vector<std::uint64_t> addresses;
};
// Spreads at most `max_pages` addresses over the mappings: the classes (page sizes) share them
// equally, since each is estimated on its own (a class with fewer pages than its share is asked
// about every page, and the rest goes to the others); within a class, in proportion to the
// mappings' size: their pages, taken end to end, are cut into as many equal strata as the class
// gets addresses and one page is drawn at random from each (stratified: no two addresses share
// a page, and an interleave policy that alternates nodes page by page cannot line up with a
// fixed stride). `seed` seeds the draw. Classes in ascending page size.
std::vector<PlannedClass> PlanSample(const std::vector<SampleMapping>& mappings,
                                     std::size_t max_pages, std::uint64_t seed);

}  // namespace pagescope
