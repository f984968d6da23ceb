#pragma once
// perf_event_open(2) in counting mode, behind a small interface so the `tlb` collector can be
// tested with a fake (tests/unit/tlb_test.cpp) and the real system call on software events
// (tests/unit/perf_event_test.cpp). Kernel documentation: perf_event_open(2),
// Documentation/admin-guide/perf-security.rst (perf_event_paranoid, CAP_PERFMON), and
// include/uapi/linux/perf_event.h (the generic PERF_TYPE_HARDWARE and PERF_TYPE_HW_CACHE
// events, read_format).
//
// One Open gives the counters of a list of events on one thread: as one group read with a single
// read(2) (PERF_FORMAT_GROUP, all scheduled on the PMU together), or, when the group does not fit
// the PMU, one counter per event. Every read carries time_enabled and time_running so callers can
// scale for multiplexing. With `inherit`, threads the counted thread creates later are counted
// into the same counters (with `inherit_thread`, only threads: not forked processes).

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "framework/collector.h"

namespace pagescope {

// A generic event description: perf_event_attr's type and config.
struct PerfEventSpec {
  std::string name;  // the metric name part, e.g. "dtlb_load_misses"
  std::uint32_t type = 0;
  std::uint64_t config = 0;
  std::string description;  // "Data TLB misses by loads (PERF_TYPE_HW_CACHE DTLB read miss)"
  bool operator==(const PerfEventSpec&) const = default;
};

// The events pagescope knows by name (hardware, hardware-cache and a few software events);
// nullptr when unknown.
const PerfEventSpec* FindPerfEvent(const std::string& name);
const std::vector<PerfEventSpec>& KnownPerfEvents();
// The event's description, or "Raw PMU event 0x<config>" for one not in the table.
std::string PerfEventDescription(const PerfEventSpec& e);

struct PerfOpenOptions {
  bool group = true;            // one group, one read(2)
  bool inherit = true;          // count threads created later
  bool inherit_thread = true;   // ... but not forked processes (Linux >= 5.13)
  bool exclude_kernel = false;  // count user space only
  // A group whose members are refused on every try (a task starting threads throughout, see
  // SystemPerfBackend) opens as one counter per event instead. Off when probing whether a group
  // fits the PMU at all.
  bool group_fallback = true;
};

// One event's reading: the raw count and how long the counter was enabled and actually running
// on the PMU (they differ when the kernel multiplexes more events than the PMU has counters).
struct PerfCount {
  std::uint64_t value = 0;
  std::uint64_t enabled = 0;
  std::uint64_t running = 0;
};

class PerfBackend {
 public:
  virtual ~PerfBackend() = default;
  // Opens counters for `events` on thread `tid` (0: the calling thread). Returns a handle >= 0,
  // or -errno of the failure (nothing is left open).
  virtual int Open(int tid, const std::vector<PerfEventSpec>& events,
                   const PerfOpenOptions& options) = 0;
  // The counts of every event of the handle, in the order given to Open. false on failure.
  virtual bool Read(int handle, std::vector<PerfCount>* counts) = 0;
  virtual void Close(int handle) = 0;
  // Whether the caller may count despite kernel.perf_event_paranoid: CAP_PERFMON or
  // CAP_SYS_ADMIN in its effective set (capget(2)).
  virtual bool Privileged() = 0;
};

// The real system call. Thread-safe.
std::shared_ptr<PerfBackend> SystemPerfBackend();

// Why an event can or cannot be counted here, as the label value of
// pagescope_tlb_event_status{mode}: available, no_pmu (no hardware PMU, e.g. a VM without PMU
// passthrough), not_supported (the CPU or kernel lacks it), paranoid (kernel.perf_event_paranoid
// without CAP_PERFMON), denied (a seccomp filter or LSM), error.
const std::vector<std::string>& PerfModes();
// What to do about a mode other than available, for the log; empty when nothing helps.
std::string PerfModeHint(const std::string& mode);

// What counting can use here: every event tried on the calling thread.
struct PerfProbe {
  PerfOpenOptions options;  // without inherit before Linux 5.13 (no inherit_thread); group off
                            // when the usable events do not fit the PMU together
  std::vector<std::pair<std::string, std::string>> status;  // event -> mode, in the given order
  std::vector<PerfEventSpec> usable;                        // the available events
  int first_errno = 0;                                      // the first refusal, for the log
  std::string first_mode;                                   // its mode
  std::string paranoid;  // kernel.perf_event_paranoid as read; empty when missing
};
// Reads /proc/sys/kernel/perf_event_paranoid and /sys/bus/event_source/devices/*/type through
// `ctx` to tell the modes apart.
PerfProbe ProbePerfEvents(const Context& ctx, PerfBackend& backend,
                          const std::vector<PerfEventSpec>& events, bool exclude_kernel);

}  // namespace pagescope
