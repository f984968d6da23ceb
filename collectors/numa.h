#pragma once
// NUMA nodes: /sys/devices/system/node/node<N>/{numastat,meminfo,distance,cpulist} and the node
// mask /sys/devices/system/node/online (Documentation/ABI/stable/sysfs-devices-node,
// Documentation/admin-guide/numastat.rst). Node ids come from the directory listing and can be
// sparse (0 and 2). libnuma is not used: it reads the real /sys and cannot be pointed at a root.
//
// Distance columns: the kernel writes one distance per *online* node, in increasing node id
// (drivers/base/node.c, node_read_distance: for_each_online_node), not one per node directory
// nor per possible node. So column i belongs to the i-th id of /sys/devices/system/node/online;
// when that file is absent, to the i-th node directory. A row of another length is an error.

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "collectors/meminfo.h"
#include "framework/collector.h"

namespace pagescope {

// numastat: "numa_hit 8206150" lines as (key, value) in file order (values are pages).
std::vector<std::pair<std::string, std::uint64_t>> ParseNumastat(std::string_view text);

// Per-node meminfo: "Node 0 MemTotal:        4679884 kB" lines. Every line must name `node`.
std::vector<MeminfoEntry> ParseNodeMeminfo(std::string_view text, int node);

// distance: "10 21 21" -> {10, 21, 21}.
std::vector<std::uint64_t> ParseNodeDistance(std::string_view text);

CollectorSpec NumaCollectorSpec();

}  // namespace pagescope
