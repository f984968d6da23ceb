#pragma once
// /proc/meminfo (Documentation/filesystems/proc.rst, "meminfo"): the paging-related lines.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "exporter/collector.h"

namespace pagescope {

struct MeminfoEntry {
  std::string key;          // kernel name, e.g. "AnonHugePages"
  std::uint64_t value = 0;  // bytes when the line has a kB unit, else the raw number
  bool has_unit = false;    // the line ended in "kB"
};

// Every line of the file, in order. Throws ParseError on a malformed line.
std::vector<MeminfoEntry> ParseMeminfo(std::string_view text);
// One "Key: value [kB]" line (line number `n` for errors); also the per-node meminfo format
// once its "Node <N> " prefix is removed.
MeminfoEntry ParseMeminfoLine(std::string_view line, std::size_t n);

// The meminfo keys pagescope exports and their metric names (pagescope_memory_<name>_bytes).
struct MeminfoField {
  const char* key;
  const char* metric;
  const char* help;
};
const std::vector<MeminfoField>& MeminfoFields();

CollectorSpec MeminfoCollectorSpec();

}  // namespace pagescope
