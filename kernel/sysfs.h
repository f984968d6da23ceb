#pragma once
// Reading one-value files (most of sysfs and /proc/sys) with the error taxonomy applied:
// missing or denied -> nullopt; garbage -> nullopt and an error on the sink (success 0) that
// names the file, while the collector carries on with its other files.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "framework/collector.h"
#include "kernel/parse.h"

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
// A file of choices with the active one in brackets ("always [madvise] never"); missing or
// denied -> nullopt; garbage -> nullopt and an error on the sink naming the file.
std::optional<parse::Choice> ReadChoiceFile(const Context& ctx, const std::filesystem::path& path,
                                            MetricSink& out);

// How a one-value file of a settings/statistics directory (/sys/kernel/mm/ksm,
// transparent_hugepage/khugepaged, ...) becomes a sample.
struct FileMetric {
  std::string name;  // full metric name
  std::string help;
  bool counter = false;    // else a gauge
  double divisor = 1;      // value in base units = raw / divisor (1000 for *_millisecs)
  bool is_signed = false;  // the file may hold a negative number
};

// Emits `raw` / m.divisor as m's type.
void EmitFileMetric(MetricSink& out, const FileMetric& m, const Labels& labels, double raw);

// The rule for a file a collector does not know (a newer kernel's addition): a gauge named
// `prefix` + file, with "*_millisecs" turned into "*_seconds". nullopt when the file name is
// not a safe metric name part ([a-z0-9_], not ending in a suffix promtool reserves for other
// types such as _total or _count).
std::optional<FileMetric> UnknownFileMetric(std::string_view prefix, std::string_view file,
                                            std::string_view dir_for_help);

// The value of such an unknown file when it holds exactly one integer; nullopt, without any
// log line or error, for anything else (a directory, a text setting, an unreadable file).
std::optional<std::int64_t> ReadUnknownIntFile(const Context& ctx,
                                               const std::filesystem::path& path);

}  // namespace pagescope
