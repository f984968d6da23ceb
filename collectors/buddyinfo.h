#pragma once
// Free memory by block size: /proc/buddyinfo (Documentation/filesystems/proc.rst, "buddyinfo"),
// one line per node and zone with the number of free blocks of each order (a block of order k
// is 2^k contiguous base pages), and, where readable (root only, mode 0400), the same split by
// migrate type from /proc/pagetypeinfo (proc_pagetypeinfo.h).
//
// From these, how many more hugepages of each size (/sys/kernel/mm/hugepages/hugepages-<N>kB)
// the free contiguous blocks of a node could give right now: a hugepage of order p needs a free
// block of order >= p, and a block of order k splits into 2^(k - p) of them. The base page size
// is sysconf(_SC_PAGESIZE): the exporter runs on the kernel it reads (fixture trees assume the
// host's page size too). This is an upper bound: the allocator keeps watermark reserves, other
// allocations race for the same blocks, and the lowmem reserve keeps the DMA zones for their
// own users. It is not a lower bound either: compaction can build more blocks from movable
// pages. Sizes above the buddy allocator's largest order (1 GiB on x86-64: order 18 > 10) give
// 0: such pages come from boot-time allocation or contig_alloc, not from free blocks.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "framework/collector.h"

namespace pagescope {

struct BuddyZone {
  int node = 0;
  std::string zone;                        // "DMA", "DMA32", "Normal", "Movable", ...
  std::vector<std::uint64_t> free_blocks;  // index = order
};

// "Node 0, zone   Normal      1      1      2 ..." lines. Throws ParseError.
std::vector<BuddyZone> ParseBuddyinfo(std::string_view text);

// k when page_size == base_page_size * 2^k; nullopt otherwise.
std::optional<unsigned> PageOrder(std::uint64_t page_size, std::uint64_t base_page_size);

// Pages of order `page_order` that free blocks (index = order) could give: the sum over orders
// k >= page_order of free_blocks[k] * 2^(k - page_order). 0 when page_order is above every
// order present.
double ObtainablePages(const std::vector<std::uint64_t>& free_blocks, unsigned page_order);

CollectorSpec BuddyinfoCollectorSpec();

}  // namespace pagescope
