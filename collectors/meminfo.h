#pragma once
// /proc/meminfo (Documentation/filesystems/proc.rst, "meminfo"): the paging-related lines.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "framework/collector.h"

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

// The value of one line of /proc/meminfo (bytes for a kB line), parsing only that line: other
// lines' problems are the meminfo collector's business. nullopt when the file or the line is
// missing; a malformed line records an error naming the file and line on `out`.
std::optional<std::uint64_t> ReadMeminfoValue(const Context& ctx, std::string_view key,
                                              MetricSink& out);

CollectorSpec MeminfoCollectorSpec();

}  // namespace pagescope
