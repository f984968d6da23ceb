// Alerts. Each has a severity, a summary, a description quoting the values, and a runbook link
// to docs/runbook.md#<alertname in lower case>.
{
  local c = $._config,
  local s = c.selector,
  local w = c.rateWindow,
  local f(x) = x % (c { s: s, w: w }),

  local alert(name, expr, severity, summary, description) = {
    alert: name,
    expr: f(expr),
    'for': if c.forOverride != null then c.forOverride else c['for'][name],
    labels: { severity: severity },
    annotations: {
      summary: summary,
      description: description,
      runbook_url: c.runbookURL + '#' + std.asciiLower(name),
    },
  },

  // "{{ with query ... }}" snippet printing one value of a PromQL query built from the alert's
  // labels (printf %q quotes them for PromQL).
  local quote(queryFormat, args, format='') =
    '{{ with printf "%s" %s | query }}{{ . | first | value%s }}{{ end }}'
    % [queryFormat, args, if format == '' then '' else ' | ' + format],

  // Fleet groups: their labels as text for descriptions ("{{ $labels.cluster }}"
  // joined with "/"), and as a matcher printf format plus its arguments for quote().
  local fleetName = std.join('/', ['{{ $labels.%s }}' % l for l in c.fleetLabels]),
  local fleetMatch = std.join(',', ['%s=%%q' % l for l in c.fleetLabels]),
  local fleetArgs = std.join(' ', ['$labels.' + l for l in c.fleetLabels]),
  local slots = 'fleet_flavor:pagescope_capacity_host_vm_slots:sum',
  local byFlavor = c.fleetFlavorSlotsMinByFlavor,

  local unlessOvercommit = |||
    unless
    (pagescope_hugepages_overcommit_limit_pages{%(s)s} - pagescope_hugepages_surplus_pages{%(s)s} > 0)
  |||,

  prometheusAlerts+:: {
    groups+: [
      {
        name: 'pagescope-hugepages',
        rules: [
          alert(
            'PagescopeHugepagesExhausted',
            |||
              (pagescope_hugepages_pool_pages{%(s)s} > 0)
              and
              (instance_page_size:pagescope_hugepages_available_pages{%(s)s} <= 0)
            ||| + unlessOvercommit,
            'critical',
            'A hugepage pool has no pages left.',
            'All {{ $value }} pages of the {{ $labels.page_size }} hugepage pool on {{ $labels.instance }} are in use or reserved (free minus reserved is 0) and overcommit allows no surplus: the next hugetlb mapping of this size (a VM, DPDK, a database SGA) will fail.',
          ),
          alert(
            'PagescopeHugepagesLow',
            |||
              (
                instance_page_size:pagescope_hugepages_available_pages{%(s)s}
                / (pagescope_hugepages_pool_pages{%(s)s} > 0)
                < %(hugepagesLowRatio)g
              )
              and
              (instance_page_size:pagescope_hugepages_available_pages{%(s)s} > 0)
            ||| + unlessOvercommit,
            'warning',
            'A hugepage pool is almost used up.',
            'Only {{ $value | humanizePercentage }} of the {{ $labels.page_size }} hugepage pool on {{ $labels.instance }} is available (' + quote('instance_page_size:pagescope_hugepages_available_pages{instance=%q,page_size=%q}', '$labels.instance $labels.page_size') + ' of ' + quote('pagescope_hugepages_pool_pages{instance=%q,page_size=%q}', '$labels.instance $labels.page_size') + ' pages).',
          ),
          alert(
            'PagescopeHugepagesExhaustionPredicted',
            |||
              (instance_page_size:pagescope_hugepages_available_pages{%(s)s} > 0)
              and
              (predict_linear(instance_page_size:pagescope_hugepages_available_pages{%(s)s}[%(hugepagesPredictWindow)s], %(hugepagesPredictHorizonHours)g * 3600) < 0)
            ||| + unlessOvercommit,
            'warning',
            'A hugepage pool will run out within hours at the current trend.',
            'The {{ $labels.page_size }} hugepage pool on {{ $labels.instance }} has {{ $value }} pages available, and at the trend of the last %(hugepagesPredictWindow)s it runs out within %(hugepagesPredictHorizonHours)g hours.' % c,
          ),
          alert(
            'PagescopeNumaNodeHugepagesExhausted',
            |||
              (pagescope_numa_hugepages_pool_pages{%(s)s} > 0)
              and
              (pagescope_numa_hugepages_free_pages{%(s)s} == 0)
              and ignoring (node)
              (max without (node) (pagescope_numa_hugepages_free_pages{%(s)s}) > 0)
            |||,
            'warning',
            'One NUMA node is out of hugepages of a size while another node still has some.',
            'NUMA node {{ $labels.node }} on {{ $labels.instance }} has none of its {{ $value }} {{ $labels.page_size }} hugepages free, while another node still has ' + quote('max without (node) (pagescope_numa_hugepages_free_pages{instance=%q,page_size=%q})', '$labels.instance $labels.page_size') + ' free: guests bound to this node (hw:numa_nodes, memory-backend host-nodes) will not start.',
          ),
          alert(
            'PagescopeHugepagesPoolBelowRequested',
            |||
              max without (source) (pagescope_hugepages_requested_pages{%(s)s})
              > (pagescope_hugepages_pool_pages{%(s)s} - pagescope_hugepages_surplus_pages{%(s)s})
              or
              max without (source) (pagescope_numa_hugepages_requested_pages{%(s)s})
              > (pagescope_numa_hugepages_pool_pages{%(s)s} - pagescope_numa_hugepages_surplus_pages{%(s)s})
            |||,
            'warning',
            'A hugepage pool is smaller than was requested at boot or by sysctl.',
            '{{ $labels.instance }} was asked for {{ $value }} {{ $labels.page_size }} hugepages{{ with $labels.node }} on NUMA node {{ . }}{{ end }} (kernel command line or sysctl.conf), but its persistent pool holds fewer: the kernel could not allocate them (memory fragmented or short when the pool was set) or the pool was shrunk since.',
          ),
          alert(
            'PagescopeHugepagesSurplusInUse',
            'pagescope_hugepages_surplus_pages{%(s)s} > 0',
            'info',
            'Surplus (overcommitted) hugepages are in use.',
            '{{ $value }} surplus {{ $labels.page_size }} hugepages are in use on {{ $labels.instance }}: the persistent pool was too small and the kernel allocated extra pages at run time, which can fail under fragmentation.',
          ),
          alert(
            'PagescopeHugepagesAllocationFailures',
            |||
              increase(pagescope_vmstat_htlb_buddy_alloc_fail_total{%(s)s}[%(w)s]) > 0
              or
              increase(pagescope_cgroup_hugetlb_max_events_total{%(s)s}[%(w)s]) > 0
            |||,
            'warning',
            'Hugepage allocations are failing.',
            '{{ $value | humanize }} hugepage allocations failed on {{ $labels.instance }} in the last %(w)s{{ with $labels.cgroup }}: cgroup {{ . }} hit its hugetlb.{{ $labels.page_size }} limit{{ else }}: the buddy allocator could not supply a fresh hugepage (fragmentation){{ end }}.' % { w: w },
          ),
        ],
      },
      {
        name: 'pagescope-memory',
        rules: [
          alert(
            'PagescopeMemoryAvailableLow',
            'instance:pagescope_memory_available_hugepage_aware:ratio{%(s)s} < %(memoryAvailableRatio)g',
            'warning',
            'Little memory is available, even counting free hugepages.',
            'Only {{ $value | humanizePercentage }} of the memory of {{ $labels.instance }} is available (MemAvailable plus free hugepages of every size: ' + quote('instance:pagescope_memory_available_hugepage_aware_bytes{instance=%q}', '$labels.instance', 'humanize1024') + 'B).',
          ),
          alert(
            'PagescopeThpFallbackRatioHigh',
            |||
              (
                rate(pagescope_vmstat_thp_fault_fallback_total{%(s)s}[%(w)s])
                / (rate(pagescope_vmstat_thp_fault_alloc_total{%(s)s}[%(w)s]) + rate(pagescope_vmstat_thp_fault_fallback_total{%(s)s}[%(w)s]))
                > %(thpFallbackRatio)g
              )
              and
              (rate(pagescope_vmstat_thp_fault_alloc_total{%(s)s}[%(w)s]) + rate(pagescope_vmstat_thp_fault_fallback_total{%(s)s}[%(w)s]) > %(thpFallbackMinRate)g)
            |||,
            'warning',
            'Most transparent hugepage faults fall back to small pages.',
            '{{ $value | humanizePercentage }} of the transparent hugepage faults on {{ $labels.instance }} fell back to 4 KiB pages over the last %(w)s: memory is fragmented and THP-backed workloads lose their TLB benefit.' % { w: w },
          ),
        ] + (if c.thpExpectedMode == null then [] else [
               alert(
                 'PagescopeThpModeUnexpected',
                 'pagescope_thp_enabled{%(s)s, mode!="%(thpExpectedMode)s"} == 1',
                 'warning',
                 'Transparent hugepages run in an unexpected mode.',
                 'Transparent hugepages on {{ $labels.instance }} are "{{ $labels.mode }}", expected "%(thpExpectedMode)s" (/sys/kernel/mm/transparent_hugepage/enabled).' % c,
               ),
             ]) + [
          alert(
            'PagescopeKsmProfitNegative',
            '-pagescope_ksm_general_profit_bytes{%(s)s} > 0',
            'warning',
            'KSM costs more memory than it saves.',
            'KSM on {{ $labels.instance }} costs {{ $value | humanize1024 }}B more than it saves (negative general_profit): its metadata (rmap items) outweighs the merged pages.',
          ),
          alert(
            'PagescopeSwapActivity',
            '(rate(pagescope_vmstat_pswpin_total{%(s)s}[%(w)s]) + rate(pagescope_vmstat_pswpout_total{%(s)s}[%(w)s])) > %(swapPagesRate)g',
            'warning',
            'The host is swapping.',
            '{{ $labels.instance }} swaps {{ $value | humanize }} pages per second (in: ' + quote('rate(pagescope_vmstat_pswpin_total{instance=%q}[' + w + '])', '$labels.instance', 'humanize') + '/s, out: ' + quote('rate(pagescope_vmstat_pswpout_total{instance=%q}[' + w + '])', '$labels.instance', 'humanize') + '/s).',
          ),
          alert(
            'PagescopeMajorFaultsHigh',
            'rate(pagescope_vmstat_pgmajfault_total{%(s)s}[%(w)s]) > %(majorFaultsHostRate)g',
            'warning',
            'Many major page faults on the host.',
            '{{ $labels.instance }} takes {{ $value | humanize }} major page faults per second (pages read from disk or swap).',
          ),
          alert(
            'PagescopeProcessGroupMajorFaultsHigh',
            'rate(pagescope_process_major_faults_total{%(s)s}[%(w)s]) > %(majorFaultsGroupRate)g',
            'warning',
            'A process group takes many major page faults.',
            'Process group {{ $labels.group }} on {{ $labels.instance }} takes {{ $value | humanize }} major page faults per second.',
          ),
          alert(
            'PagescopeMemoryPressureHigh',
            'rate(pagescope_pressure_memory_some_seconds_total{%(s)s}[%(w)s]) > %(pressureSomeRatio)g',
            'warning',
            'Tasks stall on memory.',
            'Some task on {{ $labels.instance }} was stalled waiting for memory {{ $value | humanizePercentage }} of the time over the last %(w)s (PSI memory "some"; "full": ' % { w: w } + quote('rate(pagescope_pressure_memory_full_seconds_total{instance=%q}[' + w + '])', '$labels.instance', 'humanizePercentage') + ').',
          ),
          alert(
            'PagescopeNumaMissRatioHigh',
            |||
              (
                rate(pagescope_numa_miss_total{%(s)s}[%(w)s])
                / (rate(pagescope_numa_hit_total{%(s)s}[%(w)s]) + rate(pagescope_numa_miss_total{%(s)s}[%(w)s]))
                > %(numaMissRatio)g
              )
              and
              (rate(pagescope_numa_hit_total{%(s)s}[%(w)s]) + rate(pagescope_numa_miss_total{%(s)s}[%(w)s]) > %(numaMinRate)g)
            |||,
            'warning',
            'Many allocations land on a NUMA node other than the intended one.',
            '{{ $value | humanizePercentage }} of the page allocations on NUMA node {{ $labels.node }} of {{ $labels.instance }} were misses (wanted another node, which was full) over the last %(w)s.' % { w: w },
          ),
        ],
      },
      {
        name: 'pagescope-vms',
        rules: [
          // The share of a guest's RAM on hugepages. A preallocated guest (prealloc="true" on
          // every RAM backend) must hold all of it: hugetlb bytes faulted in over configured RAM.
          // A lazy or mixed guest faults its pages in when the guest touches them, so only its
          // configuration can be judged: RAM on hugetlb backends over configured RAM.
          alert(
            'PagescopeVmNotBackedByHugepages',
            |||
              (
                (
                  (
                    sum without (node, page_size) (pagescope_vm_hugetlb_bytes{%(s)s})
                    or pagescope_vm_hugetlb_configured_bytes{%(s)s} * 0
                  )
                  / pagescope_vm_memory_bytes{%(s)s}
                  and ignoring (backend, mem_path, pid, prealloc, share, uuid)
                  pagescope_vm_info{%(s)s, prealloc="true"}
                )
                or
                pagescope_vm_hugetlb_configured_bytes{%(s)s} / pagescope_vm_memory_bytes{%(s)s}
              ) < 1
              and
              pagescope_vm_hugetlb_configured_bytes{%(s)s} > 0
            |||,
            'warning',
            'A VM configured for hugepages is not fully backed by them.',
            'Only {{ $value | humanizePercentage }} of the RAM of VM {{ $labels.vm }} on {{ $labels.instance }} is backed by hugepages: of its ' + quote('pagescope_vm_memory_bytes{instance=%q,vm=%q}', '$labels.instance $labels.vm', 'humanize1024') + 'B, ' + quote('pagescope_vm_hugetlb_configured_bytes{instance=%q,vm=%q}', '$labels.instance $labels.vm', 'humanize1024') + 'B are configured on hugetlb backends and ' + quote('sum(pagescope_vm_hugetlb_bytes{instance=%q,vm=%q}) or vector(0)', '$labels.instance $labels.vm', 'humanize1024') + 'B are held in hugepages (prealloc: {{ with printf "pagescope_vm_info{instance=%q,vm=%q}" $labels.instance $labels.vm | query }}{{ . | first | label "prealloc" }}{{ end }}). RAM outside hugetlb backends uses 4 KiB pages, can be swapped and loses the TLB benefit; a preallocated guest holding less than it configured lost hugepages or could not get them.',
          ),
        ],
      },
      {
        // NUMA locality of guests and opted-in process groups (docs/numa-locality.md). Each
        // alert covers guests (label vm, qemu collector) and process groups (label group,
        // processes collector's numa_locality option).
        name: 'pagescope-numa-locality',
        local who = '{{ with $labels.vm }}guest {{ . }}{{ else }}process group {{ $labels.group }}{{ end }}',
        rules: [
          alert(
            'PagescopeNumaMemoryRemote',
            |||
              pagescope_vm_memory_local_ratio{%(s)s} < %(numaLocalRatioMin)g
              or
              pagescope_process_memory_local_ratio{%(s)s} < %(numaLocalRatioMin)g
            |||,
            'warning',
            'Most of the memory of a guest or process group is on NUMA nodes its CPUs may not run on.',
            'Only {{ $value | humanizePercentage }} of the memory of ' + who + ' on {{ $labels.instance }} is on the NUMA nodes its (vCPU) threads may run on; every access to the rest crosses the interconnect.',
          ),
          alert(
            'PagescopeNumaDeviceRemote',
            |||
              pagescope_vm_devices_remote{%(s)s} > 0
              or
              pagescope_process_devices_remote{%(s)s} > 0
            |||,
            'warning',
            'A passthrough PCI device sits on another NUMA node than the memory it serves.',
            '{{ $value }} PCI device(s) of ' + who + ' on {{ $labels.instance }} sit on a NUMA node that holds less than 5% of its memory: DMA and interrupts cross the interconnect.',
          ),
          alert(
            'PagescopeNumaMemoryUnrequested',
            |||
              (
                pagescope_vm_memory_unrequested_bytes{%(s)s}
                / sum without (node) (pagescope_vm_memory_node_bytes{%(s)s})
                > %(numaUnrequestedRatio)g
              )
              or
              (
                pagescope_process_memory_unrequested_bytes{%(s)s}
                / sum without (node) (pagescope_process_memory_node_bytes{%(s)s})
                > %(numaUnrequestedRatio)g
              )
            |||,
            'warning',
            'Memory of a guest or process group sits on a NUMA node its policy did not ask for.',
            '{{ $value | humanizePercentage }} of the memory of ' + who + ' on {{ $labels.instance }} is in mappings with a NUMA policy (memory-backend host-nodes, numactl) but on a node that policy does not name: a preferred policy spilled, or pages were placed before the policy was set.',
          ),
        ],
      },
      {
        // Capacity planning across hosts, on the pagescope-fleet recording rules.
        name: 'pagescope-fleet-alerts',
        rules: [
          alert(
            'PagescopeFleetFlavorSlotsLow',
            local parts = [
              '%s%s < %g' % [slots, if std.length(byFlavor) == 0 then '' else '{' + std.join(', ', ['flavor!="%s"' % k for k in std.objectFields(byFlavor)]) + '}', c.fleetFlavorSlotsMin],
            ] + ['%s{flavor="%s"} < %g' % [slots, k, byFlavor[k]] for k in std.objectFields(byFlavor)];
            if std.length(parts) == 1 then parts[0] else std.join('\nor\n', parts) + '\n',
            'warning',
            'Few guests of a flavor still fit in a fleet group.',
            'Only {{ $value }} more guests of flavor {{ $labels.flavor }} fit in ' + fleetName + ' (summed over its hosts, placed as Nova does); ' + quote('fleet_flavor:pagescope_capacity_hosts_with_slot:sum{' + fleetMatch + ',flavor=%q}', fleetArgs + ' $labels.flavor') + ' hosts can still take one.',
          ),
          alert(
            'PagescopeFleetHugepagesExhaustionPredicted',
            'fleet_page_size:pagescope_hugepages_exhaustion_seconds < %(fleetPredictHorizonHours)g * 3600',
            'warning',
            'The hugepages of a size across a fleet group run out within the planning horizon.',
            'At the summed trend of its hosts over the last %(hugepagesPredictWindow)s, the {{ $labels.page_size }} hugepages available in ' % c + fleetName + ' (' + quote('fleet_page_size:pagescope_hugepages_available_pages:sum{' + fleetMatch + ',page_size=%q}', fleetArgs + ' $labels.page_size') + ' pages now) run out in {{ $value | humanizeDuration }}, within the %(fleetPredictHorizonHours)g hours planned for.' % c,
          ),
          alert(
            'PagescopeFleetHostsMissing',
            |||
              max_over_time(fleet:pagescope_hosts:count[%(fleetHostsMissingWindow)s])
              - (fleet:pagescope_hosts_up:sum or max_over_time(fleet:pagescope_hosts:count[%(fleetHostsMissingWindow)s]) * 0)
              > 0
            |||,
            'warning',
            'Hosts of a fleet group stopped reporting.',
            '{{ $value }} of the hosts that reported pagescope in ' + fleetName + ' within the last %(fleetHostsMissingWindow)s are down or gone now (' % c + quote('fleet:pagescope_hosts_up:sum{' + fleetMatch + '}', fleetArgs) + ' up): their capacity is missing from the fleet sums, and a stopped scraper or agent hides all of its hosts at once.',
          ),
        ],
      },
      {
        name: 'pagescope-reclaim',
        rules: [
          alert(
            'PagescopeZoneBelowLowWatermark',
            |||
              pagescope_zone_free_bytes{%(s)s}
              < ignoring (watermark)
              pagescope_zone_watermark_bytes{%(s)s, watermark="low"}
            |||,
            'warning',
            'A memory zone of a NUMA node stays below its low watermark.',
            'Zone {{ $labels.zone }} of NUMA node {{ $labels.node }} on {{ $labels.instance }} has had only {{ $value | humanize1024 }}B free, below its low watermark of ' + quote('pagescope_zone_watermark_bytes{instance=%q,node=%q,zone=%q,watermark=\\"low\\"}', '$labels.instance $labels.node $labels.zone', 'humanize1024') + 'B (min ' + quote('pagescope_zone_watermark_bytes{instance=%q,node=%q,zone=%q,watermark=\\"min\\"}', '$labels.instance $labels.node $labels.zone', 'humanize1024') + 'B), for a sustained time: kswapd cannot keep up with allocations on this node, which then reclaim directly and stall.',
          ),
          alert(
            'PagescopeDirectReclaimStalls',
            |||
              sum without (zone) (
                label_replace(rate(pagescope_vmstat_allocstall_normal_total{%(s)s}[%(w)s]), "zone", "Normal", "", "")
                or label_replace(rate(pagescope_vmstat_allocstall_movable_total{%(s)s}[%(w)s]), "zone", "Movable", "", "")
                or label_replace(rate(pagescope_vmstat_allocstall_dma32_total{%(s)s}[%(w)s]), "zone", "DMA32", "", "")
                or label_replace(rate(pagescope_vmstat_allocstall_dma_total{%(s)s}[%(w)s]), "zone", "DMA", "", "")
                or label_replace(rate(pagescope_vmstat_allocstall_total{%(s)s}[%(w)s]), "zone", "all", "", "")
              ) > %(allocstallRate)g
            |||,
            'warning',
            'Allocations stall in direct reclaim.',
            'Allocating tasks on {{ $labels.instance }} entered direct reclaim {{ $value | humanize }} times per second over the last %(w)s (allocstall): free memory is below the min watermark of a zone and they stall until they free pages themselves. See which node with pagescope_zone_free_bytes.' % { w: w },
          ),
          alert(
            'PagescopeRefaultThrashing',
            |||
              sum without (kind) (
                label_replace(rate(pagescope_vmstat_workingset_refault_file_total{%(s)s}[%(w)s]), "kind", "file", "", "")
                or label_replace(rate(pagescope_vmstat_workingset_refault_anon_total{%(s)s}[%(w)s]), "kind", "anon", "", "")
                or label_replace(rate(pagescope_vmstat_workingset_refault_total{%(s)s}[%(w)s]), "kind", "all", "", "")
              ) > %(refaultRate)g
            |||,
            'warning',
            'Recently evicted pages are read back at a high rate (thrashing).',
            '{{ $value | humanize }} pages per second evicted from memory on {{ $labels.instance }} were needed again soon after (workingset refaults) over the last %(w)s: the working set does not fit and reclaim throws out pages that are still in use.' % { w: w },
          ),
        ],
      },
      {
        name: 'pagescope-cgroups',
        rules: [
          // One alert per guest, pod or service: the cgroups that name one (not the slices above
          // them, whose hierarchical counts repeat their children's).
          alert(
            'PagescopeCgroupMemoryHighThrottling',
            |||
              max without (cgroup, container) (
                rate(pagescope_cgroup_memory_events_total{%(s)s, event="high", pod!=""}[%(w)s])
                or rate(pagescope_cgroup_memory_events_total{%(s)s, event="high", vm!=""}[%(w)s])
                or rate(pagescope_cgroup_memory_events_total{%(s)s, event="high", unit=~".+[.](service|scope)"}[%(w)s])
              ) > %(cgroupHighEventsRate)g
            |||,
            'warning',
            'A cgroup is throttled at its memory.high limit.',
            '{{ with $labels.vm }}VM {{ . }}{{ else }}{{ with $labels.pod }}Pod {{ . }}{{ else }}Unit {{ $labels.unit }}{{ end }}{{ end }} on {{ $labels.instance }} went over its memory.high limit {{ $value | humanize }} times per second over the last %(w)s: its tasks are throttled and forced to reclaim, which slows it down.' % { w: w },
          ),
          alert(
            'PagescopeCgroupOomKills',
            |||
              max without (cgroup, container) (
                increase(pagescope_cgroup_memory_events_total{%(s)s, event="oom_kill", pod!=""}[%(w)s])
                or increase(pagescope_cgroup_memory_events_total{%(s)s, event="oom_kill", vm!=""}[%(w)s])
                or increase(pagescope_cgroup_memory_events_total{%(s)s, event="oom_kill", unit=~".+[.](service|scope)"}[%(w)s])
              ) > 0
            |||,
            'warning',
            'The OOM killer killed processes of a cgroup.',
            'The OOM killer killed processes of {{ with $labels.vm }}VM {{ . }}{{ else }}{{ with $labels.pod }}pod {{ . }}{{ else }}unit {{ $labels.unit }}{{ end }}{{ end }} on {{ $labels.instance }} in the last %(w)s ({{ $value | humanize }} kills; memory.events oom_kill, v1 memory.oom_control): it reached its memory limit or the host ran out of memory.' % { w: w },
          ),
        ],
      },
      {
        name: 'pagescope-exporter',
        rules: [
          alert(
            'PagescopeExporterDown',
            'up{%(upSelector)s} == 0',
            'critical',
            'pagescope cannot be scraped.',
            'Prometheus could not scrape pagescope at {{ $labels.instance }} (job {{ $labels.job }}): the hugepage, THP, KSM and swap alerts for this host are blind.',
          ),
          alert(
            'PagescopeCollectorFailing',
            'pagescope_scrape_collector_success{%(s)s} == 0',
            'warning',
            'A pagescope collector fails.',
            'The {{ $labels.collector }} collector of pagescope on {{ $labels.instance }} fails on every scrape; its metrics are missing (see the exporter log).',
          ),
        ],
      },
    ],
  },
}
