#pragma once
// Reading one-value files (most of sysfs and /proc/sys) with the error taxonomy applied:
// missing or denied -> nullopt; garbage -> nullopt and an error on the sink (success 0) that
// names the file, while the collector carries on with its other files.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>

#include "exporter/collector.h"

namespace pagescope {

std::optional<std::uint64_t> ReadU64File(const Context& ctx, const std::filesystem::path& path,
                                         MetricSink& out);
std::optional<std::int64_t> ReadI64File(const Context& ctx, const std::filesystem::path& path,
                                        MetricSink& out);
// Runs `parse` (which may throw ParseError) on a file's text. On garbage: nullopt, and an error
// on `out` naming the file and line (success 0), so the collector carries on with other files.
template <typename F>
auto ParseOrFail(const std::filesystem::path& path, MetricSink& out, F&& parse)
    -> std::optional<decltype(parse())> {
  try {
    return ParseFile(path, std::forward<F>(parse));
  } catch (const CollectError& e) {
    out.Fail(e.what());
    return std::nullopt;
  }
}

// The trimmed content of a one-line file.
std::optional<std::string> ReadLineFile(const Context& ctx, const std::filesystem::path& path);

}  // namespace pagescope
