#pragma once
// HugeTLB pools per NUMA node and page size:
// /sys/devices/system/node/node<N>/hugepages/hugepages-<size>kB/{nr,free,surplus}_hugepages
// (Documentation/admin-guide/mm/hugetlbpage.rst, "Interaction of Task Memory Policy with Huge
// Page Allocation/Freeing"). Node ids come from the directory listing; they can be sparse.
// The kernel keeps reserved pages only per size, not per node.

#include "exporter/collector.h"

namespace pagescope {

CollectorSpec NumaHugepagesCollectorSpec();

}  // namespace pagescope
