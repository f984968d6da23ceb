#pragma once
// Swap: the devices of /proc/swaps (mm/swapfile.c, swap_show; sizes in KiB), vm.swappiness
// (/proc/sys/vm/swappiness, Documentation/admin-guide/sysctl/vm.rst) and, when zswap is built
// in or loaded, its module parameters (sys_module_zswap.h). Device paths are written by the
// kernel with spaces, tabs, newlines and backslashes escaped as \ooo octal ("/swap\040file");
// they are decoded for the device label. No swap devices: no device series.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "framework/collector.h"

namespace pagescope {

struct SwapDevice {
  std::string path;  // decoded
  std::string type;  // "partition" or "file"
  std::uint64_t size_bytes = 0;
  std::uint64_t used_bytes = 0;
  std::int64_t priority = 0;
};

// The header line ("Filename Type Size Used Priority") is skipped. Throws ParseError.
std::vector<SwapDevice> ParseSwaps(std::string_view text);

CollectorSpec SwapCollectorSpec();

}  // namespace pagescope
