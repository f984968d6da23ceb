#pragma once
// TLB misses per process group and per QEMU guest, counted with perf_event_open(2) in counting
// mode (kernel/perf_event.h; Documentation/admin-guide/perf-security.rst). Off by default.
//
// What is counted: the generic events instructions (PERF_COUNT_HW_INSTRUCTIONS), dtlb_load_misses,
// dtlb_store_misses and itlb_load_misses (PERF_TYPE_HW_CACHE DTLB/ITLB read/write misses), or the
// list in `events`; model-specific page-walk events can be added as `raw_events` ({name, config}:
// PERF_TYPE_RAW; the kernel has no generic page-walk event).
//
// Whom: the QEMU guests (comm qemu-system-* or qemu-kvm, named as by the `qemu` collector), the
// `top_groups` process groups with the most resident memory (groups as the `processes`
// collector's matchers define them, in this collector's own `groups` option) and the groups named
// in `include_groups`. A group that falls out of the top stays counted while it ranks within
// twice `top_groups`.
//
// How: every thread of a selected process gets one counter group (one read per thread), opened
// with inherit + inherit_thread, so threads the process creates later are counted through the
// thread that created them, and forked processes are not (they are counted as themselves when
// selected). On kernels without inherit_thread (< 5.13), counters are opened without inherit and
// threads that appear are opened at the next scrape. Counters of a process stay open until it
// exits; its last counts are read then, so a group's or VM's counters never go backwards. Counts
// are scaled for multiplexing, per interval: delta(value) * delta(enabled) / delta(running).
// `max_counters` bounds the open file descriptors; processes that do not fit are skipped and
// counted.
//
// Where counting is impossible (no PMU, as in a VM without PMU passthrough; perf_event_paranoid
// without CAP_PERFMON; an event the CPU lacks): no counter series for that event, one log line
// when the set of unavailable events changes, and pagescope_tlb_event_status{event,mode} saying
// why. The collector still succeeds.

#include <memory>
#include <string>
#include <vector>

#include "collectors/processes.h"
#include "framework/collector.h"
#include "kernel/perf_event.h"

namespace pagescope {

struct TlbSettings {
  std::vector<PerfEventSpec> events;
  ProcessMatchers matchers = ProcessMatchers::Default();
  int top_groups = 5;
  std::vector<std::string> include_groups;
  bool vms = true;
  int max_counters = 1024;  // open file descriptors (one per event and thread)
  bool exclude_kernel = false;
};

// Validates the options (errors name the file and line).
TlbSettings TlbSettingsFromOptions(const CollectorOptions& options);

// The collector on any backend (tests pass a fake).
std::unique_ptr<Collector> MakeTlbCollector(TlbSettings settings,
                                            std::shared_ptr<PerfBackend> backend);

CollectorSpec TlbCollectorSpec();

}  // namespace pagescope
