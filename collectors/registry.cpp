// The list of every collector, in the order they run and appear in --help and the README.
// Adding a collector: write collectors/<name>.{h,cpp} (named as the collector) with a
// <Name>CollectorSpec() function and add one line here (see CONTRIBUTING.md).

#include "collectors/registry.h"

#include "collectors/buddyinfo.h"
#include "collectors/cgroup_hugetlb.h"
#include "collectors/cgroup_memory.h"
#include "collectors/hugepages.h"
#include "collectors/hugepages_config.h"
#include "collectors/hugetlbfs.h"
#include "collectors/ksm.h"
#include "collectors/meminfo.h"
#include "collectors/numa.h"
#include "collectors/numa_hugepages.h"
#include "collectors/pressure.h"
#include "collectors/processes.h"
#include "collectors/qemu.h"
#include "collectors/swap.h"
#include "collectors/thp.h"
#include "collectors/tlb.h"
#include "collectors/vmstat.h"
#include "collectors/zoneinfo.h"
#include "framework/collector.h"

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
