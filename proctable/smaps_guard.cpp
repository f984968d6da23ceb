#include "proctable/smaps_guard.h"

#include <algorithm>

#include "kernel/parse.h"

namespace pagescope {

SmapsGuard::Scrape::Scrape(const Context& ctx) {
  ctx.DeclareWalks("smaps_rollup", {"done", "cached", "skipped", "deferred"});
}

std::optional<ProcPidSmapsRollup> SmapsGuard::Get(const Context& ctx, const PidReader& reader,
                                                  Scrape& scrape, const ProcessEntry& p,
                                                  std::string& buf) {
  const ProcKey key = KeyOf(p);
  auto now = std::chrono::steady_clock::now();
  std::optional<ProcPidSmapsRollup> cached;
  {
    std::lock_guard lock(mu_);
    auto it = cache_.find(key);
    if (it != cache_.end()) {
      if (now - it->second.at < limits_.min_interval) {
        ctx.CountWalk("smaps_rollup", "cached");
        return it->second.value;
      }
      cached = it->second.value;
    }
  }
  const std::uint64_t page = SystemPageSize();
  const WalkSize size = WalkSizeOf(p, page, HugetlbEntrySize(ctx));
  if (!limits_.rule.Allows(WalkFile::kSmapsRollup, size) ||
      (limits_.max_resident_bytes != 0 && p.stat.rss_pages * page > limits_.max_resident_bytes)) {
    ctx.CountWalk("smaps_rollup", "skipped");
    return std::nullopt;
  }
  if ((limits_.budget.count() > 0 && now - scrape.start > limits_.budget) || ctx.Expired()) {
    ctx.CountWalk("smaps_rollup", "deferred");
    return cached;
  }
  if (ReadWalk(ctx, reader, p.pid, WalkFile::kSmapsRollup, buf) != ReadStatus::kOk) {
    return std::nullopt;
  }
  ProcPidSmapsRollup v =
      ParseFile(reader.Path(p.pid, "smaps_rollup"), [&] { return ParseProcPidSmapsRollup(buf); });
  std::lock_guard lock(mu_);
  cache_[key] = Cached{v, now};
  return v;
}

void SmapsGuard::Retain(const std::vector<ProcKey>& alive) {
  std::lock_guard lock(mu_);
  std::erase_if(cache_, [&](const auto& kv) {
    return !std::binary_search(alive.begin(), alive.end(), kv.first);
  });
}

std::vector<OptionSpec> SmapsOptionSpecs(const std::string& whose,
                                         const std::string& default_budget_ms) {
  return {
      {"smaps", OptionType::kBool, "false",
       "Read smaps_rollup of " + whose +
           " for AnonHugePages (a page-table walk: only of processes walk_max_ms allows, and "
           "within the limits below)."},
      DeprecatedResidentLimitSpec("smaps_max_resident", whose),
      {"smaps_min_interval_seconds", OptionType::kInt, "60",
       "Read smaps_rollup of each of the " + whose +
           " at most once per interval; reuse the value meanwhile."},
      {"smaps_budget_ms", OptionType::kInt, default_budget_ms,
       "Stop reading smaps_rollup in a scrape once this much time has passed."},
  };
}

SmapsGuard::Limits SmapsLimitsFromOptions(const CollectorOptions& o, const WalkRule& rule) {
  SmapsGuard::Limits limits;
  limits.rule = rule;
  limits.max_resident_bytes = DeprecatedResidentLimit(o, "smaps_max_resident");
  if (o.Int("smaps_min_interval_seconds") < 0) {
    o.Fail("smaps_min_interval_seconds", "must not be negative");
  }
  if (o.Int("smaps_budget_ms") < 0) o.Fail("smaps_budget_ms", "must not be negative");
  limits.min_interval = std::chrono::seconds(o.Int("smaps_min_interval_seconds"));
  limits.budget = std::chrono::milliseconds(o.Int("smaps_budget_ms"));
  return limits;
}

OptionSpec DeprecatedResidentLimitSpec(const std::string& name, const std::string& whose) {
  return {name, OptionType::kString, "",
          "Deprecated (walk_max_ms decides which " + whose +
              " are walked): when set, also never walk one with more resident memory than "
              "this."};
}

std::uint64_t DeprecatedResidentLimit(const CollectorOptions& o, const std::string& name) {
  const std::string text = o.String(name);
  if (text.empty()) return 0;
  auto size = parse::Size(text, parse::SizeSyntax::kUnits);
  if (!size) o.Fail(name, "expected a size such as 8GiB or 512MiB");
  log::Warn(
      "option deprecated: walk_max_ms now decides which processes are walked; the size "
      "limit still applies on top of it",
      {{"option", name}, {"origin", o.Origin(name)}});
  return *size;
}

}  // namespace pagescope
