#include "collectors/swap.h"

#include "kernel/parse.h"
#include "kernel/sys_module_zswap.h"
#include "kernel/sysfs.h"

namespace pagescope {

std::vector<SwapDevice> ParseSwaps(std::string_view text) {
  std::vector<SwapDevice> out;
  parse::ForEachLine(text, [&](std::size_t n, std::string_view line) {
    auto f = parse::Fields(line);
    if (f.empty()) return;
    if (n == 1 && f[0] == "Filename") return;  // header
    if (f.size() != 5) {
      throw ParseError(n, "expected \"<path> <type> <size kB> <used kB> <priority>\", got " +
                              std::to_string(f.size()) + " fields");
    }
    SwapDevice d;
    d.path = parse::UnescapeOctal(f[0]);
    d.type = std::string(f[1]);
    std::uint64_t size_kb = parse::U64(f[2], n);
    std::uint64_t used_kb = parse::U64(f[3], n);
    if (size_kb > (UINT64_MAX >> 10) || used_kb > (UINT64_MAX >> 10)) {
      throw ParseError(n, "size out of range");
    }
    d.size_bytes = size_kb << 10;
    d.used_bytes = used_kb << 10;
    d.priority = parse::I64(f[4], n);
    out.push_back(std::move(d));
  });
  return out;
}

namespace {

class SwapCollector : public Collector {
 public:
  void Collect(const Context& ctx, MetricSink& out) override {
    auto path = ctx.fs().Proc("swaps");
    if (auto text = ctx.Read(path)) {
      if (auto devices = ParseOrFail(path, out, [&] { return ParseSwaps(*text); })) {
        for (const auto& d : *devices) {
          Labels l{{"device", d.path}, {"type", d.type}};
          out.Gauge("pagescope_swap_device_size_bytes", "Size of this swap device (/proc/swaps).",
                    l, static_cast<double>(d.size_bytes));
          out.Gauge("pagescope_swap_device_used_bytes",
                    "Space in use on this swap device (/proc/swaps).", l,
                    static_cast<double>(d.used_bytes));
          out.Gauge("pagescope_swap_device_priority",
                    "Priority of this swap device: higher is used first, equal priorities are "
                    "used round-robin (/proc/swaps).",
                    l, static_cast<double>(d.priority));
        }
      }
    }
    if (auto v = ReadU64File(ctx, ctx.fs().Proc("sys/vm/swappiness"), out)) {
      out.Gauge("pagescope_swap_swappiness",
                "How strongly reclaim prefers swapping anonymous memory to dropping page cache, "
                "0 to 200 (vm.swappiness).",
                {}, static_cast<double>(*v));
    }
    CollectZswapParameters(ctx, out);
  }
};

}  // namespace

CollectorSpec SwapCollectorSpec() {
  return CollectorSpecWithoutOptions<SwapCollector>(
      "swap", "Swap devices (size, used, priority), vm.swappiness and zswap's parameters",
      "/proc/swaps, /proc/sys/vm/swappiness, /sys/module/zswap/parameters/");
}

}  // namespace pagescope
