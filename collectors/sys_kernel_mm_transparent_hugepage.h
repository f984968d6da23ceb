#pragma once
// Transparent hugepages: /sys/kernel/mm/transparent_hugepage/
// (Documentation/admin-guide/mm/transhuge.rst): the policy files `enabled`, `defrag`,
// `shmem_enabled` ("always [madvise] never"), `use_zero_page`, `hpage_pmd_size`, khugepaged's
// settings and counters under `khugepaged/`, and on kernels with multi-size THP (6.8+) one
// directory `hugepages-<N>kB/` per size with its own `enabled`, `shmem_enabled` and `stats/`.

#include <string_view>

#include "collectors/sysfs.h"
#include "exporter/collector.h"

namespace pagescope {

// khugepaged/<file> -> its metric (pagescope_thp_khugepaged_*). Known files get their kernel
// meaning (counters with _total, *_millisecs in seconds); others follow UnknownFileMetric.
// nullopt when the file name cannot be a metric name.
std::optional<FileMetric> KhugepagedFileMetric(std::string_view file);

// hugepages-<N>kB/stats/<file> -> its metric (pagescope_thp_size_*, labelled page_size):
// "nr_<x>" files count hugepages of that size now (gauge pagescope_thp_size_<x>_pages),
// everything else counts events (counter pagescope_thp_size_<file>_total).
std::optional<FileMetric> ThpSizeStatMetric(std::string_view file);

CollectorSpec ThpCollectorSpec();

}  // namespace pagescope
