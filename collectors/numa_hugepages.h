#pragma once
// HugeTLB pools per NUMA node and page size:
// /sys/devices/system/node/node<N>/hugepages/hugepages-<size>kB/{nr,free,surplus}_hugepages
// (Documentation/admin-guide/mm/hugetlbpage.rst, "Interaction of Task Memory Policy with Huge
// Page Allocation/Freeing"). Node ids come from the directory listing; they can be sparse.
// The kernel keeps reserved pages only per size, not per node.

#include <vector>

#include "collectors/hugepages.h"
#include "framework/collector.h"

namespace pagescope {

struct NodeHugepagePool {
  int node = 0;
  HugepagePool pool;  // nr, free and surplus; the kernel keeps reserved pages only per size
};

// Every node's pools, by node id as listed (ids can be sparse), then page size. No NUMA
// directory: empty. Garbage in a file leaves that field empty and records the error on `out`.
std::vector<NodeHugepagePool> ReadNodeHugepagePools(const Context& ctx, MetricSink& out);

CollectorSpec NumaHugepagesCollectorSpec();

}  // namespace pagescope
