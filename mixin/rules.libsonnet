// Recording rules: hugepage availability per size and NUMA node, the memory outside the
// hugepage pools and the share of it available (free hugepages cannot serve ordinary
// allocations, so they count neither as available nor as memory the host could use), the kind of
// each host (lib/policy.libsonnet), and the fleet sums.
local policy = import 'lib/policy.libsonnet';
{
  prometheusRules+:: {
    local c = $._config,
    local s = c.selector,
    local l = std.join(', ', c.fleetLabels),
    local thp = policy.thpExpectations(c),
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
          // Memory outside the hugepage pools of every size (MemTotal minus Hugetlb; the pools
          // summed where /proc/meminfo has no Hugetlb line, before Linux 4.16): what the kernel,
          // page cache and every process not on hugetlb share.
          record: 'instance:pagescope_memory_outside_hugetlb_bytes',
          expr: |||
            pagescope_memory_total_bytes{%(s)s}
            - (
              pagescope_memory_hugetlb_bytes{%(s)s}
              or sum without (page_size) (pagescope_hugepages_pool_pages{%(s)s} * pagescope_hugepages_page_size_bytes{%(s)s})
            )
          ||| % { s: s },
        },
        {
          // The share of it available (MemAvailable, which never counts hugepages, free or not).
          record: 'instance:pagescope_memory_available_outside_hugetlb:ratio',
          expr: 'pagescope_memory_available_bytes{%(s)s} / (instance:pagescope_memory_outside_hugetlb_bytes{%(s)s} > 0)' % { s: s },
        },
        {
          // The kind of each host as the alerts see it (config.libsonnet, hostKinds): its
          // hostKindLabel label, else the first kind detected, else (hosts with `up`) the default.
          record: policy.kindRecord,
          expr: policy.kindExpr(c),
        },
        {
          // Pages per second the available pages of a size grow (negative: shrink), least
          // squares over hugepagesPredictWindow, while the pool moves: only where they changed
          // by hugepagesPredictMinStepPages or more within hugepagesPredictActiveWindow.
          // Allocations that come in steps (guests starting) have no trend once the steps stop,
          // though the least-squares line of a staircase still points down while the steps are
          // in its window.
          record: 'instance_page_size:pagescope_hugepages_available_pages:deriv',
          expr: |||
            deriv(instance_page_size:pagescope_hugepages_available_pages{%(s)s}[%(w)s])
            and
            (
              max_over_time(instance_page_size:pagescope_hugepages_available_pages{%(s)s}[%(a)s])
              - min_over_time(instance_page_size:pagescope_hugepages_available_pages{%(s)s}[%(a)s])
              >= %(m)g
            )
          ||| % { s: s, w: c.hugepagesPredictWindow, a: c.hugepagesPredictActiveWindow, m: c.hugepagesPredictMinStepPages },
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
      ] + (if thp == [] then [] else [
             {
               // Hosts whose THP `enabled` mode is not the one their kind expects (0 when all
               // agree; hosts whose kind expects none are not counted).
               record: 'fleet:pagescope_thp_mode_unexpected_hosts:sum',
               expr: 'sum by (%(l)s) (\n%(e)s) or sum by (%(l)s) (up{%(u)s}) * 0\n' % {
                 l: l,
                 u: c.upSelector,
                 e: policy.indent(std.join('or\n', [policy.thpUnexpected(c, e) for e in thp])),
               },
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
