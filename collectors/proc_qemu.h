#pragma once
// QEMU virtual machines: QEMU processes (comm qemu-system-* or qemu-kvm) found in the same walk
// of /proc as the `processes` collector, their command line (collectors/qemu_cmdline.h), and
// /proc/<pid>/{stat,status,numa_maps,ksm_stat,mountinfo} plus the opt-in smaps_rollup for THP
// (numa_maps cannot tell transparent hugepages apart; the same guards as `processes` apply).
//
// Hugetlb bytes per node and page size come from numa_maps' "huge" mappings (N<node>=<pages>
// times kernelpagesize_kB): what the guest has faulted in, not what it reserved.
//
// Capacity: `flavors` (a list of {name, memory, page_size}) gives
// pagescope_capacity_vm_slots{flavor,node,page_size}: how many more guests of the flavor fit in
// one NUMA node's free hugepages, as Nova places a single-node guest:
//   floor((free_hugepages(node) - resv_hugepages(size)) / ceil(memory / page_size)), at least 0.
// The kernel counts reserved pages (promised to mappings, not yet faulted) only per page size,
// not per node; they may be faulted on any node, so pagescope subtracts all of them from every
// node: the conservative answer, never promising a slot a lazy guest may still take.

#include "exporter/collector.h"

namespace pagescope {

CollectorSpec QemuCollectorSpec();

}  // namespace pagescope
