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
#include <vector>

#include "framework/collector.h"

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

}  // namespace pagescope
