#pragma once
// QEMU virtual machines: QEMU processes (comm qemu-system-* or qemu-kvm) found in the same walk
// of /proc as the `processes` collector, their command line (proctable/qemu_cmdline.h), and
// /proc/<pid>/{stat,status,numa_maps,ksm_stat,mountinfo} plus the opt-in smaps_rollup for THP
// (numa_maps cannot tell transparent hugepages apart; the same guards as `processes` apply).
//
// Hugetlb bytes per node and page size come from numa_maps' "huge" mappings (N<node>=<pages>
// times kernelpagesize_kB): what the guest has faulted in, not what it reserved.
//
// Capacity: `flavors`, a list of {name, memory, page_size, numa_nodes} in Nova's terms
// (hw:mem_page_size and hw:numa_nodes), says how many more guests of each flavor the host can
// take, as the libvirt driver's NUMA fitting places them:
// - page_size: `small` (base pages only), `large` (hugepages only, the largest size that fits
//   first), `any` (the largest hugepage size that fits first, then base pages), or a size
//   (`2MiB`, `1GiB`, `2MB`; a bare number is KiB as in Nova: `2048`). A guest cell uses one page
//   size, and only a size that divides the cell's memory (as Nova requires).
// - numa_nodes N (default 1): the memory is split evenly into N cells on N distinct host nodes,
//   each cell fitted on its node independently. The memory must divide by N.
// Free pages of a size on a node: free_hugepages(node) - resv_hugepages(size), at least 0. The
// kernel counts reserved pages (promised to mappings, not yet faulted) only per page size, not
// per node; they may be faulted on any node, so pagescope subtracts all of them from every
// node: the conservative answer, never promising a slot a lazy guest may still take.
// Free base-page memory on a node: the node's MemFree (sys/devices/system/node/nodeN/meminfo):
// memory free now. Page cache the kernel could reclaim is not counted and the free hugepages
// are not in it; nothing is set aside for the host either, which Nova does with
// reserved_host_memory_mb: for `small` and `any` flavors the figure is an upper bound on what
// Nova's own accounting would allow, and a lower bound on what the kernel could free.
// Without NUMA directories (a non-NUMA kernel) the host is one node 0 with the global pools and
// /proc/meminfo's MemFree.
//
// Series:
// - pagescope_capacity_vm_slots{flavor,node,page_size}: for flavors with numa_nodes 1, the
//   guests that fit on this node with pages of this size alone (page_size is the hugepage size,
//   or the base page size, e.g. 4KiB, for base pages); free / pages one guest needs.
// - pagescope_capacity_host_vm_slots{flavor}: the guests of the flavor this host can still take,
//   for every flavor (0 when none fits). With C(i) the cells node i can hold (the sum over the
//   page sizes the flavor may use of free / pages per cell), it is the largest k with
//   sum_i min(C(i), k) >= N * k: k guests whose N cells sit on N distinct nodes, placed one by
//   one on the nodes with the most room left. That is the most the host can take; a scheduler
//   that packs guests onto the fullest nodes first can strand cells when nodes are very uneven.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "framework/collector.h"

namespace pagescope {

// Exposed for tests: the capacity model on its own.
struct CapacityFlavor {
  enum Kind { kSize, kSmall, kLarge, kAny };
  std::string name;
  std::uint64_t memory = 0;  // bytes
  Kind kind = kSize;
  std::uint64_t page_size = 0;  // kSize only
  int numa_nodes = 1;
};
struct CapacityNode {
  int node = 0;
  std::map<std::uint64_t, std::uint64_t> free_pages;  // hugepage size -> free minus reserved
  std::optional<std::uint64_t> free_small_bytes;      // MemFree; nullopt: unknown
};
// Cells of `cell_memory` the node can hold for the flavor, by page size (the base page size for
// base pages); a size absent from the map holds none.
std::map<std::uint64_t, std::uint64_t> CellsOnNode(const CapacityFlavor& flavor,
                                                   const CapacityNode& node,
                                                   std::uint64_t cell_memory,
                                                   std::uint64_t base_page_size);
// Guests of the flavor the host can take (see above).
std::uint64_t HostSlots(const CapacityFlavor& flavor, const std::vector<CapacityNode>& nodes,
                        std::uint64_t base_page_size);

CollectorSpec QemuCollectorSpec();

}  // namespace pagescope
