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
    // Faults, swap, pressure, NUMA.
    majorFaultsHostRate: 500,  // major faults per second, whole host
    majorFaultsGroupRate: 100,  // major faults per second, one process group
    swapPagesRate: 10,  // pages swapped in + out per second
    pressureSomeRatio: 0.10,  // share of time some task stalled on memory (PSI "some")
    numaMissRatio: 0.10,  // numa_miss / (numa_hit + numa_miss) per node
    numaMinRate: 100,  // allocations per second below which the ratio is not judged
    // Reclaim and watermarks.
    allocstallRate: 1,  // direct reclaim stalls per second (allocstall_* summed over zones)
    refaultRate: 2000,  // refaulted pages per second (workingset_refault_anon + _file)
    // Cgroups (pagescope_cgroup_memory_*).
    cgroupHighEventsRate: 1,  // memory.high throttling events per second, one cgroup
    // Memory that is really available (MemAvailable + free hugepages) as a share of MemTotal.
    memoryAvailableRatio: 0.05,

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
      PagescopeZoneBelowLowWatermark: '15m',
      PagescopeDirectReclaimStalls: '15m',
      PagescopeRefaultThrashing: '15m',
      PagescopeCgroupMemoryHighThrottling: '15m',
      PagescopeCgroupOomKills: '0m',
      PagescopeExporterDown: '5m',
      PagescopeCollectorFailing: '15m',
    },
    // Rate windows.
    rateWindow: '5m',

    // Dashboards.
    dashboardTags: ['pagescope'],
    dashboardRefresh: '30s',
    dashboardTimeFrom: 'now-6h',
    grafanaTimezone: 'browser',
  },
}
