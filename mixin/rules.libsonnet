// Recording rules: hugepage availability per size and NUMA node, and a hugepage-aware
// "available memory" that counts free hugepages as available (the node-mixin counts every
// hugepage as used and so fires on healthy hosts with large, mostly free pools).
{
  prometheusRules+:: {
    local c = $._config,
    local s = c.selector,
    local l = std.join(', ', c.fleetLabels),
    groups+: [{
      name: 'pagescope.rules',
      rules: [
        {
          // Pages of a size a new mapping can still get: free pages minus those promised
          // (reserved) to mappings that have not touched them yet.
          record: 'instance_page_size:pagescope_hugepages_available_pages',
          expr: 'pagescope_hugepages_free_pages{%(s)s} - pagescope_hugepages_reserved_pages{%(s)s}' % { s: s },
        },
        {
          record: 'instance_page_size:pagescope_hugepages_available_bytes',
          expr: 'instance_page_size:pagescope_hugepages_available_pages{%(s)s} * pagescope_hugepages_page_size_bytes{%(s)s}' % { s: s },
        },
        {
          // Share of a non-empty pool that is in use or reserved (surplus pages count in the pool).
          record: 'instance_page_size:pagescope_hugepages_used:ratio',
          expr: '1 - instance_page_size:pagescope_hugepages_available_pages{%(s)s} / (pagescope_hugepages_pool_pages{%(s)s} > 0)' % { s: s },
        },
        {
          // The kernel keeps reservations per size only, so per NUMA node "available" is "free".
          record: 'instance_node_page_size:pagescope_numa_hugepages_free_bytes',
          expr: 'pagescope_numa_hugepages_free_pages{%(s)s} * ignoring (node) group_left () pagescope_hugepages_page_size_bytes{%(s)s}' % { s: s },
        },
        {
          record: 'instance_node_page_size:pagescope_numa_hugepages_free:ratio',
          expr: 'pagescope_numa_hugepages_free_pages{%(s)s} / (pagescope_numa_hugepages_pool_pages{%(s)s} > 0)' % { s: s },
        },
        {
          // MemAvailable plus the free hugepages of every size: memory that is not in use. Hosts
          // without hugepage metrics get MemAvailable alone.
          record: 'instance:pagescope_memory_available_hugepage_aware_bytes',
          expr: |||
            pagescope_memory_available_bytes{%(s)s}
            + (
              sum without (page_size) (pagescope_hugepages_free_pages{%(s)s} * pagescope_hugepages_page_size_bytes{%(s)s})
              or pagescope_memory_available_bytes{%(s)s} * 0
            )
          ||| % { s: s },
        },
        {
          record: 'instance:pagescope_memory_available_hugepage_aware:ratio',
          expr: 'instance:pagescope_memory_available_hugepage_aware_bytes{%(s)s} / pagescope_memory_total_bytes{%(s)s}' % { s: s },
        },
        {
          // Pages per second the available pages of a size grow (negative: shrink), least
          // squares over hugepagesPredictWindow.
          record: 'instance_page_size:pagescope_hugepages_available_pages:deriv',
          expr: 'deriv(instance_page_size:pagescope_hugepages_available_pages{%(s)s}[%(w)s])' % { s: s, w: c.hugepagesPredictWindow },
        },
        {
          // Seconds until the available pages of a size reach 0 at that trend; only pools
          // whose available pages shrink.
          record: 'instance_page_size:pagescope_hugepages_exhaustion_seconds',
          expr: 'instance_page_size:pagescope_hugepages_available_pages{%(s)s} / (-instance_page_size:pagescope_hugepages_available_pages:deriv{%(s)s} > 0)' % { s: s },
        },
      ],
    }, {
      // Hosts summed per fleet group (_config.fleetLabels). Written so that Prometheus and
      // VictoriaMetrics' MetricsQL (vmalert) give the same answer: plain sums, counts, clamp_max
      // and comparisons, no functions whose range semantics differ between the two.
      name: 'pagescope-fleet',
      rules: [
        {
          record: 'fleet_page_size:pagescope_hugepages_available_pages:sum',
          expr: 'sum by (%(l)s, page_size) (instance_page_size:pagescope_hugepages_available_pages{%(s)s})' % { s: s, l: l },
        },
        {
          record: 'fleet_page_size:pagescope_hugepages_available_bytes:sum',
          expr: 'sum by (%(l)s, page_size) (instance_page_size:pagescope_hugepages_available_bytes{%(s)s})' % { s: s, l: l },
        },
        {
          // Seconds until the group's available pages of a size reach 0 at the summed trend of
          // its hosts (growing and shrinking pools offset each other). Summing the hosts' trends
          // rather than taking the trend of the sum: a host that stops reporting takes its
          // pages and its trend with it instead of looking like a fall to zero.
          record: 'fleet_page_size:pagescope_hugepages_exhaustion_seconds',
          expr: 'fleet_page_size:pagescope_hugepages_available_pages:sum / (-sum by (%(l)s, page_size) (instance_page_size:pagescope_hugepages_available_pages:deriv{%(s)s}) > 0)' % { s: s, l: l },
        },
        {
          // More guests of each flavor the group can take (each host placing them as Nova's
          // NUMA fitting does).
          record: 'fleet_flavor:pagescope_capacity_host_vm_slots:sum',
          expr: 'sum by (%(l)s, flavor) (pagescope_capacity_host_vm_slots{%(s)s})' % { s: s, l: l },
        },
        {
          // Hosts of the group that can still take one guest of the flavor.
          record: 'fleet_flavor:pagescope_capacity_hosts_with_slot:sum',
          expr: 'sum by (%(l)s, flavor) (clamp_max(pagescope_capacity_host_vm_slots{%(s)s}, 1))' % { s: s, l: l },
        },
      ] + (if c.thpExpectedMode == null then [] else [
             {
               // Hosts whose THP `enabled` mode is not thpExpectedMode (0 when all agree).
               record: 'fleet:pagescope_thp_mode_unexpected_hosts:sum',
               expr: 'sum by (%(l)s) (pagescope_thp_enabled{%(s)s, mode!="%(m)s"})' % { s: s, l: l, m: c.thpExpectedMode },
             },
           ]) + (if c.ksmExpectedMode == null then [] else [
                   {
                     // Hosts whose KSM run mode is not ksmExpectedMode (0 when all agree).
                     record: 'fleet:pagescope_ksm_run_unexpected_hosts:sum',
                     expr: 'sum by (%(l)s) (pagescope_ksm_run{%(s)s, mode!="%(m)s"})' % { s: s, l: l, m: c.ksmExpectedMode },
                   },
                 ]) + [
        {
          // Hosts of the group whose scrape succeeds now.
          record: 'fleet:pagescope_hosts_up:sum',
          expr: 'sum by (%(l)s) (up{%(u)s})' % { u: c.upSelector, l: l },
        },
        {
          // Hosts of the group Prometheus has a target for (up or not).
          record: 'fleet:pagescope_hosts:count',
          expr: 'count by (%(l)s) (up{%(u)s})' % { u: c.upSelector, l: l },
        },
      ],
    }],
  },
}
