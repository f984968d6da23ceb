#include "kernel/sys_module_zswap.h"

#include <cstdint>
#include <map>
#include <string>

#include "kernel/parse.h"
#include "kernel/sysfs.h"

namespace pagescope {

std::optional<bool> ParseModuleBool(std::string_view text) {
  std::string_view t = parse::Trim(text);
  if (t == "Y") return true;
  if (t == "N") return false;
  return std::nullopt;
}

namespace {

// Help from Documentation/admin-guide/mm/zswap.rst, by parameter name.
const std::map<std::string, std::string, std::less<>>& KnownHelp() {
  static const std::map<std::string, std::string, std::less<>> kHelp = {
      {"enabled", "Whether zswap compresses pages on their way to swap (zswap enabled)."},
      {"max_pool_percent",
       "Largest share of RAM the compressed pool may take, as a ratio (zswap max_pool_percent "
       "/ 100)."},
      {"accept_threshold_percent",
       "Once the pool is full, zswap accepts pages again only below this share of the maximum "
       "pool size, as a ratio (zswap accept_threshold_percent / 100)."},
      {"shrinker_enabled",
       "Whether zswap writes cold compressed pages back to swap under memory pressure (zswap "
       "shrinker_enabled)."},
      {"same_filled_pages_enabled",
       "Whether zswap stores pages filled with one repeated value without compressing them "
       "(zswap same_filled_pages_enabled)."},
      {"non_same_filled_pages_enabled",
       "Whether zswap stores pages other than same-filled ones (zswap "
       "non_same_filled_pages_enabled)."},
      {"exclusive_loads",
       "Whether zswap drops its copy of a page when the page is swapped in (zswap "
       "exclusive_loads)."},
  };
  return kHelp;
}

std::string HelpFor(const std::string& name, const char* fallback) {
  auto it = KnownHelp().find(name);
  return it != KnownHelp().end() ? it->second : std::string(fallback) + " (zswap " + name + ").";
}

}  // namespace

void CollectZswapParameters(const Context& ctx, MetricSink& out) {
  auto dir = ctx.fs().Sys("module/zswap/parameters");
  auto names = ctx.ReadDir(dir);
  if (!names) return;
  std::optional<std::string> compressor;
  std::optional<std::string> zpool;
  for (const auto& name : *names) {
    if (name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_") != std::string::npos ||
        name.ends_with("_total") || name.ends_with("_count")) {
      continue;  // not usable as (part of) a gauge's name
    }
    auto value = ReadLineFile(ctx, dir / name);
    if (!value) continue;
    if (name == "compressor") {
      compressor = *value;
      continue;
    }
    if (name == "zpool") {
      zpool = *value;
      continue;
    }
    auto path = dir / name;
    const bool named_bool = name == "exclusive_loads" || name.ends_with("enabled");
    constexpr std::string_view kPercent = "_percent";
    const bool named_percent = name.ends_with(kPercent);
    if (auto b = ParseModuleBool(*value)) {
      std::string metric = "pagescope_swap_zswap_" + name;
      if (!metric.ends_with("enabled")) metric += "_enabled";
      out.Gauge(metric, HelpFor(name, "zswap module switch, 1 for Y"), {}, *b ? 1 : 0);
      continue;
    }
    if (named_bool) {
      out.Fail(path.string() + ":1: expected Y or N, got \"" + *value + "\"");
      continue;
    }
    if (named_percent) {
      auto number = ParseOrFail(path, out, [&] { return parse::U64(*value, 1); });
      if (!number) continue;
      std::string stem = name.substr(0, name.size() - kPercent.size());
      out.Gauge("pagescope_swap_zswap_" + stem + "_ratio",
                HelpFor(name, "zswap module percentage as a ratio"), {},
                static_cast<double>(*number) / 100.0);
      continue;
    }
    std::uint64_t number = 0;
    try {
      number = parse::U64(*value, 1);
    } catch (const ParseError&) {
      continue;  // a text parameter pagescope does not know
    }
    out.Gauge("pagescope_swap_zswap_" + name, HelpFor(name, "zswap module parameter"), {},
              static_cast<double>(number));
  }
  if (compressor || zpool) {
    out.Info("pagescope_swap_zswap_info",
             "zswap's compression algorithm and, on kernels that still offer a choice, its "
             "allocator for compressed pages (zswap compressor, zpool).",
             {{"compressor", compressor.value_or("")}, {"zpool", zpool.value_or("")}});
  }
}

}  // namespace pagescope
