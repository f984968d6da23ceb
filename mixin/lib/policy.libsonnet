// The alerting policy's machinery, shared by the rules, the alerts and the dashboards: host
// kinds (config.libsonnet: hostKindLabel, hostKindDetect, hostKindDefault, hostKinds), the
// severity of an alert on each kind, and the THP mode each kind expects.
{
  // The labels that identify a host's series across a fleet (a kind is joined on them).
  hostLabels(c):: ['job', 'instance'] + c.fleetLabels,
  hostOn(c):: 'on (%s)' % std.join(', ', $.hostLabels(c)),

  kindRecord:: 'instance:pagescope_host_kind:info',

  // The kind of every host that has one other than the default: its label, else the first
  // detected kind, else (hosts with `up`) the default.
  kindExpr(c)::
    local by = std.join(', ', $.hostLabels(c));
    local on = $.hostOn(c);
    local labelled = 'group by (%(by)s, kind) (label_replace(up{%(u)s, %(k)s!=""}, "kind", "$1", "%(k)s", "(.*)"))'
                     % { by: by, u: c.upSelector, k: c.hostKindLabel };
    local detected = [
      'label_replace(group by (%(by)s) (%(e)s), "kind", "%(kind)s", "", "")'
      % { by: by, e: d.expr % { s: c.selector }, kind: d.kind }
      for d in c.hostKindDetect
    ];
    local default = 'label_replace(group by (%(by)s) (up{%(u)s}), "kind", "%(kind)s", "", "")'
                    % { by: by, u: c.upSelector, kind: c.hostKindDefault };
    std.join('\nor ' + on + '\n', [labelled] + detected + [default]) + '\n',

  local kindsOf(c) = std.objectFields(c.hostKinds),
  local regex(list) = std.join('|', list),

  // `expr` restricted to the hosts of the kinds listed (a kind not in hostKinds counts as the
  // default kind).
  gate(c, expr, kinds)::
    local all = kindsOf(c);
    local others = [k for k in all if !std.member(kinds, k)];
    if std.length(others) == 0 then expr
    else if std.member(kinds, c.hostKindDefault) then
      '(\n%s)\nunless %s %s{kind=~"%s"}\n' % [$.indent(expr), $.hostOn(c), $.kindRecord, regex(others)]
    else
      '(\n%s)\nand %s %s{kind=~"%s"}\n' % [$.indent(expr), $.hostOn(c), $.kindRecord, regex(kinds)],

  indent(expr)::
    local lines = std.split(std.rstripChars(expr, '\n'), '\n');
    std.join('', ['  ' + l + '\n' for l in lines]),

  // The severity of alert `name` (default `default`) on hosts of `kind`; null: not raised there.
  severity(c, name, default, kind)::
    local k = c.hostKinds[kind];
    if std.objectHas(k, 'severities') && std.objectHas(k.severities, name) then k.severities[name]
    else if std.objectHas(c.severities, name) then c.severities[name]
    else default,

  // [{ severity, kinds }] for alert `name`: one entry per severity it has on some kind.
  severityGroups(c, name, default)::
    local per = { [k]: $.severity(c, name, default, k) for k in kindsOf(c) };
    local sevs = std.set([per[k] for k in kindsOf(c) if per[k] != null]);
    [{ severity: s, kinds: [k for k in kindsOf(c) if per[k] == s] } for s in sevs],

  // The THP mode each kind expects: [{ mode, kinds }] (kinds with no expectation left out).
  thpExpectations(c)::
    local per = {
      [k]: if std.objectHas(c.hostKinds[k], 'thpExpectedMode') then c.hostKinds[k].thpExpectedMode else c.thpExpectedMode
      for k in kindsOf(c)
    };
    local modes = std.set([per[k] for k in kindsOf(c) if per[k] != null]);
    [{ mode: m, kinds: [k for k in kindsOf(c) if per[k] == m] } for m in modes],

  // pagescope_thp_enabled of the active mode on hosts whose kind expects another one.
  thpUnexpected(c, e)::
    $.gate(c, 'pagescope_thp_enabled{%s, mode!="%s"} == 1\n' % [c.selector, e.mode], e.kinds),
}
