#pragma once
// Kernel samepage merging: /sys/kernel/mm/ksm/ (Documentation/admin-guide/mm/ksm.rst). One
// file per setting or statistic; newer kernels add general_profit, ksm_zero_pages, smart_scan,
// pages_skipped and the advisor_* files, and a file the kernel lacks gives no series. The
// tuning knobs (IsKsmTuningFile) only with the `tuning` option: they rarely change and cost a
// series each on every host.

#include <cstdint>
#include <optional>
#include <string_view>

#include "framework/collector.h"
#include "kernel/sysfs.h"

namespace pagescope {

// The numeric file `file` -> its metric (pagescope_ksm_*). `run` and `advisor_mode` are
// statesets and give nullopt here, as does a name that cannot be a metric name. Unknown files
// follow UnknownFileMetric.
std::optional<FileMetric> KsmFileMetric(std::string_view file);

// ksmd's tuning knobs, exported only with the `tuning` option.
bool IsKsmTuningFile(std::string_view file);

// The states of `run`, in the order of its values 0, 1, 2.
inline constexpr std::string_view kKsmRunModes[] = {"stop", "run", "unmerge"};
// The mode of a `run` value: "stop", "run", "unmerge"; nullopt for anything else. The kernel
// may add KSM_RUN_OFFLINE (4) while memory is being hot-removed; that bit is ignored.
std::optional<std::string_view> KsmRunMode(std::uint64_t value);

CollectorSpec KsmCollectorSpec();

}  // namespace pagescope
