#include "collectors/buddyinfo.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <map>
#include <mutex>

#include "kernel/parse.h"
#include "kernel/proc_pagetypeinfo.h"
#include "kernel/sysfs.h"

namespace pagescope {

std::vector<BuddyZone> ParseBuddyinfo(std::string_view text) {
  std::vector<BuddyZone> out;
  parse::ForEachLine(text, [&](std::size_t n, std::string_view line) {
    auto f = parse::Fields(line);
    if (f.empty()) return;
    // "Node 0, zone   Normal      1      1 ..."
    if (f.size() < 5 || f[0] != "Node" || f[2] != "zone" || f[1].size() < 2 || f[1].back() != ',') {
      throw ParseError(n, "expected \"Node <id>, zone <zone> <free blocks per order>\"");
    }
    BuddyZone z;
    std::uint64_t node = parse::U64(f[1].substr(0, f[1].size() - 1), n);
    if (node > 1 << 20) throw ParseError(n, "node id out of range");
    z.node = static_cast<int>(node);
    z.zone = std::string(f[3]);
    for (std::size_t i = 4; i < f.size(); ++i) z.free_blocks.push_back(parse::U64(f[i], n));
    out.push_back(std::move(z));
  });
  return out;
}

std::optional<unsigned> PageOrder(std::uint64_t page_size, std::uint64_t base_page_size) {
  if (base_page_size == 0 || page_size < base_page_size || page_size % base_page_size != 0) {
    return std::nullopt;
  }
  std::uint64_t ratio = page_size / base_page_size;
  if ((ratio & (ratio - 1)) != 0) return std::nullopt;
  unsigned order = 0;
  while (ratio > 1) {
    ratio >>= 1;
    ++order;
  }
  return order;
}

double ObtainablePages(const std::vector<std::uint64_t>& free_blocks, unsigned page_order) {
  double pages = 0;
  for (std::size_t k = page_order; k < free_blocks.size(); ++k) {
    pages +=
        static_cast<double>(free_blocks[k]) * std::ldexp(1.0, static_cast<int>(k - page_order));
  }
  return pages;
}

namespace {

constexpr const char* kObtainableHelp =
    "Upper bound of the hugepages of this size the free contiguous memory of this node could "
    "give now without compaction: free buddy blocks of at least the page's order, each worth "
    "2^(order - page order) pages (/proc/buddyinfo). Watermarks and concurrent allocations can "
    "make the real figure smaller; sizes above the buddy allocator's largest order (1 GiB on "
    "x86-64) are 0.";
constexpr const char* kObtainableMovableHelp =
    "Like pagescope_hugepages_obtainable_pages, counting only free blocks on the Movable "
    "migrate-type lists (/proc/pagetypeinfo, readable by root); a count the kernel capped at "
    ">100000 is taken as 100000.";

// Hugepage sizes the kernel supports, from the directory names; ascending.
std::vector<std::uint64_t> HugepageSizes(const Context& ctx) {
  std::vector<std::uint64_t> sizes;
  auto names = ctx.ReadDir(ctx.fs().Sys("kernel/mm/hugepages"));
  if (!names) return sizes;
  for (const auto& name : *names) {
    if (auto bytes = parse::HugepageDirBytes(name)) sizes.push_back(*bytes);
  }
  std::sort(sizes.begin(), sizes.end());
  return sizes;
}

// Per node (ascending id), the obtainable pages of every hugepage size from `rows`.
template <typename Row>
void EmitObtainable(const std::vector<Row>& rows, const std::vector<std::uint64_t>& sizes,
                    std::uint64_t base_page_size, const char* metric, const char* help,
                    MetricSink& out) {
  std::map<int, std::vector<const Row*>> by_node;
  for (const auto& r : rows) by_node[r.node].push_back(&r);
  for (const auto& [node, node_rows] : by_node) {
    for (std::uint64_t size : sizes) {
      auto order = PageOrder(size, base_page_size);
      if (!order) continue;  // not a power-of-two multiple of the base page: not buddy-backed
      double pages = 0;
      for (const Row* r : node_rows) pages += ObtainablePages(r->free_blocks, *order);
      out.Gauge(metric, help,
                {{"node", std::to_string(node)}, {"page_size", parse::PageSizeLabel(size)}}, pages);
    }
  }
}

class BuddyinfoCollector : public Collector {
 public:
  enum class Blocks { kHugepage, kAll, kNone };
  BuddyinfoCollector(bool read_pagetypeinfo, std::chrono::seconds pagetypeinfo_interval,
                     Blocks blocks)
      : read_pagetypeinfo_(read_pagetypeinfo),
        pagetypeinfo_interval_(pagetypeinfo_interval),
        blocks_(blocks) {}

