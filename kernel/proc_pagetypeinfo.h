#pragma once
// /proc/pagetypeinfo (mm/vmstat.c, pagetypeinfo_show; root only): free blocks per node, zone,
// migrate type and order, then pageblock counts per migrate type. Only the free-block table is
// parsed; the buddyinfo collector uses its Movable rows. The kernel stops counting a free list
// at 100000 entries under the zone lock and prints ">100000": such a count is read as 100000
// and flagged, so sums over it are lower bounds.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace pagescope {

struct PagetypeFree {
  int node = 0;
  std::string zone;                        // "Normal"
  std::string type;                        // "Unmovable", "Movable", "Reclaimable", ...
  std::vector<std::uint64_t> free_blocks;  // index = order
  bool capped = false;                     // some count was ">100000"
};

// Throws ParseError on a malformed line of the free-block table or a row whose number of
// orders differs from the table's header.
std::vector<PagetypeFree> ParsePagetypeinfo(std::string_view text);

}  // namespace pagescope
