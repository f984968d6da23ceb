// Entry point for mixin/build.sh: every generated file, keyed by its path in the repository.
// `config` is a JSON object merged over the mixin's _config (see config.libsonnet).
// build.sh renders the values (YAML for rules, JSON for dashboards): jsonnet's own
// std.manifestYamlDoc/manifestJsonEx are far too slow for files this size.
function(config='{}')
  local o = std.parseJson(config);
  // `for` is merged key by key, so one alert's duration can be changed alone.
  local m = (import 'mixin.libsonnet') + { _config+:: {
    [k]: o[k]
    for k in std.objectFields(o)
    if k != 'for'
  } + (if std.objectHas(o, 'for') then { 'for'+: o['for'] } else {}) };
  {
    'alerts/pagescope-rules.yml': { groups: m.prometheusRules.groups + m.prometheusAlerts.groups },
  } + {
    ['dashboards/' + name]: m.grafanaDashboards[name]
    for name in std.objectFields(m.grafanaDashboards)
  }
