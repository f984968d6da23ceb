// Alerts. Each has a severity (docs/runbook.md states the policy), a summary, a description
// quoting the values, and a runbook link to docs/runbook.md#<alertname in lower case>. An alert
// whose severity differs between host kinds (config.libsonnet: hostKinds) is one rule per
// severity, each restricted to its kinds; an alert with two thresholds is one rule per severity.
local policy = import 'lib/policy.libsonnet';
{
  local c = $._config,
  local s = c.selector,
  local w = c.rateWindow,
  local f(x) = x % (c { s: s, w: w }),
  local on = policy.hostOn(c),
  local onVm = 'on (%s, vm)' % std.join(', ', policy.hostLabels(c)),

  local forOf(name, severity) =
    if c.forOverride != null then c.forOverride
    else
      local v = c['for'][name];
      if std.isObject(v) then v[severity] else v,

  local rule(name, expr, severity, summary, description, labels={}) = {
    alert: name,
    expr: expr,
    'for': forOf(name, severity),
    labels: { severity: severity } + labels,
    annotations: {
      summary: summary,
      description: description,
      runbook_url: c.runbookURL + '#' + std.asciiLower(name),
    },
  },

  // An alert at its default severity, or at the one `severities` or the host kinds give it: a
  // list of rules (none where it is null everywhere).
  local alert(name, expr, severity, summary, description, labels={}) = [
    rule(name, policy.gate(c, f(expr), g.kinds), g.severity, summary, description, labels)
    for g in policy.severityGroups(c, name, severity)
  ],

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

  // No page of the size can be added as surplus (nr_overcommit_hugepages used up or 0). Unknown
  // (a file not read) is not "none".
  local noSurplus = '(pagescope_hugepages_overcommit_limit_pages{%(s)s} - pagescope_hugepages_surplus_pages{%(s)s} <= 0)\n',

  // One series per Kubernetes pod, libvirt guest or systemd service/scope of a cgroup metric:
  // the cgroups that name one (identity labels pod, vm, unit; kernel/sys_fs_cgroup.h), the
  // largest of the pod's and its containers' (or the guest's and libvirt's cgroups inside it)
  // counts. The slices above them are left out: their hierarchical counts repeat their
  // children's. fn(matcher) gives the expression for the cgroups selected by `matcher`.
  local perIdentity(fn) =
    'max without (cgroup, container) (\n  %s\n  or %s\n  or %s\n)' % [
      fn('pod!=""'),
      fn('vm!=""'),
      fn('unit=~".+[.](service|scope)"'),
    ],
  local who = '{{ with $labels.vm }}VM {{ . }}{{ else }}{{ with $labels.pod }}pod {{ . }}{{ else }}unit {{ $labels.unit }}{{ end }}{{ end }}',
  local events(event, fn='increase(%s[%s])') = perIdentity(function(m) fn % ['pagescope_cgroup_memory_events_total{%s, event="%s", %s}' % [s, event, m], w]),
  // Memory.max hits of a slice above the pods, guests and units (kubepods.slice or kubepods at
  // kubelet's allocatable, machine.slice, system.slice) in the rate window, per host: its OOM
  // killer picks among every cgroup below it, and pods without limits of their own are killed
  // there.
  local enclosingLimit = 'max by (%s) (\n  increase(pagescope_cgroup_memory_events_total{%s, event="max", pod="", vm="", unit!~".+[.](service|scope)"}[%s])\n) > 0' % [std.join(', ', policy.hostLabels(c)), s, w],
  // OOM kills of a pod, guest or unit in the rate window that came with memory.max hits of its
  // own (memory.events max, v1 failcnt) or of a slice above it on the same host: a cgroup
  // limit, not the host, ran out.
  local limitKills = '(\n' + events('oom_kill') + ' > 0\nand ignoring (event)\n' + events('max') + ' > 0\n)\nor\n(\n' + events('oom_kill') + ' > 0\nand ' + on + '\n' + enclosingLimit + '\n)\n',

  prometheusAlerts+:: {
    groups+: [
      {
        name: 'pagescope-hugepages',
        local avail = 'instance_page_size:pagescope_hugepages_available_pages{%(s)s}',
        local pool = 'pagescope_hugepages_pool_pages{%(s)s}',
        local listed = std.objectFields(c.hugepagesLowPages),
        // The headroom PagescopeHugepagesLow keeps, in pages of each size.
        local headroom = std.join('\nor ', [
          'clamp_min(%s%s * %g, %g)' % [pool[0:std.length(pool) - 1], (if listed == [] then '' else ', page_size!~"%s"' % std.join('|', listed)) + '}', c.hugepagesLowRatio, c.hugepagesLowPagesDefault],
        ] + [
          'clamp_min(%s, page_size="%s"} * %g, %g)' % [pool[0:std.length(pool) - 1], k, c.hugepagesLowRatio, c.hugepagesLowPages[k]]
          for k in listed
        ]),
        rules: std.flattenArrays([
          alert(
            'PagescopeHugepagesExhausted',
            '(' + pool + ' > 0)\nand\n(' + avail + ' <= 0)\nand\n' + noSurplus,
            'warning',
            'A hugepage pool has no pages left.',
            'All {{ $value }} pages of the {{ $labels.page_size }} hugepage pool on {{ $labels.instance }} are in use or reserved (free minus reserved is 0) and overcommit allows no surplus: the next hugetlb mapping of this size (a VM, DPDK, a database SGA) will fail. Normal where the pool is sized for its owners: mark such hosts (host kind %s).' % std.join(', ', [
              k
              for k in std.objectFields(c.hostKinds)
              if policy.severity(c, 'PagescopeHugepagesExhausted', 'warning', k) == null
            ]),
          ),
          // The pool cannot take the next workload it is sized for: less available than the
          // headroom, or (hosts with QEMU flavors configured, collectors.qemu.flavors) not one
          // more guest of any flavor fits, placed per NUMA node as Nova does.
          alert(
            'PagescopeHugepagesLow',
            avail + ' > 0\nand\n' + avail + ' < ' + pool + '\nand\n' + avail + ' < (\n  ' + headroom + '\n)\nand\n' + noSurplus
            + 'or\nmax without (flavor) (pagescope_capacity_host_vm_slots{%(s)s}) == 0\n',
            'warning',
            'A hugepage pool cannot take the next workload it is sized for.',
            '{{ with $labels.page_size }}Only {{ $value }} of the ' + quote('pagescope_hugepages_pool_pages{instance=%q,page_size=%q}', '$labels.instance $labels.page_size') + ' pages of the {{ . }} hugepage pool on {{ $labels.instance }} are available (free minus reserved), less than the headroom kept for the next workload (%(r)s of the pool, at least %(p)s pages), and overcommit allows no surplus.{{ else }}{{ $value }} more guests of any configured QEMU flavor fit in the free hugepages of {{ $labels.instance }} (pagescope_capacity_host_vm_slots, placed per NUMA node as Nova does): the host cannot take the next guest it is sized for.{{ end }}' % {
              r: '%g%%' % (100 * c.hugepagesLowRatio),
              p: if listed == [] then '%g' % c.hugepagesLowPagesDefault else std.join(', ', ['%g of %s' % [c.hugepagesLowPages[k], k] for k in listed]) + ', else %g' % c.hugepagesLowPagesDefault,
            },
          ),
          // The trend of the available pages (instance_page_size:pagescope_hugepages_available_pages
          // :deriv, over hugepagesPredictWindow, only while the pool moves) reaches 0 within the
          // horizon: the same figure as the dashboards' "Time to exhaustion".
          alert(
            'PagescopeHugepagesExhaustionPredicted',
            'instance_page_size:pagescope_hugepages_exhaustion_seconds{%(s)s} < %(hugepagesPredictHorizonHours)g * 3600\nand\n(' + avail + ' > 0)\nand\n' + noSurplus,
            'warning',
            'A hugepage pool will run out within hours at the current trend.',
            'The {{ $labels.page_size }} hugepage pool on {{ $labels.instance }} runs out in {{ $value | humanizeDuration }} at the trend of the last %(hugepagesPredictWindow)s (' % c + quote('instance_page_size:pagescope_hugepages_available_pages{instance=%q,page_size=%q}', '$labels.instance $labels.page_size') + ' pages available; pages taken or freed within the last %(hugepagesPredictActiveWindow)s).' % c,
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
          // The buddy allocator could not give a fresh hugepage (htlb_buddy_alloc_fail). Where
          // overcommit allows surplus pages, a mapping or fault that needed one did not get it:
          // a page. Elsewhere only growing the pool (nr_hugepages) allocates fresh pages.
          [rule(
            'PagescopeHugepagesAllocationFailures',
            f('increase(pagescope_vmstat_htlb_buddy_alloc_fail_total{%(s)s}[%(w)s]) > 0\nand ' + on + '\n(max by (' + std.join(', ', policy.hostLabels(c)) + ') (pagescope_hugepages_overcommit_limit_pages{%(s)s}) > 0)\n'),
            'critical',
            'Hugepage allocations are failing.',
            '{{ $value | humanize }} fresh hugepages could not be allocated on {{ $labels.instance }} in the last %(w)s (htlb_buddy_alloc_fail) where overcommit allows surplus pages (' % { w: w } + quote('max(pagescope_hugepages_overcommit_limit_pages{instance=%q})', '$labels.instance') + ' at most): a mapping that needed surplus hugepages did not get them (the program got ENOMEM or SIGBUS), or the pool could not be grown. Memory is too fragmented for a fresh hugepage.',
          )],
          [rule(
            'PagescopeHugepagesAllocationFailures',
            f('increase(pagescope_vmstat_htlb_buddy_alloc_fail_total{%(s)s}[%(w)s]) > 0\nunless ' + on + '\n(max by (' + std.join(', ', policy.hostLabels(c)) + ') (pagescope_hugepages_overcommit_limit_pages{%(s)s}) > 0)\n'),
            'warning',
            'Hugepage allocations are failing.',
            '{{ $value | humanize }} fresh hugepages could not be allocated on {{ $labels.instance }} in the last %(w)s (htlb_buddy_alloc_fail): growing a pool (nr_hugepages) got fewer pages than asked, because memory is too fragmented; no overcommit is allowed, so no running mapping was refused a page.' % { w: w },
          )],
        ]),
      },
      {
        name: 'pagescope-memory',
        rules: std.flattenArrays([
          // Memory for everything that is not a hugepage: MemAvailable against MemTotal minus
          // the pools (instance:pagescope_memory_available_outside_hugetlb:ratio). Free
          // hugepages cannot serve ordinary allocations, so a pool sized too large leaves the
          // host short while its pages sit free; a full pool on a hypervisor with room left for
          // the host is fine.
          [
            rule(
              'PagescopeMemoryAvailableLow',
              'instance:pagescope_memory_available_outside_hugetlb:ratio{%s} < %g' % [s, c.memoryAvailableRatio[sev]],
              sev,
              if sev == 'critical' then 'The host is about to run out of memory outside its hugepage pools.'
              else 'Little memory outside the hugepage pools is available.',
              'Only {{ $value | humanizePercentage }} of the memory outside the hugepage pools of {{ $labels.instance }} is available (MemAvailable ' + quote('pagescope_memory_available_bytes{instance=%q}', '$labels.instance', 'humanize1024') + 'B of ' + quote('instance:pagescope_memory_outside_hugetlb_bytes{instance=%q}', '$labels.instance', 'humanize1024') + 'B); the pools hold ' + quote('pagescope_memory_hugetlb_bytes{instance=%q}', '$labels.instance', 'humanize1024') + 'B, of which ' + quote('sum(pagescope_hugepages_free_pages{instance=%q} * on (page_size) pagescope_hugepages_page_size_bytes{instance=%q})', '$labels.instance $labels.instance', 'humanize1024') + 'B are free and cannot serve ordinary allocations.' + (if sev == 'critical' then ' The OOM killer acts when it reaches 0.' else ''),
            )
            for sev in ['warning', 'critical']
          ],
          // The OOM killer ran on the host beyond the kills that cgroups at their own memory
          // limit explain (those are PagescopeCgroupOomKills{cause="limit"}): the host itself ran
          // out of memory.
          alert(
            'PagescopeHostOomKills',
            'increase(pagescope_vmstat_oom_kill_total{%(s)s}[%(w)s])\n- ' + on + ' group_left ()\n(\n  sum by (' + std.join(', ', policy.hostLabels(c)) + ') (\n' + policy.indent(policy.indent(limitKills)) + '  )\n  or ' + on + ' increase(pagescope_vmstat_oom_kill_total{%(s)s}[%(w)s]) * 0\n)\n> 0.5\n',
            'warning',
            'The host ran out of memory and the OOM killer killed processes.',
            'The OOM killer killed {{ $value | humanize }} processes on {{ $labels.instance }} in the last %(w)s that no cgroup memory limit explains (' % { w: w } + quote('increase(pagescope_vmstat_oom_kill_total{instance=%q}[' + w + '])', '$labels.instance', 'humanize') + ' kills in all, vmstat oom_kill): the host ran out of memory. PagescopeCgroupOomKills{cause="host"} names the pods, guests and units hit.',
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
          // One rule per expected THP mode, on the host kinds that expect it.
          [
            rule(
              'PagescopeThpModeUnexpected',
              policy.thpUnexpected(c, e),
              sev,
              'Transparent hugepages run in an unexpected mode.',
              'Transparent hugepages on {{ $labels.instance }} are "{{ $labels.mode }}", expected "%s" on hosts of kind %s (/sys/kernel/mm/transparent_hugepage/enabled).' % [e.mode, std.join(', ', e.kinds)],
            )
            for e in policy.thpExpectations(c)
            for sev in [if std.objectHas(c.severities, 'PagescopeThpModeUnexpected') then c.severities.PagescopeThpModeUnexpected else 'warning']
            if sev != null
          ],
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
        ]),
      },
      {
        name: 'pagescope-vms',
        rules: std.flattenArrays([
          // Configuration: RAM of a guest with some hugetlb backend that is not on one. Judged on
          // the command line alone, so it holds whether or not the guest's memory can be read.
          alert(
            'PagescopeVmNotBackedByHugepages',
            |||
              pagescope_vm_hugetlb_configured_bytes{%(s)s} / pagescope_vm_memory_bytes{%(s)s} < 1
              and
              pagescope_vm_hugetlb_configured_bytes{%(s)s} > 0
            |||,
            'warning',
            'A VM configured for hugepages has RAM outside hugetlb backends.',
            'Only {{ $value | humanizePercentage }} of the RAM of VM {{ $labels.vm }} on {{ $labels.instance }} is configured on hugetlb backends (' + quote('pagescope_vm_hugetlb_configured_bytes{instance=%q,vm=%q}', '$labels.instance $labels.vm', 'humanize1024') + 'B of ' + quote('pagescope_vm_memory_bytes{instance=%q,vm=%q}', '$labels.instance $labels.vm', 'humanize1024') + 'B): the rest uses 4 KiB pages, can be swapped and loses the TLB benefit.',
          ),
          // Failure: a guest preallocated on hugetlb (prealloc="true" on every RAM backend)
          // holds fewer hugepages than its backends configure: it started without them or lost
          // them. Only where the figure is known (contract: pagescope_vm_info's hugetlb_source):
          // per-node bytes from the guest's cgroup, numa_maps or a sample; "status" means the
          // guest holds none (no per-node series); "unknown" (or no vm_info) is not judged.
          alert(
            'PagescopeVmHugepagesMissing',
            |||
              (
                sum without (node, page_size) (pagescope_vm_hugetlb_bytes{%(s)s})
                and %(onVm)s
                pagescope_vm_info{%(s)s, prealloc="true", hugetlb_source!~"unknown|status"}
                or
                pagescope_vm_hugetlb_configured_bytes{%(s)s} * 0
                and %(onVm)s
                pagescope_vm_info{%(s)s, prealloc="true", hugetlb_source="status"}
              )
              < pagescope_vm_hugetlb_configured_bytes{%(s)s}
            ||| % { onVm: onVm, s: '%(s)s' },
            'critical',
            'A preallocated VM does not hold the hugepages it is configured with.',
            'VM {{ $labels.vm }} on {{ $labels.instance }} is preallocated on hugetlb backends of ' + quote('pagescope_vm_hugetlb_configured_bytes{instance=%q,vm=%q}', '$labels.instance $labels.vm', 'humanize1024') + 'B but holds only {{ $value | humanize1024 }}B in hugepages (' + '{{ with printf "pagescope_vm_info{instance=%q,vm=%q}" $labels.instance $labels.vm | query }}figure from {{ . | first | label "hugetlb_source" }}{{ end }}): it could not get its pages (the pool, or its NUMA node, ran out while it started) or lost them.',
          ),
        ]),
      },
      {
        // NUMA locality of guests and opted-in process groups (docs/numa-locality.md). Each
        // alert covers guests (label vm, qemu collector) and process groups (label group,
        // processes collector's numa_locality option).
        name: 'pagescope-numa-locality',
        local who = '{{ with $labels.vm }}guest {{ . }}{{ else }}process group {{ $labels.group }}{{ end }}',
        rules: std.flattenArrays([
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
        ]),
      },
      {
        // Capacity planning across hosts, on the pagescope-fleet recording rules.
        name: 'pagescope-fleet-alerts',
        rules: std.flattenArrays([
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
            // A group with no page left has run out already: the trend says nothing then.
            'fleet_page_size:pagescope_hugepages_exhaustion_seconds < %(fleetPredictHorizonHours)g * 3600\nand\nfleet_page_size:pagescope_hugepages_available_pages:sum > 0\n',
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
        ]),
      },
      {
        name: 'pagescope-reclaim',
        rules: std.flattenArrays([
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
        ]),
      },
      {
        name: 'pagescope-cgroups',
        rules: std.flattenArrays([
          // One alert per guest, pod or service (perIdentity), never again for the slices above
          // them nor for a pod's containers.
          alert(
            'PagescopeCgroupMemoryHighThrottling',
            events('high', 'rate(%s[%s])') + ' > %(cgroupHighEventsRate)g\n',
            'warning',
            'A cgroup is throttled at its memory.high limit.',
            '{{ with $labels.vm }}VM {{ . }}{{ else }}{{ with $labels.pod }}Pod {{ . }}{{ else }}Unit {{ $labels.unit }}{{ end }}{{ end }} on {{ $labels.instance }} went over its memory.high limit {{ $value | humanize }} times per second over the last %(w)s: its tasks are throttled and forced to reclaim, which slows it down.' % { w: w },
          ),
          // OOM kills, whichever OOM killer made them (memory.events oom_kill counts the kills of
          // the cgroup's processes by its own limit's OOM killer and by the host's), told apart
          // by the label `cause`: "limit" when the cgroup hit its own memory.max in the same
          // window, or a slice above it did (a pod without limits killed at kubelet's
          // allocatable, kubepods' memory.max), "host" otherwise.
          alert(
            'PagescopeCgroupOomKills',
            limitKills,
            'warning',
            'The OOM killer killed processes of a cgroup.',
            'The OOM killer killed {{ $value | humanize }} processes of ' + who + ' on {{ $labels.instance }} in the last %(w)s (memory.events oom_kill, v1 memory.oom_control): it or a slice above it reached its memory limit (memory.max events, v1 failcnt, rose in the same window; a pod without limits is killed at kubelet\'s allocatable, the memory.max of kubepods).' % { w: w },
            { cause: 'limit' },
          ),
          alert(
            'PagescopeCgroupOomKills',
            events('oom_kill') + ' > 0\nunless ignoring (event)\n' + events('max') + ' > 0\nunless ' + on + '\n' + enclosingLimit + '\n',
            'warning',
            'The OOM killer killed processes of a cgroup.',
            'The OOM killer killed {{ $value | humanize }} processes of ' + who + ' on {{ $labels.instance }} in the last %(w)s (memory.events oom_kill, v1 memory.oom_control) without it reaching a memory limit of its own: the host ran out of memory (' % { w: w } + quote('increase(pagescope_vmstat_oom_kill_total{instance=%q}[' + w + '])', '$labels.instance', 'humanize') + ' kills host-wide) and its OOM killer chose this cgroup\'s processes.',
            { cause: 'host' },
          ),
          // A pod, guest or service could not get hugepages: its hugetlb.<size>.max (v1
          // limit_in_bytes) refused a reservation or a fault (the program got ENOMEM or SIGBUS).
          alert(
            'PagescopeCgroupHugetlbLimitHits',
            perIdentity(function(m) 'increase(pagescope_cgroup_hugetlb_max_events_total{%s, %s}[%s])' % [s, m, w]) + ' > 0\n',
            'critical',
            'A pod, guest or service hit its hugetlb limit and did not get its hugepages.',
            '{{ $value | humanize }} {{ $labels.page_size }} hugepage allocations of ' + who + ' on {{ $labels.instance }} failed on its hugetlb limit in the last %(w)s (hugetlb.<size>.events max, v1 failcnt' % { w: w } + '{{ with printf "min(pagescope_cgroup_hugetlb_limit_bytes{instance=%q,page_size=%q,pod=%q,vm=%q,unit=%q})" $labels.instance $labels.page_size $labels.pod $labels.vm $labels.unit | query }}; its smallest limit: {{ . | first | value | humanize1024 }}B{{ end }}): the program got ENOMEM at mmap or SIGBUS at a page fault.',
          ),
        ]),
      },
      {
        name: 'pagescope-exporter',
        rules: std.flattenArrays([
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
            'The {{ $labels.collector }} collector of pagescope on {{ $labels.instance }} fails on every scrape; its metrics are missing (see the exporter log: a file it cannot parse, or the scrape deadline cut it).',
          ),
        ] + [
          // What makes pagescope partial without failing: each rule names the gap (label gap).
          alert('PagescopeCoverageIncomplete', r.expr, 'warning', 'pagescope sees only part of what it was enabled for.', r.description, { gap: r.gap })
          for r in [
            {
              gap: 'denied_reads',
              expr: 'pagescope_scrape_denied_reads{%(s)s} > 0',
              description: 'The {{ $labels.collector }} collector of pagescope on {{ $labels.instance }} could not read {{ $value }} {{ $labels.file }} files in the last scrape (permission denied): what they hold is unknown, not zero, and the alerts that need it stay quiet.',
            },
            {
              gap: 'qemu_unreadable',
              expr: 'pagescope_vm_qemu_processes{%(s)s, result="unreadable"} > 0',
              description: '{{ $value }} QEMU processes on {{ $labels.instance }} could not be identified (their command line is unreadable) and are missing from every guest series (' + quote('pagescope_vm_qemu_processes{instance=%q,result=\\"identified\\"}', '$labels.instance') + ' identified): the guests\' alerts are blind for them.',
            },
            {
              gap: 'guest_hugetlb_unknown',
              expr: 'count by (%s) (pagescope_vm_info{%%(s)s, hugetlb_source="unknown"})' % std.join(', ', policy.hostLabels(c)),
              description: 'For {{ $value }} QEMU guests on {{ $labels.instance }} pagescope could not tell how much hugetlb memory they hold (pagescope_vm_info{hugetlb_source="unknown"}: numa_maps unreadable or skipped): PagescopeVmHugepagesMissing cannot judge them.',
            },
            {
              gap: 'deadline',
              expr: 'increase(pagescope_scrape_collector_deadline_exceeded_total{%(s)s}[%(w)s]) > 0',
              description: 'The scrape deadline cut the {{ $labels.collector }} collector of pagescope on {{ $labels.instance }} {{ $value | humanize }} times in the last %(w)s: its series were missing from those scrapes.' % { w: w },
            },
            {
              gap: 'folded_groups',
              expr: 'pagescope_process_folded_groups{%(s)s} > 0',
              description: '{{ $value }} process group names on {{ $labels.instance }} are counted in the overflow group because max_groups places are taken: their processes have no series of their own.',
            },
            {
              gap: 'skipped_cgroups',
              expr: |||
                label_replace(pagescope_cgroup_memory_skipped_cgroups{%(s)s} > 0, "collector", "cgroup_memory", "", "")
                or label_replace(pagescope_cgroup_hugetlb_skipped_cgroups{%(s)s} > 0, "collector", "cgroup_hugetlb", "", "")
              |||,
              description: 'The {{ $labels.collector }} collector of pagescope on {{ $labels.instance }} left {{ $value }} cgroups out of the last scrape ({{ $labels.reason }} reached): their pods, guests or units have no series.',
            },
            {
              gap: 'tlb_nothing_counted',
              expr: 'group by (%(h)s) (pagescope_tlb_event_status{%%(s)s}) unless %(on)s (pagescope_tlb_event_status{%%(s)s, mode="available"} == 1)' % { h: std.join(', ', policy.hostLabels(c)), on: on },
              description: 'The tlb collector of pagescope on {{ $labels.instance }} (job {{ $labels.job }}) is enabled but can count none of its events (instructions: {{ with printf "pagescope_tlb_event_status{instance=%q,event=\\"instructions\\"} == 1" $labels.instance | query }}{{ . | first | label "mode" }}{{ end }}; no_pmu: no hardware PMU, e.g. a VM without PMU passthrough): it exports no TLB counters.',
            },
          ]
        ] + [
          alert(
            'PagescopeExporterRequestsRefused',
            'sum without () (increase(pagescope_http_requests_refused_total{%(s)s}[%(w)s])) > 0',
            'warning',
            'pagescope refuses requests.',
            'pagescope on {{ $labels.instance }} refused {{ $value | humanize }} requests in the last %(w)s (reason {{ $labels.reason }}): scrapes refused for too many parallel requests leave gaps in every series.' % { w: w },
          ),
          alert(
            'PagescopeExporterFdsNearLimit',
            'process_open_fds{%(s)s} / process_max_fds{%(s)s} > %(exporterFdsRatio)g',
            'warning',
            'pagescope is close to its file descriptor limit.',
            'pagescope on {{ $labels.instance }} has {{ $value | humanizePercentage }} of its file descriptors open (process_open_fds / process_max_fds): at the limit it can read no file and answer no scrape.',
          ),
        ]),
      },
    ],
  },
}
