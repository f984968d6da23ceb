#include "collectors/zoneinfo.h"

#include <unistd.h>

#include <algorithm>

#include "kernel/parse.h"
#include "kernel/sysfs.h"

namespace pagescope {

namespace {

std::optional<std::uint64_t>* ZoneField(ZoneinfoZone& z, std::string_view key) {
  if (key == "boost") return &z.boost;
  if (key == "min") return &z.min;
  if (key == "low") return &z.low;
  if (key == "high") return &z.high;
  if (key == "spanned") return &z.spanned;
  if (key == "present") return &z.present;
  if (key == "managed") return &z.managed;
  if (key == "nr_free_pages") return &z.nr_free_pages;
  return nullptr;
}

// "protection: (0, 3019, 5835, 5835, 5835)"
std::vector<std::uint64_t> ParseProtection(std::string_view rest, std::size_t n) {
  rest = parse::Trim(rest);
  if (rest.size() < 2 || rest.front() != '(' || rest.back() != ')') {
    throw ParseError(n, "expected \"protection: (<pages>, ...)\"");
  }
  rest = rest.substr(1, rest.size() - 2);
  std::vector<std::uint64_t> out;
  while (!rest.empty()) {
    auto comma = rest.find(',');
    out.push_back(parse::U64(parse::Trim(rest.substr(0, comma)), n));
    if (comma == std::string_view::npos) break;
    rest = rest.substr(comma + 1);
  }
  if (out.size() > 64) throw ParseError(n, "more than 64 protection entries");
  return out;
}

}  // namespace

std::vector<ZoneinfoZone> ParseZoneinfo(std::string_view text) {
  std::vector<ZoneinfoZone> out;
  parse::ForEachLine(text, [&](std::size_t n, std::string_view line) {
    auto f = parse::Fields(line);
    if (f.empty()) return;
    if (f[0] == "Node") {
      // "Node 0, zone   Normal"
      if (f.size() != 4 || f[2] != "zone" || f[1].size() < 2 || f[1].back() != ',') {
        throw ParseError(n, "expected \"Node <id>, zone <name>\"");
      }
      std::uint64_t node = parse::U64(f[1].substr(0, f[1].size() - 1), n);
      if (node > 1 << 20) throw ParseError(n, "node id out of range");
      ZoneinfoZone z;
      z.node = static_cast<int>(node);
      z.zone = std::string(f[3]);
      out.push_back(std::move(z));
      return;
    }
    if (out.empty()) throw ParseError(n, "line before the first \"Node <id>, zone <name>\"");
    ZoneinfoZone& z = out.back();
    if (f[0] == "pages" && f.size() >= 2 && f[1] == "free") {
      if (f.size() != 3) throw ParseError(n, "expected \"pages free <pages>\"");
      if (z.free) throw ParseError(n, "second \"pages free\" line in one zone");
      z.free = parse::U64(f[2], n);
      return;
    }
    if (f[0] == "protection:") {
      if (!z.protection.empty()) throw ParseError(n, "second protection line in one zone");
      auto colon = line.find(':');
      z.protection = ParseProtection(line.substr(colon + 1), n);
      return;
    }
    // Watermarks and sizes: "min 43". Other lines (per-node statistics, pagesets, "key: value"
    // lines) are not used.
    auto* field = f.size() == 2 ? ZoneField(z, f[0]) : nullptr;
    if (!field) return;
    if (field->has_value()) {
      // The per-node statistics block (first zone of a node) has no such names; a repeat
      // inside one zone means the file is not what it seems.
      throw ParseError(n, "second \"" + std::string(f[0]) + "\" line in one zone");
    }
    *field = parse::U64(f[1], n);
  });
  return out;
}

namespace {

constexpr const char* kWatermarkHelp =
    "Watermark of this zone (/proc/zoneinfo min, low, high): kswapd is woken when free memory "
    "falls below low and reclaims up to high; below min only atomic and reclaiming allocations "
    "proceed, others reclaim directly. Includes the current boost.";

class ZoneinfoCollector : public Collector {
 public:
  explicit ZoneinfoCollector(bool lowmem_reserve) : lowmem_reserve_(lowmem_reserve) {}

