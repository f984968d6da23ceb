#pragma once
// /proc/vmstat (Documentation/admin-guide/mm/ and mm/vmstat.c: vmstat_text): one "name value"
// line per kernel counter. Fields named nr_* are current amounts (gauges) except a few that
// count events; every other field counts events since boot.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "framework/collector.h"

namespace pagescope {

struct VmstatEntry {
  std::string name;
  std::uint64_t value = 0;
};

// Every line of the file, in order. Throws ParseError on a malformed line.
std::vector<VmstatEntry> ParseVmstat(std::string_view text);

// True when the field is a current amount (exported as gauge pagescope_vmstat_<field>), false
// when it counts events (counter pagescope_vmstat_<field>_total).
bool VmstatFieldIsGauge(std::string_view field);

// Why a `fields` expression selects none of these fields (the kernel's, in order), or nullopt
// when it selects some: "it matches part of N names (such as pgpgin) but no whole name" when
// regex_search finds it inside names, else that it matches none.
std::optional<std::string> VmstatFieldsSelectNothing(const std::string& expression,
                                                     const std::vector<VmstatEntry>& entries);

// The default of --collector.vmstat.fields: page faults, swap, THP, compaction, hugetlb, NUMA,
// page migration, KSM, zswap and OOM kills. The regular expression must match the whole name.
extern const char* const kVmstatDefaultFields;

CollectorSpec VmstatCollectorSpec();

}  // namespace pagescope
