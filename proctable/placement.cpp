#include "proctable/placement.h"

#include <cmath>

#include "kernel/parse.h"

namespace pagescope {
namespace {

// bytes * num / den, rounded to whole pages of `page`.
std::uint64_t Scaled(double bytes, double num, double den, std::uint64_t page) {
  if (den <= 0) return 0;
  const double pages = std::round(bytes * num / den / static_cast<double>(page));
  return pages <= 0 ? 0 : static_cast<std::uint64_t>(pages) * page;
}

}  // namespace

PlacementEstimate EstimatePlacement(const PageSample& sample, const ProcessEntry& p,
                                    std::uint64_t base_page_size) {
  PlacementEstimate e;
  // The sampled classes' resident bytes per node, unscaled.
  std::map<std::pair<int, std::uint64_t>, double> huge;
  std::map<int, double> base;
  double huge_sum = 0, base_sum = 0;
  for (const auto& c : sample.classes) {
    e.asked += c.asked;
    if (c.asked == 0) continue;
    for (const auto& [node, present] : c.present_by_node) {
      const double bytes = static_cast<double>(c.mapped_bytes) * static_cast<double>(present) /
                           static_cast<double>(c.asked);
      if (c.page_size > base_page_size) {
        huge[{node, c.page_size}] += bytes;
        huge_sum += bytes;
      } else {
        base[node] += bytes;
        base_sum += bytes;
      }
    }
  }
  // Scaled to what the kernel counts without a walk; unscaled when it does not say.
  const double huge_total =
      p.status.hugetlb_pages ? static_cast<double>(*p.status.hugetlb_pages) : huge_sum;
  for (const auto& [key, bytes] : huge) {
    if (auto b = Scaled(bytes, huge_total, huge_sum, key.second); b > 0) {
      e.hugetlb[key] = b;
      e.memory[key.first] += b;
    }
  }
  const double rss = static_cast<double>(p.stat.rss_pages * base_page_size);
  for (const auto& [node, bytes] : base) {
    if (auto b = Scaled(bytes, rss, base_sum, base_page_size); b > 0) e.memory[node] += b;
  }
  return e;
}

std::optional<PlacementEstimate> SampleCache::Estimate(const Context& ctx, const ProcessEntry& p) {
  const auto now = std::chrono::steady_clock::now();
  const ProcKey key = KeyOf(p);
  {
    std::lock_guard lock(mu_);
    // Processes not sampled for two intervals are gone or walked now: forget them.
    std::erase_if(kept_, [&](const auto& kv) { return now - kv.second.used > 2 * interval_; });
    auto it = kept_.find(key);
    if (it != kept_.end() && now - it->second.taken < interval_) {
      it->second.used = now;
      ctx.CountWalk("numa_maps", "cached");
      return EstimatePlacement(it->second.sample, p, SystemPageSize());
    }
  }
  auto sample = SamplePages(ctx, p.pid, PageSampleOptions{});
  if (!sample) return std::nullopt;
  ctx.CountWalk("numa_maps", "sampled", sample->seconds, sample->max_call_seconds);
  auto estimate = EstimatePlacement(*sample, p, SystemPageSize());
  std::lock_guard lock(mu_);
  kept_[key] = Kept{std::move(*sample), now, now};
  return estimate;
}

}  // namespace pagescope
