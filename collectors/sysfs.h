#pragma once
// Reading one-value files (most of sysfs and /proc/sys) with the error taxonomy applied:
// missing or denied -> nullopt; garbage -> nullopt and an error on the sink (success 0) that
// names the file, while the collector carries on with its other files.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "exporter/collector.h"

namespace pagescope {

std::optional<std::uint64_t> ReadU64File(const Context& ctx, const std::filesystem::path& path,
                                         MetricSink& out);
std::optional<std::int64_t> ReadI64File(const Context& ctx, const std::filesystem::path& path,
                                        MetricSink& out);
// The trimmed content of a one-line file.
std::optional<std::string> ReadLineFile(const Context& ctx, const std::filesystem::path& path);

}  // namespace pagescope
