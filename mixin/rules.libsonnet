// Recording rules: hugepage availability per size and NUMA node, and a hugepage-aware
// "available memory" that counts free hugepages as available (the node-mixin counts every
// hugepage as used and so fires on healthy hosts with large, mostly free pools).
{
  prometheusRules+:: {
    local c = $._config,
    local s = c.selector,
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
      ],
    }],
  },
}
