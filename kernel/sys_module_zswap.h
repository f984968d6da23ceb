#pragma once
// zswap's module parameters: /sys/module/zswap/parameters/* (Documentation/admin-guide/mm/
// zswap.rst), present when zswap is built in or loaded. Boolean parameters read "Y" or "N".
// Every parameter becomes a series: booleans as pagescope_swap_zswap_<name> (with "_enabled"
// appended when the name lacks it), "<x>_percent" as pagescope_swap_zswap_<x>_ratio (0..1),
// other numbers as pagescope_swap_zswap_<name>, and compressor and zpool (older kernels) as
// labels of pagescope_swap_zswap_info. Other text parameters are ignored.

#include <optional>
#include <string_view>

#include "framework/collector.h"

namespace pagescope {

// "Y\n" -> true, "N\n" -> false (the kernel's param_get_bool); nullopt for anything else.
std::optional<bool> ParseModuleBool(std::string_view text);

// Emits the series described above; nothing when the directory is missing.
void CollectZswapParameters(const Context& ctx, MetricSink& out);

}  // namespace pagescope
