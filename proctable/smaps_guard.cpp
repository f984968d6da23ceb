#include "proctable/smaps_guard.h"

#include <algorithm>

#include "kernel/parse.h"

namespace pagescope {

std::optional<ProcPidSmapsRollup> SmapsGuard::Get(const Context& ctx, const PidReader& reader,
                                                  Scrape& scrape, const ProcessEntry& p,
                                                  std::uint64_t page_size, std::string& buf) {
  const ProcKey key = KeyOf(p);
  auto now = std::chrono::steady_clock::now();
  std::optional<ProcPidSmapsRollup> cached;
  {
    std::lock_guard lock(mu_);
    auto it = cache_.find(key);
    if (it != cache_.end()) {
      if (now - it->second.at < limits_.min_interval) {
        ++cached_;
        return it->second.value;
      }
      cached = it->second.value;
    }
    if (limits_.max_resident_bytes != 0 &&
        p.stat.rss_pages * page_size > limits_.max_resident_bytes) {
      ++skipped_resident_;
      return std::nullopt;
    }
    if (limits_.budget.count() > 0 && now - scrape.start > limits_.budget) {
      ++skipped_budget_;
      return cached;
    }
  }
  auto t0 = std::chrono::steady_clock::now();
  ReadStatus st = reader.Read(p.pid, "smaps_rollup", buf, true);
  std::chrono::duration<double> took = std::chrono::steady_clock::now() - t0;
  std::lock_guard lock(mu_);
  ++reads_;
  read_seconds_ += took.count();
  if (st == ReadStatus::kDenied) {
    ctx.WarnDenied(ctx.fs().Proc("<pid>/smaps_rollup"), "permission denied");
  }
  if (st != ReadStatus::kOk) return std::nullopt;
  ProcPidSmapsRollup v;
  v = ParseFile(reader.Path(p.pid, "smaps_rollup"), [&] { return ParseProcPidSmapsRollup(buf); });
  cache_[key] = Cached{v, now};
  return v;
}

void SmapsGuard::Retain(const std::vector<ProcKey>& alive) {
  std::lock_guard lock(mu_);
  std::erase_if(cache_, [&](const auto& kv) {
    return !std::binary_search(alive.begin(), alive.end(), kv.first);
  });
}

void SmapsGuard::Emit(MetricSink& out, std::string_view prefix) const {
  std::lock_guard lock(mu_);
  std::string p(prefix);
  out.Counter(p + "_smaps_reads_total", "smaps_rollup files read (opt-in THP source).", {},
              static_cast<double>(reads_));
  out.Counter(p + "_smaps_read_seconds_total", "Time spent reading smaps_rollup files.", {},
              read_seconds_);
  out.Counter(p + "_smaps_cached_total",
              "smaps_rollup values reused because the process was read less than the minimum "
              "interval ago.",
              {}, static_cast<double>(cached_));
  const char* help =
      "smaps_rollup reads skipped: resident_limit (process larger than the limit, never read), "
      "time_budget (the scrape's budget was spent; the last value is reused when there is one).";
  out.Counter(p + "_smaps_skipped_total", help, {{"reason", "resident_limit"}},
              static_cast<double>(skipped_resident_));
  out.Counter(p + "_smaps_skipped_total", help, {{"reason", "time_budget"}},
              static_cast<double>(skipped_budget_));
}

std::vector<OptionSpec> SmapsOptionSpecs(const std::string& whose,
                                         const std::string& default_max_resident,
                                         const std::string& default_budget_ms) {
  return {
      {"smaps", OptionType::kBool, "false",
       "Read smaps_rollup of " + whose +
           " for AnonHugePages (stalls large processes: guarded by the limits below)."},
      {"smaps_max_resident", OptionType::kString, default_max_resident,
       "Never read smaps_rollup of " + whose + " with more resident memory than this."},
      {"smaps_min_interval_seconds", OptionType::kInt, "60",
       "Read smaps_rollup of each of the " + whose +
           " at most once per interval; reuse the value meanwhile."},
      {"smaps_budget_ms", OptionType::kInt, default_budget_ms,
       "Stop reading smaps_rollup in a scrape once this much time has passed."},
  };
}

SmapsGuard::Limits SmapsLimitsFromOptions(const CollectorOptions& o) {
  SmapsGuard::Limits limits;
  auto max = parse::Size(o.String("smaps_max_resident"), parse::SizeSyntax::kUnits);
  if (!max) o.Fail("smaps_max_resident", "expected a size such as 8GiB or 512MiB");
  limits.max_resident_bytes = *max;
  if (o.Int("smaps_min_interval_seconds") < 0) {
    o.Fail("smaps_min_interval_seconds", "must not be negative");
  }
  if (o.Int("smaps_budget_ms") < 0) o.Fail("smaps_budget_ms", "must not be negative");
  limits.min_interval = std::chrono::seconds(o.Int("smaps_min_interval_seconds"));
  limits.budget = std::chrono::milliseconds(o.Int("smaps_budget_ms"));
  return limits;
}

}  // namespace pagescope
