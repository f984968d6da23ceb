#include "collectors/pressure.h"

#include <string>

#include "kernel/parse.h"

namespace pagescope {

PressureTotals ParsePressure(std::string_view text) {
  PressureTotals t;
  parse::ForEachLine(text, [&](std::size_t n, std::string_view line) {
    auto fields = parse::Fields(line);
    if (fields.empty()) return;
    std::optional<std::uint64_t>* target = nullptr;
    if (fields[0] == "some") {
      target = &t.some_us;
    } else if (fields[0] == "full") {
      target = &t.full_us;
    } else {
      return;
    }
    if (target->has_value()) {
      throw ParseError(n, "second \"" + std::string(fields[0]) + "\" line");
    }
    for (std::size_t i = 1; i < fields.size(); ++i) {
      auto eq = fields[i].find('=');
      if (eq == std::string_view::npos || eq == 0) {
        throw ParseError(n, "expected key=value, got \"" + std::string(fields[i]) + "\"");
      }
      auto key = fields[i].substr(0, eq);
      auto val = fields[i].substr(eq + 1);
      if (key == "total") {
        *target = parse::U64(val, n);
      } else {
        (void)parse::Double(val, n);  // avg10= etc.: checked, not exported (use rate())
      }
    }
    if (!target->has_value()) throw ParseError(n, "no total= on the line");
  });
  return t;
}

namespace {

class PressureCollector : public Collector {
 public:
  void Collect(const Context& ctx, MetricSink& out) override {
    auto path = ctx.fs().Proc("pressure/memory");
    auto text = ctx.Read(path);
    if (!text) return;
    auto t = ParseFile(path, [&] { return ParsePressure(*text); });
    if (t.some_us) {
      out.Counter("pagescope_pressure_memory_some_seconds_total",
                  "Time in which at least one task was stalled waiting for memory "
                  "(/proc/pressure/memory some total).",
                  {}, static_cast<double>(*t.some_us) / 1e6);
    }
    if (t.full_us) {
      out.Counter("pagescope_pressure_memory_full_seconds_total",
                  "Time in which all non-idle tasks were stalled waiting for memory at once "
                  "(/proc/pressure/memory full total).",
                  {}, static_cast<double>(*t.full_us) / 1e6);
    }
  }
};

}  // namespace

CollectorSpec PressureCollectorSpec() {
  return CollectorSpecWithoutOptions<PressureCollector>(
      "pressure", "Memory pressure stall time (PSI some and full) in seconds",
      "/proc/pressure/memory");
}

}  // namespace pagescope
