// Kubernetes nodes: the scheduler's view of a node's hugepages against the kernel's, per
// Kubernetes node and page size, in bytes (issue 23).
//
// The scheduler places pods by their hugepage requests against the node's allocatable
// hugepages (kube-state-metrics: kube_node_status_allocatable,
// kube_pod_container_resource_requests and kube_pod_init_container_resource_requests,
// resource="hugepages_2Mi", unit="byte"); the kernel may
// have fewer pages available (free minus reserved: pages taken by processes outside Kubernetes,
// a pool shrunk after the kubelet started). Then a pod scheduled there on the strength of its
// request fails to start.
//
// The join: pagescope's `node` label is the NUMA node and stays so; kube-state-metrics' `node` is
// the Kubernetes node. The Kubernetes node's name comes from the pagescope label named by
// kubernetesNodeLabel (the shipped ServiceMonitor sets `instance` to it, as kube-prometheus does
// for node_exporter), through the regular expression kubernetesNodeRegex (its first group).
{
  _config+:: {
    // Label matchers that select kube-state-metrics' series.
    kubeStateMetricsSelector: 'job="kube-state-metrics"',
    // The pagescope label that holds the Kubernetes node's name, and the regular expression
    // (anchored; its first group is the name) that takes the name out of it: for a target label
    // "node-a:9724" use '(.*):[0-9]+'.
    kubernetesNodeLabel: 'instance',
    kubernetesNodeRegex: '(.*)',
    'for'+: {
      // Long enough to rule out a pod starting: the kernel sees its pages reserved or faulted
      // before kube-state-metrics' next scrape shows its request.
      PagescopeKubernetesHugepagesShortfall: '10m',
    },
  },

  local c = $._config,
  local s = c.selector,
  local ksm = c.kubeStateMetricsSelector,
  local fleet = c.fleetLabels,
  local by(labels) = std.join(', ', fleet + labels),
  // kube-state-metrics' resource name (hugepages-2Mi, sanitized to hugepages_2Mi) as pagescope's
  // page_size (2MiB).
  local pageSize(expr) =
    'label_replace(%s, "page_size", "${1}${2}iB", "resource", "hugepages_([0-9]+)([KMGTP])i")' % expr,
  local rec = {
    allocatable: 'node_page_size:pagescope_kubernetes_hugepages_allocatable_bytes',
    requested: 'node_page_size:pagescope_kubernetes_hugepages_requested_bytes',
    scheduler: 'node_page_size:pagescope_kubernetes_hugepages_scheduler_free_bytes',
    kernel: 'node_page_size:pagescope_kubernetes_hugepages_kernel_available_bytes',
    shortfall: 'node_page_size:pagescope_kubernetes_hugepages_shortfall_bytes',
  },
  kubernetesRecordingRules:: rec,

  prometheusRules+:: {
    groups+: [{
      name: 'pagescope-kubernetes',
      rules: [
        {
          // What the kubelet advertises as schedulable, per size.
          record: rec.allocatable,
          expr: 'max by (%(by)s) (%(alloc)s)' % {
            by: by(['node', 'page_size']),
            alloc: pageSize('kube_node_status_allocatable{%s, resource=~"hugepages_.+", unit="byte"}' % ksm),
          },
        },
        {
          // The requests of the pods placed on the node and not finished (Pending or Running,
          // as kube-prometheus' rules count them). A pod requests what the scheduler counts for
          // it: the larger of the sum of its containers and its largest init container (init
          // containers run one at a time, before the others).
          record: rec.requested,
          expr: |||
            sum by (%(by)s) (
              max by (%(podNode)s) (
                label_replace(sum by (%(podNode)s) (%(requests)s), "containers", "app", "", "")
                or
                label_replace(max by (%(podNode)s) (%(init)s), "containers", "init", "", "")
              )
              * on (%(pod)s) group_left ()
              max by (%(pod)s) (kube_pod_status_phase{%(ksm)s, phase=~"Pending|Running"} == 1)
            )
          ||| % {
            by: by(['node', 'page_size']),
            pod: by(['namespace', 'pod']),
            podNode: by(['namespace', 'pod', 'node', 'page_size']),
            ksm: ksm,
            requests: pageSize('kube_pod_container_resource_requests{%s, resource=~"hugepages_.+", unit="byte", node!=""}' % ksm),
            init: pageSize('kube_pod_init_container_resource_requests{%s, resource=~"hugepages_.+", unit="byte", node!=""}' % ksm),
          },
        },
        {
          // The scheduler's free hugepages: allocatable minus the requests (all of it on a node
          // without such pods).
          record: rec.scheduler,
          expr: '%(a)s - (%(r)s or %(a)s * 0)' % { a: rec.allocatable, r: rec.requested },
        },
        {
          // The kernel's available hugepages (free minus reserved, as pagescope reports them),
          // under the Kubernetes node's name; `instance` is kept for the dashboards.
          record: rec.kernel,
          expr: |||
            max by (%(by)s) (
              label_replace(
                (pagescope_hugepages_free_pages{%(s)s} - pagescope_hugepages_reserved_pages{%(s)s})
                * pagescope_hugepages_page_size_bytes{%(s)s},
                "node", "$1", "%(label)s", "%(regex)s"
              )
            )
          ||| % {
            by: by(['node', 'instance', 'page_size']),
            s: s,
            label: c.kubernetesNodeLabel,
            regex: c.kubernetesNodeRegex,
          },
        },
        {
          // The scheduler's free minus the kernel's available: above 0 the scheduler believes
          // in pages the kernel does not have; below 0 the kernel has more (requested pages not
          // mapped yet), which is normal.
          record: rec.shortfall,
          expr: '%(sched)s - on (%(on)s) group_right () %(kernel)s' % {
            sched: rec.scheduler,
            kernel: rec.kernel,
            on: by(['node', 'page_size']),
          },
        },
      ],
    }],
  },

  prometheusAlerts+:: {
    local name = 'PagescopeKubernetesHugepagesShortfall',
    local matchers = std.join(',', ['%s=%%q' % l for l in fleet + ['node', 'page_size']]),
    local args = std.join(' ', ['$labels.' + l for l in fleet + ['node', 'page_size']]),
    local query(record) =
      '{{ with printf "%s{%s}" %s | query }}{{ . | first | value | humanize1024 }}B{{ end }}' % [record, matchers, args],
    // Warning: a pod is about to fail to start, but only once one that needs the missing pages
    // is placed there (docs/runbook.md argues it); `severities` changes it (null: no alert).
    local severity = if std.objectHas(c.severities, name) then c.severities[name] else 'warning',
    groups+: [{
      name: 'pagescope-kubernetes-alerts',
      rules: if severity == null then [] else [{
        alert: name,
        expr: '%s > 0' % rec.shortfall,
        'for': if c.forOverride != null then c.forOverride else c['for'][name],
        labels: { severity: severity },
        annotations: {
          summary: 'Kubernetes schedules hugepages the kernel of this node does not have.',
          description: 'The scheduler counts {{ $value | humanize1024 }}B more free {{ $labels.page_size }} hugepages on node {{ $labels.node }} than its kernel has available: scheduler ' + query(rec.scheduler) + ' (allocatable minus requests of pods not finished), kernel ' + query(rec.kernel) + ' (free minus reserved). A pod placed there on the strength of its hugepage request will fail to start.',
          runbook_url: c.runbookURL + '#' + std.asciiLower(name),
        },
      }],
    }],
  },

  // The dashboard panel (mixin/dashboards/dashboards.libsonnet adds it to the hugepage pools
  // dashboard): both views per Kubernetes node and page size, for the selected instances.
  kubernetesHugepagesPanels(g)::
    // The dashboard's fleet-label, instance and page size variables.
    local sel = std.join(', ', ['%s=~"$%s"' % [l, l] for l in fleet] +
                               ['instance=~"$instance"', 'page_size=~"$page_size"']);
    [
    g.row('Kubernetes: the scheduler against the kernel'),
    g.timeseries(
      'Hugepages: scheduler free vs kernel available',
      "Per Kubernetes node and page size: the scheduler's free hugepages (allocatable minus the requests of pods not finished, from kube-state-metrics) against the kernel's available ones (free minus reserved, from pagescope). Where the scheduler's line is above the kernel's, a pod placed there on the strength of its request will not get its pages (alert PagescopeKubernetesHugepagesShortfall).",
      'bytes',
      [
        g.target('%(sched)s and on (%(on)s) %(kernel)s{%(sel)s}' % {
          sched: rec.scheduler,
          kernel: rec.kernel,
          on: by(['node', 'page_size']),
          sel: sel,
        }, '{{node}} {{page_size}} scheduler: free'),
        g.target('%s{%s}' % [rec.kernel, sel], '{{node}} {{page_size}} kernel: available'),
      ],
      w=24,
    ),
  ],
}
