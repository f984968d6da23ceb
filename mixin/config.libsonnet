// The mixin's settings. Override any of them from your own jsonnet:
//   (import 'pagescope-mixin/mixin.libsonnet') + { _config+:: { selector: 'job="node"' } }
// or from the command line: mixin/build.sh --config '{ "selector": "job=\"node\"" }'.
{
  _config+:: {
    // Label matchers that select pagescope's series (used in every expression).
    selector: 'job="pagescope"',
    // The job the exporter is scraped as, for the "exporter down" alert on `up`.
    upSelector: self.selector,

    // Runbook base: each alert links to <runbookURL>#<alertname in lower case>.
    runbookURL: 'https://github.com/pagescope/pagescope/blob/main/docs/runbook.md',

    // Hugepage pools.
    hugepagesLowRatio: 0.10,  // available / pool below this: PagescopeHugepagesLow
    hugepagesPredictWindow: '6h',  // trend window for PagescopeHugepagesExhaustionPredicted
    hugepagesPredictHorizonHours: 4,  // alert when the trend reaches 0 within this many hours
    // THP: the `enabled` mode the host should run ("always", "madvise" or "never"); null disables
    // PagescopeThpModeUnexpected.
    thpExpectedMode: 'madvise',
    thpFallbackRatio: 0.5,  // fallback / (alloc + fallback)
    thpFallbackMinRate: 1,  // THP faults per second below which the ratio is not judged
    // KSM: the run mode every host should have ("run", "stop" or "unmerge"); null (the default:
    // hosts differ on purpose) leaves out the rule fleet:pagescope_ksm_run_unexpected_hosts:sum.
    ksmExpectedMode: null,
    // Faults, swap, pressure, NUMA.
    majorFaultsHostRate: 500,  // major faults per second, whole host
    majorFaultsGroupRate: 100,  // major faults per second, one process group
    swapPagesRate: 10,  // pages swapped in + out per second
    pressureSomeRatio: 0.10,  // share of time some task stalled on memory (PSI "some")
    numaMissRatio: 0.10,  // numa_miss / (numa_hit + numa_miss) per node
    numaMinRate: 100,  // allocations per second below which the ratio is not judged
    // NUMA locality (docs/numa-locality.md): local share below this, and memory outside the
    // policy's nodes above this share of the guest's or group's memory.
    numaLocalRatioMin: 0.5,
    numaUnrequestedRatio: 0.01,
    // Reclaim and watermarks.
    allocstallRate: 1,  // direct reclaim stalls per second (allocstall_* summed over zones)
    refaultRate: 2000,  // refaulted pages per second (workingset_refault_anon + _file)
    // Cgroups (pagescope_cgroup_memory_*).
    cgroupHighEventsRate: 1,  // memory.high throttling events per second, one cgroup
    // Memory that is really available (MemAvailable + free hugepages) as a share of MemTotal.
    memoryAvailableRatio: 0.05,

    // Fleet (the pagescope-fleet rule group and the fleet dashboard).
    // The labels hosts are grouped by: every fleet rule sums `by (<fleetLabels>, ...)` and the
    // fleet dashboard has one variable per label. Hosts must carry them on every series, `up`
    // included: set them as target labels (static_configs labels, relabel_configs) or as
    // external_labels of the Prometheus (agent) that scrapes one group. A host without them is
    // summed into the group whose label values are empty.
    fleetLabels: ['cluster'],
    // PagescopeFleetFlavorSlotsLow: fewer guests of a flavor than this fit in a fleet group
    // (sum over its hosts of pagescope_capacity_host_vm_slots) ...
    fleetFlavorSlotsMin: 10,
    // ... or, for the flavors named here, fewer than their own minimum: { 'g1.large': 2 }.
    fleetFlavorSlotsMinByFlavor: {},
    // PagescopeFleetHugepagesExhaustionPredicted: the hugepages of a size available across a
    // group run out within this many hours at the summed trend of its hosts (each host's trend
    // over hugepagesPredictWindow).
    fleetPredictHorizonHours: 24,
    // PagescopeFleetHostsMissing: hosts seen in a group (count of `up`) within this window that
    // no longer report or are down now.
    fleetHostsMissingWindow: '1h',

    // `for` durations per alert. `forOverride`, when set, replaces all of them (tests use it).
    forOverride: null,
    'for': {
      PagescopeHugepagesExhausted: '5m',
      PagescopeHugepagesLow: '15m',
      PagescopeHugepagesExhaustionPredicted: '30m',
      PagescopeNumaNodeHugepagesExhausted: '10m',
      PagescopeHugepagesPoolBelowRequested: '10m',
      PagescopeHugepagesSurplusInUse: '30m',
      PagescopeHugepagesAllocationFailures: '0m',
      PagescopeMemoryAvailableLow: '15m',
      PagescopeThpFallbackRatioHigh: '30m',
      PagescopeThpModeUnexpected: '10m',
      PagescopeKsmProfitNegative: '1h',
      PagescopeSwapActivity: '15m',
      PagescopeMajorFaultsHigh: '15m',
      PagescopeProcessGroupMajorFaultsHigh: '15m',
      PagescopeMemoryPressureHigh: '15m',
      PagescopeNumaMissRatioHigh: '30m',
      PagescopeVmNotBackedByHugepages: '15m',
      PagescopeNumaMemoryRemote: '15m',
      PagescopeNumaDeviceRemote: '15m',
      PagescopeNumaMemoryUnrequested: '30m',
      PagescopeZoneBelowLowWatermark: '15m',
      PagescopeDirectReclaimStalls: '15m',
      PagescopeRefaultThrashing: '15m',
      PagescopeCgroupMemoryHighThrottling: '15m',
      PagescopeCgroupOomKills: '0m',
      PagescopeExporterDown: '5m',
      PagescopeCollectorFailing: '15m',
      PagescopeFleetFlavorSlotsLow: '15m',
      PagescopeFleetHugepagesExhaustionPredicted: '30m',
      PagescopeFleetHostsMissing: '10m',
    },
    // Rate windows.
    rateWindow: '5m',

    // Dashboards.
    dashboardTags: ['pagescope'],
    dashboardRefresh: '30s',
    dashboardTimeFrom: 'now-6h',
    grafanaTimezone: 'browser',
    // Fleet dashboard: rows shown in its "top" and "nearest exhaustion" panels.
    fleetTopK: 10,
  },
}
