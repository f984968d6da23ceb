#include "collectors/sysfs.h"

#include "collectors/parse.h"

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

}  // namespace pagescope
