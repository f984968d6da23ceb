#pragma once
// Pressure stall information for memory: /proc/pressure/memory
// (Documentation/accounting/psi.rst). Two lines, "some" and "full", each
// "avg10=… avg60=… avg300=… total=<microseconds>". The file is absent (or reads EOPNOTSUPP)
// when PSI is disabled, which gives no series.

#include <cstdint>
#include <optional>
#include <string_view>

#include "framework/collector.h"

namespace pagescope {

struct PressureTotals {
  std::optional<std::uint64_t> some_us;  // total= of the "some" line, microseconds
  std::optional<std::uint64_t> full_us;  // total= of the "full" line (absent for cpu before 5.13)
};

// Throws ParseError on a malformed line; unknown line kinds are skipped.
PressureTotals ParsePressure(std::string_view text);

CollectorSpec PressureCollectorSpec();

}  // namespace pagescope
