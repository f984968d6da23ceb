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

    // Severities. Every alert has a default severity (docs/runbook.md states the policy:
    // critical pages, for something failing now or about to fail for a workload; warning for
    // risks and drift; info for states worth a glance). Override one site-wide here, e.g.
    // { PagescopeCgroupOomKills: 'critical' }, or per host kind in hostKinds below; null leaves
    // the alert out. Alerts with one rule per threshold (PagescopeMemoryAvailableLow: warning and
    // critical; PagescopeHugepagesAllocationFailures: critical where surplus pages are allowed,
    // warning elsewhere) keep their severities; change their thresholds instead.
    severities: {},

    // Host kinds. What is normal differs between hosts: a hypervisor or a Kubernetes node whose
    // hugepage pool is fully handed out to guests or pods is doing its job, a general-purpose
    // host with a full pool cannot start the next hugetlb user. A host's kind is
    //   1. the value of its target label `hostKindLabel` (set it where the host is scraped, as the
    //      fleet labels: static_configs labels, relabel_configs, file_sd labels), else
    //   2. the first kind of hostKindDetect whose expression has a series for the host, else
    //   3. hostKindDefault.
    // The recording rule instance:pagescope_host_kind:info{kind} holds the result (kinds 1 and 2;
    // a host without one is of the default kind); a label value that is not a key of hostKinds
    // counts as the default kind.
    hostKindLabel: 'host_kind',
    hostKindDefault: 'general',
    // Expressions (%(s)s: the selector) whose series name the kind of a host without the label:
    // QEMU processes make a hypervisor, cgroups of Kubernetes pods a Kubernetes node. [] turns
    // detection off (then only the label and the default count).
    hostKindDetect: [
      { kind: 'hypervisor', expr: 'pagescope_vm_info{%(s)s} or pagescope_vm_qemu_processes{%(s)s} > 0' },
      { kind: 'kubernetes', expr: 'pagescope_cgroup_memory_usage_bytes{%(s)s, pod!=""} or pagescope_cgroup_hugetlb_usage_bytes{%(s)s, pod!=""}' },
    ],
    // Per kind: `severities` overrides the alerts' severities on hosts of that kind (null: quiet
    // there); `thpExpectedMode` the THP mode expected there (null: not judged; default
    // thpExpectedMode). Add kinds freely; a kind missing here behaves as hostKindDefault.
    local poolIsTheGoal = {
      // The pool is sized for and handed out to its owners (guests, pods, the one database or
      // DPDK application): a full pool is normal, so are a node filled first and a pool
      // shrinking as owners start. Failures (PagescopeVmHugepagesMissing,
      // PagescopeCgroupHugetlbLimitHits, PagescopeHugepagesAllocationFailures) still page.
      PagescopeHugepagesExhausted: null,
      PagescopeHugepagesLow: null,
      PagescopeNumaNodeHugepagesExhausted: null,
    },
    hostKinds: {
      // Anything else: the next hugetlb user (a VM started by hand, a DPDK test, a database
      // restart) must find pages.
      general: {},
      // QEMU/KVM hosts whose guests' hugepages are placed by a scheduler (Nova, libvirt).
      hypervisor: { severities: poolIsTheGoal { PagescopeHugepagesExhaustionPredicted: 'info' } },
      // Kubernetes nodes whose hugepages pods request (kubelet allocatable).
      kubernetes: { severities: poolIsTheGoal { PagescopeHugepagesExhaustionPredicted: 'info' } },
      // A host whose pool is sized for one known application (DPDK, a database SGA).
      dedicated: { severities: poolIsTheGoal { PagescopeHugepagesExhaustionPredicted: null } },
      // A database server: as dedicated, and THP off as database vendors ask.
      database: {
        severities: poolIsTheGoal { PagescopeHugepagesExhaustionPredicted: null },
        thpExpectedMode: 'never',
      },
    },

    // Hugepage pools.
    // PagescopeHugepagesLow: a pool that cannot take the next workload it is sized for: fewer
    // pages available (free minus reserved, none left for surplus) than hugepagesLowRatio of the
    // pool or than hugepagesLowPages[page size] (default hugepagesLowPagesDefault), whichever is
    // more, but not none (that is PagescopeHugepagesExhausted); and, on hosts with QEMU flavors
    // configured (collectors.qemu.flavors), no slot left for any flavor.
    hugepagesLowRatio: 0.10,
    hugepagesLowPagesDefault: 2,
    hugepagesLowPages: {},  // e.g. { '1GiB': 16 }: keep room for a 16 GiB guest
    // PagescopeHugepagesExhaustionPredicted: the trend (least squares) over
    // hugepagesPredictWindow reaches 0 within hugepagesPredictHorizonHours, and the pool is
    // still being taken: its available pages fell by at least hugepagesPredictMinStepPages
    // within the last hugepagesPredictActiveWindow. Allocations that come in steps (guests
    // starting) stop the alert that long after the last step instead of the whole window.
    hugepagesPredictWindow: '6h',
    hugepagesPredictHorizonHours: 4,
    hugepagesPredictActiveWindow: '1h',
    hugepagesPredictMinStepPages: 1,
    // THP: the `enabled` mode hosts should run ("always", "madvise" or "never"), for hosts whose
    // kind sets none; null (the default: RHEL runs always, database vendors ask for never, the
    // kernel's default is madvise) judges only the kinds that set one (database: never).
    thpExpectedMode: null,
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
    // Host memory outside the hugepage pools: MemAvailable as a share of MemTotal minus Hugetlb
    // (free hugepages cannot serve ordinary allocations). PagescopeMemoryAvailableLow is a
    // warning below the first and critical (the host is about to OOM) below the second.
    memoryAvailableRatio: { warning: 0.10, critical: 0.05 },
    // Exporter health (the standard process_* metrics).
    exporterFdsRatio: 0.8,  // open / maximum file descriptors of the exporter

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

    // `for` durations per alert; an alert with two severities may have one per severity
    // ({ warning: '15m', critical: '5m' }). `forOverride`, when set, replaces all of them
    // (tests use it).
    forOverride: null,
    'for': {
      PagescopeHugepagesExhausted: '15m',
      PagescopeHugepagesLow: '15m',
      PagescopeHugepagesExhaustionPredicted: '30m',
      PagescopeNumaNodeHugepagesExhausted: '15m',
      PagescopeHugepagesPoolBelowRequested: '10m',
      PagescopeHugepagesSurplusInUse: '30m',
      PagescopeHugepagesAllocationFailures: '0m',
      PagescopeMemoryAvailableLow: { warning: '15m', critical: '5m' },
      PagescopeHostOomKills: '0m',
      PagescopeThpFallbackRatioHigh: '30m',
      PagescopeThpModeUnexpected: '10m',
      PagescopeKsmProfitNegative: '1h',
      PagescopeSwapActivity: '15m',
      PagescopeMajorFaultsHigh: '15m',
      PagescopeProcessGroupMajorFaultsHigh: '15m',
      PagescopeMemoryPressureHigh: '15m',
      PagescopeNumaMissRatioHigh: '30m',
      PagescopeVmNotBackedByHugepages: '15m',
      PagescopeVmHugepagesMissing: '10m',
      PagescopeNumaMemoryRemote: '15m',
      PagescopeNumaDeviceRemote: '15m',
      PagescopeNumaMemoryUnrequested: '30m',
      PagescopeZoneBelowLowWatermark: '15m',
      PagescopeDirectReclaimStalls: '15m',
      PagescopeRefaultThrashing: '15m',
      PagescopeCgroupMemoryHighThrottling: '15m',
      PagescopeCgroupOomKills: '0m',
      PagescopeCgroupHugetlbLimitHits: '0m',
      PagescopeExporterDown: '5m',
      PagescopeCollectorFailing: '15m',
      PagescopeCoverageIncomplete: '30m',
      PagescopeExporterRequestsRefused: '15m',
      PagescopeExporterFdsNearLimit: '15m',
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
