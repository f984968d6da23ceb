#pragma once
// Zones and their watermarks: /proc/zoneinfo (Documentation/filesystems/proc.rst, "zoneinfo";
// printed by zoneinfo_show_print in mm/vmstat.c), and the settings the watermarks come from,
// /proc/sys/vm/{min_free_kbytes,watermark_scale_factor,watermark_boost_factor}
// (Documentation/admin-guide/sysctl/vm.rst).
//
// For each node and zone the kernel prints the free pages, the min/low/high watermarks (kswapd
// wakes when free falls below low and sleeps above high; below min only atomic and reclaiming
// allocations proceed, others enter direct reclaim), the boost added to them after
// fragmentation events, spanned/present/managed pages and "protection": the lowmem_reserve
// array, pages kept free in this zone against allocations that could have used the zone of
// that index. Unpopulated zones (present 0) are printed too, without the per-zone counters.
//
// Reading it is cheap: the kernel walks the zones and prints counters it keeps per zone plus a
// short block per online CPU (the per-CPU pagesets), holding each zone's lock only while it
// prints them; /proc/pagetypeinfo instead walks every free list under that lock. On a 2-CPU,
// 24 GiB host: 46 us per read against 23 ms (scripts/bench-zoneinfo.py). The text grows with
// CPUs x zones.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "framework/collector.h"

namespace pagescope {

struct ZoneinfoZone {
  int node = 0;
  std::string zone;  // "DMA", "DMA32", "Normal", "Movable", "Device", ...
  // In pages; absent when the kernel did not print the line (old kernels lack boost).
  std::optional<std::uint64_t> free, boost, min, low, high, spanned, present, managed;
  std::optional<std::uint64_t> nr_free_pages;  // the per-zone counter line, same as free
  std::vector<std::uint64_t> protection;       // lowmem_reserve, index = zone index in the node
};

// Throws ParseError on a malformed line (wrong "Node" header, a watermark line without a number,
// an unterminated protection list, a line before the first zone).
std::vector<ZoneinfoZone> ParseZoneinfo(std::string_view text);

CollectorSpec ZoneinfoCollectorSpec();

}  // namespace pagescope
