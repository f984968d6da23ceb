// Entry point for mixin/build.sh: every generated file, keyed by its path in the repository.
// `config` is a JSON object merged over the mixin's _config (see config.libsonnet).
// build.sh renders the values (YAML for rules, JSON for dashboards): jsonnet's own
// std.manifestYamlDoc/manifestJsonEx are far too slow for files this size.
function(config='{}')
  local o = std.parseJson(config);
  // Objects merged key by key, at any depth (so one alert's duration, one severity or one
  // setting of one host kind can be changed alone); every other setting is replaced.
  local deep = ['for', 'severities', 'hostKinds'];
  local merge(a, b) =
    if std.isObject(a) && std.isObject(b) then
      a + { [k]: merge(if std.objectHas(a, k) then a[k] else null, b[k]) for k in std.objectFields(b) }
    else b;
  local base = (import 'mixin.libsonnet')._config;
  local m = (import 'mixin.libsonnet') + { _config+:: {
    [k]: if std.member(deep, k) then merge(base[k], o[k]) else o[k]
    for k in std.objectFields(o)
  } };
  {
    'alerts/pagescope-rules.yml': { groups: m.prometheusRules.groups + m.prometheusAlerts.groups },
  } + {
    ['dashboards/' + name]: m.grafanaDashboards[name]
    for name in std.objectFields(m.grafanaDashboards)
  }
