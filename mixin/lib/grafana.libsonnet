// Small helpers that build Grafana dashboard JSON (schemaVersion 39) without grafonnet.
{
  local ds = { type: 'prometheus', uid: '${datasource}' },

  // A PromQL query. `instant` for stat/table panels; `table` for table panels.
  target(expr, legend='', instant=false, table=false):: {
    datasource: ds,
    expr: expr,
    legendFormat: legend,
    range: !instant,
    instant: instant,
    format: if table then 'table' else 'time_series',
    editorMode: 'code',
  },

  local base(type, title, description, unit, targets, w, h) = {
    type: type,
    title: title,
    description: description,
    datasource: ds,
    targets: [targets[i] { refId: std.char(65 + i) } for i in std.range(0, std.length(targets) - 1)],
    fieldConfig: { defaults: { unit: unit }, overrides: [] },
    _w:: w,
    _h:: h,
  },

  // `bars`: one bar per step, for events counted per interval (increase over
  // $__rate_interval): they show when the events happened, not an hour-long plateau.
  timeseries(title, description, unit, targets, w=12, h=8, stack=false, min=null, bars=false):: base('timeseries', title, description, unit, targets, w, h) {
    fieldConfig+: { defaults+: {
      custom: {
        drawStyle: if bars then 'bars' else 'line',
        lineWidth: 1,
        fillOpacity: if bars then 80 else if stack then 30 else 10,
        showPoints: 'never',
        spanNulls: false,
        stacking: { mode: if stack then 'normal' else 'none', group: 'A' },
      },
      [if min != null then 'min']: min,
    } },
    options: {
      legend: { displayMode: 'table', placement: 'bottom', showLegend: true, calcs: ['lastNotNull', 'max'] },
      tooltip: { mode: 'multi', sort: 'desc' },
    },
  },

  stat(title, description, unit, targets, w=6, h=4, textMode='auto', thresholds=null):: base('stat', title, description, unit, [t { instant: true, range: false } for t in targets], w, h) {
    fieldConfig+: { defaults+: {
      thresholds: if thresholds != null then thresholds else {
        mode: 'absolute',
        steps: [{ color: 'green', value: null }],
      },
    } },
    options: {
      reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false },
      textMode: textMode,
      colorMode: 'value',
      graphMode: 'none',
      justifyMode: 'auto',
      orientation: 'auto',
    },
  },

  bargauge(title, description, unit, targets, w=12, h=8):: base('bargauge', title, description, unit, [t { instant: true, range: false } for t in targets], w, h) {
    options: {
      reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false },
      orientation: 'horizontal',
      displayMode: 'gradient',
      showUnfilled: true,
    },
  },

  // A table of instant queries joined on their labels; `columns` renames "Value #A"... in order;
  // `hide` lists fields (by their original names) to leave out.
  table(title, description, unit, targets, columns=[], hide=[], w=24, h=8):: base('table', title, description, unit, [t { instant: true, range: false, format: 'table' } for t in targets], w, h) {
    // No footer: Grafana's current model sets footers per field
    // (fieldConfig.defaults.custom.footer.reducers); the old `footer: { show: false }` option is
    // gone from it, and leaving the reducers out means the same thing.
    options: { showHeader: true, cellHeight: 'sm' },
    transformations: [
      { id: 'merge', options: {} },
      {
        id: 'organize',
        options: {
          excludeByName: { Time: true, __name__: true } + { [h]: true for h in hide },
          renameByName: {
            ['Value #' + std.char(65 + i)]: columns[i]
            for i in std.range(0, std.length(columns) - 1)
          },
        },
      },
    ],
  },

  row(title):: { type: 'row', title: title, collapsed: false, panels: [], _w:: 24, _h:: 1 },

  // Places panels left to right, top to bottom, and numbers them.
  layout(panels)::
    local step(st, p) =
      local newLine = p.type == 'row' || st.x + p._w > 24;
      local x = if newLine then 0 else st.x;
      local y = if newLine then st.y + st.h else st.y;
      {
        x: if p.type == 'row' then 0 else x + p._w,
        y: if p.type == 'row' then y + 1 else y,
        h: if p.type == 'row' then 0 else if newLine then p._h else std.max(st.h, p._h),
        out: st.out + [p { id: std.length(st.out) + 1, gridPos: { x: x, y: y, w: p._w, h: p._h } }],
      };
    std.foldl(step, panels, { x: 0, y: 0, h: 0, out: [] }).out,

  datasourceVariable:: {
    name: 'datasource',
    label: 'Data source',
    type: 'datasource',
    query: 'prometheus',
    // No `current`: Grafana picks the default Prometheus data source (the model has no empty
    // selection, `current: {}` does not type-check).
    hide: 0,
    refresh: 1,
    regex: '',
  },

  // label_values() variable; multi-valued with "All" (=~ ".*").
  queryVariable(name, label, metricSelector, labelName):: {
    local q = 'label_values(%s, %s)' % [metricSelector, labelName],
    name: name,
    label: label,
    type: 'query',
    datasource: ds,
    // (No `definition`: Grafana's editor stores the query text there for display, but the
    // dashboard model has no such field; `query` holds it.)
    query: { query: q, refId: 'PrometheusVariableQueryEditor-VariableQuery' },
    refresh: 2,
    multi: true,
    includeAll: true,
    allValue: '.*',
    // No `current`: Grafana starts on "All" (includeVars) until the user picks values.
    sort: 1,
    hide: 0,
    regex: '',
  },

  dashboard(uid, title, description, panels, variables, config):: {
    uid: uid,
    title: title,
    description: description,
    tags: config.dashboardTags,
    timezone: config.grafanaTimezone,
    refresh: config.dashboardRefresh,
    time: { from: config.dashboardTimeFrom, to: 'now' },
    schemaVersion: 39,
    version: 1,
    editable: true,
    graphTooltip: 1,
    fiscalYearStartMonth: 0,
    liveNow: false,
    annotations: { list: [] },
    links: [{
      title: 'pagescope dashboards',
      type: 'dashboards',
      tags: config.dashboardTags,
      asDropdown: true,
      includeVars: true,
      keepTime: true,
      // Fields Grafana's dashboard model requires on every link (Grafana's own defaults).
      icon: 'external link',
      targetBlank: false,
      tooltip: '',
    }],
    templating: { list: [$.datasourceVariable] + variables },
    panels: $.layout(panels),
  },
}