  void Collect(const Context& ctx, MetricSink& out) override {
    CollectSettings(ctx, out);
    auto path = ctx.fs().Proc("zoneinfo");
    auto text = ctx.Read(path);
    if (!text) return;
    auto zones = ParseFile(path, [&] { return ParseZoneinfo(*text); });
    const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
    for (std::size_t i = 0; i < zones.size(); ++i) {
      const auto& z = zones[i];
      // Unpopulated zones (no pages) only make noise; a truncated zone without the line is
      // reported with what it has.
      if (z.present && *z.present == 0) continue;
      Labels l{{"node", std::to_string(z.node)}, {"zone", z.zone}};
      auto free = z.free ? z.free : z.nr_free_pages;
      auto gauge = [&](const char* name, const char* help, const std::optional<std::uint64_t>& v,
                       const Labels& labels) {
        if (v) out.Gauge(name, help, labels, static_cast<double>(*v) * page);
      };
      gauge("pagescope_zone_free_bytes",
            "Free memory in this zone (/proc/zoneinfo \"pages free\", the same counter as "
            "nr_free_pages).",
            free, l);
      gauge("pagescope_zone_managed_bytes",
            "Memory of this zone managed by the page allocator (/proc/zoneinfo managed): present "
            "pages minus those reserved at boot.",
            z.managed, l);
      gauge("pagescope_zone_present_bytes",
            "Physical memory present in this zone (/proc/zoneinfo present).", z.present, l);
      const std::pair<const char*, const std::optional<std::uint64_t>*> marks[] = {
          {"min", &z.min}, {"low", &z.low}, {"high", &z.high}};
      for (const auto& [name, v] : marks) {
        Labels wl = l;
        wl.emplace_back("watermark", name);
        gauge("pagescope_zone_watermark_bytes", kWatermarkHelp, *v, wl);
      }
      gauge("pagescope_zone_watermark_boost_bytes",
            "Temporary boost of this zone's watermarks after external fragmentation events, so "
            "kswapd reclaims and compacts ahead of need (/proc/zoneinfo boost; "
            "vm.watermark_boost_factor).",
            z.boost, l);
      if (!z.protection.empty()) {
        auto max = *std::max_element(z.protection.begin(), z.protection.end());
        gauge("pagescope_zone_protection_bytes",
              "Largest lowmem reserve of this zone (/proc/zoneinfo protection): memory it keeps "
              "free against allocations that could have been served from a higher zone "
              "(vm.lowmem_reserve_ratio).",
              max, l);
        if (lowmem_reserve_) EmitLowmemReserve(zones, i, page, out);
      }
    }
  }

 private:
  // protection[k] is the reserve against allocations whose highest allowed zone is the node's
  // zone k: the kernel prints every zone of a node, populated or not, in index order.
  static void EmitLowmemReserve(const std::vector<ZoneinfoZone>& zones, std::size_t i, double page,
                                MetricSink& out) {
    const auto& z = zones[i];
    std::size_t first = i;
    while (first > 0 && zones[first - 1].node == z.node) --first;
    for (std::size_t k = 0; k < z.protection.size(); ++k) {
      if (first + k >= zones.size() || zones[first + k].node != z.node) break;
      out.Gauge("pagescope_zone_lowmem_reserve_bytes",
                "Memory this zone keeps free against allocations whose highest allowed zone is "
                "allocation_zone (/proc/zoneinfo protection array, vm.lowmem_reserve_ratio).",
                {{"node", std::to_string(z.node)},
                 {"zone", z.zone},
                 {"allocation_zone", zones[first + k].zone}},
                static_cast<double>(z.protection[k]) * page);
    }
  }

  static void CollectSettings(const Context& ctx, MetricSink& out) {
    if (auto v = ReadU64File(ctx, ctx.fs().Proc("sys/vm/min_free_kbytes"), out)) {
      out.Gauge("pagescope_memory_min_free_bytes",
                "vm.min_free_kbytes in bytes: the memory kept free, split over the zones as "
                "their min watermarks.",
                {}, static_cast<double>(*v) * 1024);
    }
    if (auto v = ReadU64File(ctx, ctx.fs().Proc("sys/vm/watermark_scale_factor"), out)) {
      out.Gauge("pagescope_memory_watermark_scale_factor_ratio",
                "vm.watermark_scale_factor as a fraction of memory (the kernel's unit is "
                "1/10000): the distance between the min, low and high watermarks.",
                {}, static_cast<double>(*v) / 10000);
    }
    if (auto v = ReadU64File(ctx, ctx.fs().Proc("sys/vm/watermark_boost_factor"), out)) {
      out.Gauge("pagescope_memory_watermark_boost_factor_ratio",
                "vm.watermark_boost_factor as a fraction of the high watermark (the kernel's unit "
                "is 1/10000; 0 disables boosting).",
                {}, static_cast<double>(*v) / 10000);
    }
  }

  const bool lowmem_reserve_;
};

}  // namespace

CollectorSpec ZoneinfoCollectorSpec() {
  CollectorSpec spec;
  spec.name = "zoneinfo";
  spec.default_enabled = true;
  spec.help =
      "Free memory per node and zone against its min/low/high watermarks, managed and present "
      "memory, the watermark boost and lowmem protection, and the settings behind them";
  spec.sources =
      "/proc/zoneinfo, /proc/sys/vm/{min_free_kbytes,watermark_scale_factor,"
      "watermark_boost_factor}";
  spec.options = {
      {"lowmem_reserve", OptionType::kBool, "false",
       "Also export the whole protection array as pagescope_zone_lowmem_reserve_bytes{node, "
       "zone, allocation_zone}: one series per populated zone and zone of its node (a two-node "
       "x86 host: about 5 more per populated zone)."},
  };
  spec.make = [](const CollectorOptions& o) {
    return std::make_unique<ZoneinfoCollector>(o.Bool("lowmem_reserve"));
  };
  return spec;
}

}  // namespace pagescope
