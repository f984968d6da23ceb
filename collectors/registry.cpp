// The list of every collector, in the order they run and appear in --help and the README.
// Adding a collector: write collectors/<kernel_source>.{h,cpp} with a <Name>CollectorSpec()
// function and add one line here.

#include "collectors/cgroup_hugetlb.h"
#include "collectors/cgroup_memory.h"
#include "collectors/hugepages_config.h"
#include "collectors/hugetlbfs.h"
#include "collectors/perf_event_tlb.h"
#include "collectors/proc_buddyinfo.h"
#include "collectors/proc_meminfo.h"
#include "collectors/proc_pressure.h"
#include "collectors/proc_processes.h"
#include "collectors/proc_qemu.h"
#include "collectors/proc_swaps.h"
#include "collectors/proc_vmstat.h"
#include "collectors/proc_zoneinfo.h"
#include "collectors/sys_devices_system_node.h"
#include "collectors/sys_devices_system_node_hugepages.h"
#include "collectors/sys_kernel_mm_hugepages.h"
#include "collectors/sys_kernel_mm_ksm.h"
#include "collectors/sys_kernel_mm_transparent_hugepage.h"
#include "exporter/collector.h"

namespace pagescope {

const std::vector<CollectorSpec>& AllCollectors() {
  // clang-format off
  static const std::vector<CollectorSpec> kAll = {
      HugepagesCollectorSpec(),
      NumaHugepagesCollectorSpec(),
      MeminfoCollectorSpec(),
      ThpCollectorSpec(),
      KsmCollectorSpec(),
      VmstatCollectorSpec(),
      PressureCollectorSpec(),
      NumaCollectorSpec(),
      BuddyinfoCollectorSpec(),
      ZoneinfoCollectorSpec(),
      SwapCollectorSpec(),
      HugetlbfsCollectorSpec(),
      HugepagesConfigCollectorSpec(),
      CgroupHugetlbCollectorSpec(),
      CgroupMemoryCollectorSpec(),
      ProcessesCollectorSpec(),
      QemuCollectorSpec(),
      TlbCollectorSpec(),
  };
  // clang-format on
  return kAll;
}

}  // namespace pagescope
