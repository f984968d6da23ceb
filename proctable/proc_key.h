#pragma once
// The key of a process across scrapes: its pid and its start time (/proc/<pid>/stat field 22,
// clock ticks after boot). A pid the kernel hands to a new process gets a new key, so state
// kept per key (counters, identity, cached files) never passes from one process to another.

#include <compare>
#include <cstddef>
#include <cstdint>
#include <functional>

#include "kernel/proc_pid.h"

namespace pagescope {

struct ProcKey {
  int pid = 0;
  std::uint64_t starttime = 0;
  auto operator<=>(const ProcKey&) const = default;  // by pid, then start time
  bool operator==(const ProcKey&) const = default;
};

struct ProcKeyHash {
  std::size_t operator()(const ProcKey& k) const {
    return std::hash<std::uint64_t>()((static_cast<std::uint64_t>(k.pid) << 40) ^ k.starttime);
  }
};

inline ProcKey KeyOf(const ProcessEntry& p) { return ProcKey{p.pid, p.stat.starttime}; }

}  // namespace pagescope