  void Collect(const Context& ctx, MetricSink& out) override {
    auto path = ctx.fs().Proc("buddyinfo");
    auto text = ctx.Read(path);
    if (!text) return;
    auto zones = ParseFile(path, [&] { return ParseBuddyinfo(*text); });
    const auto sizes = HugepageSizes(ctx);
    const auto base_page_size = SystemPageSize();
    // By default only the orders a hugepage can come from (from the smallest hugepage size's
    // order up): the lower orders describe fragmentation in detail, per node, zone and order.
    std::size_t min_order = 0;
    if (blocks_ == Blocks::kHugepage) {
      min_order = std::numeric_limits<std::size_t>::max();
      for (std::uint64_t size : sizes) {
        if (auto o = PageOrder(size, base_page_size))
          min_order = std::min<std::size_t>(min_order, *o);
      }
    } else if (blocks_ == Blocks::kNone) {
      min_order = std::numeric_limits<std::size_t>::max();
    }
    for (const auto& z : zones) {
      for (std::size_t order = min_order; order < z.free_blocks.size(); ++order) {
        out.Gauge(
            "pagescope_buddyinfo_free_blocks",
            "Free blocks of 2^order contiguous base pages in this node and zone "
            "(/proc/buddyinfo).",
            {{"node", std::to_string(z.node)}, {"zone", z.zone}, {"order", std::to_string(order)}},
            static_cast<double>(z.free_blocks[order]));
      }
    }
    if (sizes.empty()) return;
    EmitObtainable(zones, sizes, base_page_size, "pagescope_hugepages_obtainable_pages",
                   kObtainableHelp, out);

    if (!read_pagetypeinfo_) return;
    // /proc/pagetypeinfo is costly for the kernel (see the option's help): it is read at most
    // once per interval, and the Movable rows of the last read are reused meanwhile. The lock
    // keeps concurrent scrapes from reading it twice.
    std::lock_guard<std::mutex> lock(pti_mu_);
    const auto now = std::chrono::steady_clock::now();
    if (!pti_movable_ || now - pti_read_at_ >= pagetypeinfo_interval_) {
      auto movable = ReadMovable(ctx, out);
      if (!movable) return;
      pti_movable_ = std::move(*movable);
      pti_read_at_ = now;
    }
    const std::vector<PagetypeFree>& movable = *pti_movable_;
    EmitObtainable(movable, sizes, base_page_size, "pagescope_hugepages_obtainable_movable_pages",
                   kObtainableMovableHelp, out);
  }

 private:
  // The Movable rows of /proc/pagetypeinfo, or nullopt when there are none to show (the file is
  // missing or root-only: no warning, an expected configuration; an error fails the scrape).
  static std::optional<std::vector<PagetypeFree>> ReadMovable(const Context& ctx, MetricSink& out) {
    auto pti_path = ctx.fs().Proc("pagetypeinfo");
    std::optional<std::string> pti;
    try {
      pti = ctx.ReadRootOnly(pti_path);
    } catch (const CollectError& e) {
      out.Fail(e.what());
    }
    if (!pti) return std::nullopt;
    auto rows = ParseOrFail(pti_path, out, [&] { return ParsePagetypeinfo(*pti); });
    if (!rows) return std::nullopt;
    std::vector<PagetypeFree> movable;
    for (auto& r : *rows) {
      if (r.type == "Movable") movable.push_back(std::move(r));
    }
    return movable;
  }

  const bool read_pagetypeinfo_;
  const std::chrono::steady_clock::duration pagetypeinfo_interval_;
  const Blocks blocks_;
  std::mutex pti_mu_;
  std::optional<std::vector<PagetypeFree>> pti_movable_;
  std::chrono::steady_clock::time_point pti_read_at_;
};

}  // namespace

CollectorSpec BuddyinfoCollectorSpec() {
  CollectorSpec spec;
  spec.name = "buddyinfo";
  spec.default_enabled = true;
  spec.help =
      "Free blocks per node, zone and order, and how many hugepages of each size they could "
      "still give";
  spec.sources = "/proc/buddyinfo, /proc/pagetypeinfo (root), /sys/kernel/mm/hugepages/";
  spec.options = {
      {"pagetypeinfo", OptionType::kBool, "true",
       "Also read /proc/pagetypeinfo (root only) for the movable-only figure (at most once "
       "per pagetypeinfo_interval_seconds)."},
      {"pagetypeinfo_interval_seconds", OptionType::kInt, "300",
       "Read /proc/pagetypeinfo at most once per this many seconds and reuse its figure "
       "meanwhile: pagescope_hugepages_obtainable_movable_pages may be up to this much older "
       "than the other series (0: every scrape). The kernel prints the file with the zone lock "
       "held and interrupts off, counting every free list (up to 100000 entries each) and "
       "walking every pageblock of every zone: 10-30 ms of CPU per read on a 24 GiB VM, more "
       "on large hosts (docs/performance.md)."},
      {"free_blocks", OptionType::kString, "hugepage",
       "Which orders get a pagescope_buddyinfo_free_blocks series (one per node, zone and "
       "order): hugepage (from the smallest hugepage size's order up: the blocks hugepages "
       "come from), all (every order: the whole fragmentation picture), none."},
  };
  spec.make = [](const CollectorOptions& o) {
    const std::string b = o.String("free_blocks");
    BuddyinfoCollector::Blocks blocks = BuddyinfoCollector::Blocks::kHugepage;
    if (b == "all") {
      blocks = BuddyinfoCollector::Blocks::kAll;
    } else if (b == "none") {
      blocks = BuddyinfoCollector::Blocks::kNone;
    } else if (b != "hugepage") {
      o.Fail("free_blocks", "expected hugepage, all or none, got \"" + b + "\"");
    }
    const long long interval = o.Int("pagetypeinfo_interval_seconds");
    if (interval < 0) o.Fail("pagetypeinfo_interval_seconds", "must not be negative");
    return std::make_unique<BuddyinfoCollector>(o.Bool("pagetypeinfo"),
                                                std::chrono::seconds(interval), blocks);
  };
  return spec;
}

}  // namespace pagescope
