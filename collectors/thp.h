#pragma once
// Transparent hugepages: /sys/kernel/mm/transparent_hugepage/
// (Documentation/admin-guide/mm/transhuge.rst): the policy files `enabled`, `defrag`,
// `shmem_enabled` ("always [madvise] never"), `use_zero_page`, `hpage_pmd_size`, khugepaged's
// settings and counters under `khugepaged/`, and on kernels with multi-size THP (6.8+) one
// directory `hugepages-<N>kB/` per size with its own `enabled`, `shmem_enabled` and `stats/`.
//
// Per-size series (settings and stats) only for sizes that can be used (unless `all_sizes`):
// the size's anonymous policy is not `never` (its `inherit` means the top-level `enabled`), or
// its shmem policy is not `never` (`inherit` means the top-level `shmem_enabled`; a top-level
// `deny` turns shmem THP off for every size, `force` forces the PMD size on), or one of its
// stats counters is not zero (it was used: a size switched off later keeps its series, so
// rate() over them stays continuous). On most hosts that leaves the PMD size alone.

#include <string_view>

#include "framework/collector.h"
#include "kernel/sysfs.h"

namespace pagescope {

// khugepaged/<file> -> its metric (pagescope_thp_khugepaged_*). Known files get their kernel
// meaning (counters with _total, *_millisecs in seconds); others follow UnknownFileMetric.
// nullopt when the file name cannot be a metric name.
std::optional<FileMetric> KhugepagedFileMetric(std::string_view file);

// hugepages-<N>kB/stats/<file> -> its metric (pagescope_thp_size_*, labelled page_size):
// "nr_<x>" files count hugepages of that size now (gauge pagescope_thp_size_<x>_pages),
// everything else counts events (counter pagescope_thp_size_<file>_total).
std::optional<FileMetric> ThpSizeStatMetric(std::string_view file);

// Whether a size can be used, from the active modes ("" when a file is missing). Exposed for
// tests.
bool ThpSizeUsable(std::string_view top_enabled, std::string_view top_shmem,
                   std::string_view size_enabled, std::string_view size_shmem, bool pmd_size);

CollectorSpec ThpCollectorSpec();

}  // namespace pagescope
