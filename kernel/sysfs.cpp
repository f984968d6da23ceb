#include "kernel/sysfs.h"

#include "framework/errors.h"
#include "kernel/parse.h"

namespace pagescope {
namespace {

template <typename T, typename F>
std::optional<T> ReadNumber(const Context& ctx, const std::filesystem::path& path, MetricSink& out,
                            F parse_fn) {
  auto text = ctx.Read(path);
  if (!text) return std::nullopt;
  try {
    return ParseFile(path, [&] { return parse_fn(*text); });
  } catch (const CollectError& e) {
    out.Fail(e.what());
    return std::nullopt;
  }
}

}  // namespace

std::optional<std::uint64_t> ReadU64File(const Context& ctx, const std::filesystem::path& path,
                                         MetricSink& out) {
  return ReadNumber<std::uint64_t>(ctx, path, out, parse::SingleU64);
}

std::optional<std::int64_t> ReadI64File(const Context& ctx, const std::filesystem::path& path,
                                        MetricSink& out) {
  return ReadNumber<std::int64_t>(ctx, path, out, parse::SingleI64);
}

std::optional<std::string> ReadLineFile(const Context& ctx, const std::filesystem::path& path) {
  auto text = ctx.Read(path);
  if (!text) return std::nullopt;
  return std::string(parse::Trim(*text));
}

std::optional<parse::Choice> ReadChoiceFile(const Context& ctx, const std::filesystem::path& path,
                                            MetricSink& out) {
  auto text = ctx.Read(path);
  if (!text) return std::nullopt;
  try {
    return ParseFile(path, [&] { return parse::BracketChoice(*text); });
  } catch (const CollectError& e) {
    out.Fail(e.what());
    return std::nullopt;
  }
}

void EmitFileMetric(MetricSink& out, const FileMetric& m, const Labels& labels, double raw) {
  if (m.counter) {
    out.Counter(m.name, m.help, labels, raw / m.divisor);
  } else {
    out.Gauge(m.name, m.help, labels, raw / m.divisor);
  }
}

std::optional<FileMetric> UnknownFileMetric(std::string_view prefix, std::string_view file,
                                            std::string_view dir_for_help) {
  if (!parse::MetricNamePartOk(file)) return std::nullopt;
  FileMetric m;
  m.is_signed = true;
  std::string stem(file);
  for (std::string_view ms : {"_millisecs", "_msecs"}) {
    if (file.ends_with(ms)) {
      stem = std::string(file.substr(0, file.size() - ms.size())) + "_seconds";
      m.divisor = 1000;
    }
  }
  m.name = std::string(prefix) + stem;
  m.help = "Value of " + std::string(dir_for_help) + "/" + std::string(file) +
           (m.divisor != 1 ? " in seconds" : "") +
           " (a file this pagescope version does not know: exported as a gauge).";
  return m;
}

std::optional<std::int64_t> ReadUnknownIntFile(const Context& ctx,
                                               const std::filesystem::path& path) {
  auto text = ctx.TryRead(path);
  if (!text) return std::nullopt;
  try {
    return parse::SingleI64(*text);
  } catch (const ParseError&) {
    return std::nullopt;
  }
}

}  // namespace pagescope
