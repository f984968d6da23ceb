// The list of every collector, in the order they run and appear in --help and the README.
// Adding a collector: write collectors/<kernel_source>.{h,cpp} with a <Name>CollectorSpec()
// function and add one line here.

#include "collectors/proc_meminfo.h"
#include "collectors/proc_processes.h"
#include "collectors/proc_qemu.h"
#include "collectors/sys_devices_system_node_hugepages.h"
#include "collectors/sys_kernel_mm_hugepages.h"
#include "exporter/collector.h"

namespace pagescope {

const std::vector<CollectorSpec>& AllCollectors() {
  static const std::vector<CollectorSpec> kAll = {
      HugepagesCollectorSpec(), NumaHugepagesCollectorSpec(), MeminfoCollectorSpec(),
      ProcessesCollectorSpec(), QemuCollectorSpec(),
  };
  return kAll;
}

}  // namespace pagescope
