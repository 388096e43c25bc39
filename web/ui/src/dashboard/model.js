// Reading Grafana's dashboard model: panels into rows and grid positions,
// repeated panels, the legacy graph panel's options into the timeseries
// ones, field config overrides.

// ALL_VALUE is variables.js's ALL, repeated here so that this module
// stays free of the API client.
const ALL_VALUE = '$__all';

/** Grafana's grid: 24 columns, rows of 30 px with 8 px between. */
export const GRID_COLUMNS = 24;
export const GRID_ROW_PX = 30;
export const GRID_GAP_PX = 8;

/** The panel types Vigil draws. */
export const supportedTypes = new Set(['timeseries', 'graph', 'stat', 'singlestat', 'gauge', 'bargauge', 'table', 'table-old', 'heatmap', 'text', 'row']);

function gridPos(p) {
  const g = p.gridPos || {};
  const num = (v, d) => (Number.isFinite(v) ? v : d);
  const w = Math.min(GRID_COLUMNS, Math.max(1, num(g.w, 12)));
  return { x: Math.min(GRID_COLUMNS - w, Math.max(0, num(g.x, 0))), y: Math.max(0, num(g.y, 0)), w, h: Math.max(1, num(g.h, 8)) };
}

/**
 * sections splits the dashboard's panels into the part before the first
 * row and one section per row: { row (null for the first), panels,
 * collapsed }. A collapsed row carries its panels inside it; an open row
 * owns the panels below it up to the next row. Each section's panels get
 * positions relative to the section's top.
 */
export function sections(dashboard) {
  const top = (Array.isArray(dashboard.panels) ? dashboard.panels : []).filter((p) => p && typeof p === 'object');
  const sorted = top.map((p, i) => ({ p, i, g: gridPos(p) }))
    .sort((a, b) => a.g.y - b.g.y || a.g.x - b.g.x || a.i - b.i);
  const out = [{ row: null, panels: [], collapsed: false }];
  for (const { p } of sorted) {
    if (p.type === 'row') {
      const inner = p.collapsed && Array.isArray(p.panels) ? p.panels.filter((x) => x && typeof x === 'object') : [];
      out.push({ row: p, panels: inner, collapsed: !!p.collapsed });
    } else {
      out[out.length - 1].panels.push(p);
    }
  }
  for (const s of out) {
    const placed = s.panels.map((p) => ({ panel: p, pos: gridPos(p) }));
    const minY = placed.reduce((m, x) => Math.min(m, x.pos.y), Infinity);
    for (const x of placed) x.pos = { ...x.pos, y: x.pos.y - (Number.isFinite(minY) ? minY : 0) };
    s.placed = placed;
  }
  return out.filter((s) => s.row !== null || s.panels.length > 0);
}

/** panelKey identifies a panel within a dashboard, for React keys and data attributes. */
export function panelKey(p, i) {
  return p.id !== undefined && p.id !== null ? String(p.id) : `i${i}`;
}

/**
 * fieldDefaults returns fieldConfig.defaults of a panel, with the legacy
 * graph's y axis (yaxes[0]) and singlestat's format mapped onto it.
 */
export function fieldDefaults(panel) {
  const d = { ...((panel.fieldConfig && panel.fieldConfig.defaults) || {}) };
  d.custom = { ...(d.custom || {}) };
  if (panel.type === 'graph') {
    const y = Array.isArray(panel.yaxes) && panel.yaxes[0] ? panel.yaxes[0] : {};
    if (d.unit === undefined && y.format) d.unit = y.format;
    if (d.min === undefined && y.min !== undefined && y.min !== null && y.min !== '') d.min = Number(y.min);
    if (d.max === undefined && y.max !== undefined && y.max !== null && y.max !== '') d.max = Number(y.max);
    if (d.decimals === undefined && y.decimals !== undefined && y.decimals !== null) d.decimals = Number(y.decimals);
    if (d.custom.lineWidth === undefined && panel.linewidth !== undefined) d.custom.lineWidth = panel.linewidth;
    if (d.custom.fillOpacity === undefined && panel.fill !== undefined) d.custom.fillOpacity = panel.fill * 10;
    if (d.custom.drawStyle === undefined) d.custom.drawStyle = panel.bars ? 'bars' : panel.points && !panel.lines ? 'points' : 'line';
    if (d.custom.stacking === undefined && panel.stack) d.custom.stacking = { mode: panel.percentage ? 'percent' : 'normal' };
  }
  if (panel.type === 'singlestat') {
    if (d.unit === undefined && panel.format) d.unit = panel.format;
    if (d.decimals === undefined && panel.decimals !== undefined) d.decimals = panel.decimals;
  }
  if (d.decimals !== undefined && d.decimals !== null) d.decimals = Number(d.decimals);
  for (const k of ['min', 'max']) if (d[k] !== undefined && d[k] !== null) d[k] = Number(d[k]);
  return d;
}

/**
 * legendOptions returns the legend of a panel in the timeseries form
 * ({ show, placement, calcs, displayMode }), from options.legend or the
 * legacy graph's legend.
 */
export function legendOptions(panel) {
  const o = panel.options && panel.options.legend;
  if (o) {
    return {
      show: o.showLegend !== false && o.displayMode !== 'hidden',
      placement: o.placement || 'bottom',
      calcs: Array.isArray(o.calcs) ? o.calcs : [],
      displayMode: o.displayMode || 'list',
    };
  }
  const l = panel.legend;
  if (l && panel.type === 'graph') {
    const calcs = [];
    for (const [k, id] of [['min', 'min'], ['max', 'max'], ['avg', 'mean'], ['current', 'lastNotNull'], ['total', 'sum']]) if (l[k]) calcs.push(id);
    return { show: l.show !== false, placement: l.rightSide ? 'right' : 'bottom', calcs, displayMode: l.alignAsTable ? 'table' : 'list' };
  }
  return { show: true, placement: 'bottom', calcs: [], displayMode: 'list' };
}

/**
 * seriesOverrides applies fieldConfig.overrides (matchers byName,
 * byRegexp) and the legacy aliasColors / seriesOverrides to prepared
 * series: colour, display name, line width, fill, hiding.
 */
export function applyOverrides(panel, series) {
  const overrides = (panel.fieldConfig && Array.isArray(panel.fieldConfig.overrides)) ? panel.fieldConfig.overrides : [];
  const aliasColors = panel.aliasColors || {};
  const legacy = Array.isArray(panel.seriesOverrides) ? panel.seriesOverrides : [];
  return series.map((s) => {
    const out = { ...s };
    if (aliasColors[s.label]) out.colorSpec = aliasColors[s.label];
    for (const o of legacy) {
      if (!o || typeof o.alias !== 'string' || !matchAlias(o.alias, s.label)) continue;
      if (o.color) out.colorSpec = o.color;
      if (o.linewidth !== undefined) out.lineWidth = o.linewidth;
      if (o.fill !== undefined) out.fillOpacity = o.fill * 10;
    }
    for (const o of overrides) {
      if (!o || !o.matcher || !matches(o.matcher, s)) continue;
      for (const prop of o.properties || []) {
        switch (prop.id) {
          case 'color':
            if (prop.value && prop.value.fixedColor) out.colorSpec = prop.value.fixedColor;
            break;
          case 'displayName':
            if (typeof prop.value === 'string') out.label = prop.value;
            break;
          case 'custom.lineWidth': out.lineWidth = prop.value; break;
          case 'custom.fillOpacity': out.fillOpacity = prop.value; break;
          case 'custom.hideFrom':
            if (prop.value && prop.value.viz) out.hidden = true;
            break;
        }
      }
    }
    return out;
  });
}

function matchAlias(alias, name) {
  const m = /^\/(.*)\/([a-z]*)$/.exec(alias);
  if (m) {
    try {
      return new RegExp(m[1], m[2].replace('g', '')).test(name);
    } catch {
      return false;
    }
  }
  return alias === name;
}

function matches(matcher, s) {
  const opt = matcher.options;
  switch (matcher.id) {
    case 'byName': return opt === s.label || opt === s.rawLabel;
    case 'byRegexp':
      try {
        return new RegExp(opt).test(s.label);
      } catch {
        return false;
      }
    case 'byFrameRefID': return opt === s.refId;
  }
  return false;
}

/** reduceCalc is the stat/gauge/bargauge calculation (default lastNotNull). */
export function reduceCalc(panel) {
  const r = panel.options && panel.options.reduceOptions;
  if (r && Array.isArray(r.calcs) && r.calcs.length) return r.calcs[0];
  if (panel.type === 'singlestat' && panel.valueName) {
    return { avg: 'mean', current: 'lastNotNull', total: 'sum' }[panel.valueName] || panel.valueName;
  }
  return 'lastNotNull';
}

/**
 * mapValue applies fieldConfig.defaults.mappings (value, range, special
 * and regex mappings) to v; it returns { text, color } or null.
 */
export function mapValue(mappings, v) {
  if (!Array.isArray(mappings)) return null;
  for (const m of mappings) {
    if (!m || !m.options) continue;
    if (m.type === 'value') {
      const hit = m.options[String(v)];
      if (hit) return { text: hit.text, color: hit.color };
    } else if (m.type === 'range') {
      const { from, to, result } = m.options;
      if (v !== null && (from === null || from === undefined || v >= from) && (to === null || to === undefined || v <= to) && result) {
        return { text: result.text, color: result.color };
      }
    } else if (m.type === 'special') {
      const { match, result } = m.options;
      const hit = (match === 'null' && v === null) || (match === 'nan' && Number.isNaN(v)) ||
        (match === 'null+nan' && (v === null || Number.isNaN(v))) || (match === 'true' && v === 1) || (match === 'false' && v === 0);
      if (hit && result) return { text: result.text, color: result.color };
    }
  }
  return null;
}

// Transformations Vigil applies: organize (tables) and merge (tables join
// their queries anyway).
const appliedTransformations = { table: new Set(['organize', 'merge']), 'table-old': new Set(['organize', 'merge']) };

/**
 * unsupportedOptions names what of a panel Vigil does not apply, so the
 * panel can say so instead of looking complete: repeating by a variable
 * that does not exist, transformations, queries of other data sources.
 */
export function unsupportedOptions(panel, vars) {
  const out = [];
  if (typeof panel.repeat === 'string' && panel.repeat && !(vars || []).some((v) => v.name === panel.repeat)) {
    out.push(`repeat by $${panel.repeat}, which is no variable`);
  }
  const applied = appliedTransformations[panel.type] || new Set();
  for (const t of Array.isArray(panel.transformations) ? panel.transformations : []) {
    if (t && t.id && !applied.has(t.id) && !t.disabled) out.push(`transformation '${t.id}'`);
  }
  for (const t of Array.isArray(panel.targets) ? panel.targets : []) {
    if (t && !t.hide && typeof t.expr !== 'string') {
      const ds = t.datasource && typeof t.datasource === 'object' ? t.datasource.type : t.datasource;
      out.push(`query ${t.refId || ''} without a PromQL expr${ds ? ` (data source ${ds})` : ''}`.replace('  ', ' '));
    }
  }
  return out;
}

/**
 * expandRepeats turns each panel of a section that repeats by a variable
 * (repeat, repeatDirection "h" or "v", maxPerRow) into one panel per
 * current value of that variable, as Grafana does: side by side in rows of
 * at most maxPerRow (default 4), or stacked; the panels below move down.
 * A clone carries vars with the variable set to its one value, and the
 * key `${key}-${index}`.
 */
export function expandRepeats(placed, vars, keyOf) {
  let out = placed.map((p, i) => ({ ...p, key: keyOf(p.panel, i), vars: null }));
  for (let i = 0; i < out.length; i++) {
    const item = out[i];
    const name = item.panel.repeat;
    const v = typeof name === 'string' && name ? vars.find((x) => x.name === name) : null;
    if (!v || item.vars) continue;
    const values = v.current.includes(ALL_VALUE) ? v.options.map((o) => o.value).filter((x) => x !== ALL_VALUE) : v.current;
    if (values.length === 0) continue;
    const { pos } = item;
    const vertical = item.panel.repeatDirection === 'v';
    const perRow = vertical ? 1 : Math.max(1, Math.min(values.length, item.panel.maxPerRow || 4));
    const w = vertical ? pos.w : Math.max(1, Math.floor(GRID_COLUMNS / perRow));
    const rowsNeeded = Math.ceil(values.length / perRow);
    const clones = values.map((val, k) => ({
      panel: item.panel,
      key: `${item.key}-${k}`,
      pos: vertical ? { ...pos, y: pos.y + k * pos.h }
        : { x: (k % perRow) * w, y: pos.y + Math.floor(k / perRow) * pos.h, w, h: pos.h },
      vars: vars.map((x) => (x === v ? { ...x, current: [val] } : x)),
    }));
    const grow = (rowsNeeded - 1) * pos.h;
    const below = (p) => p.pos.y >= pos.y + pos.h;
    out = [
      ...out.slice(0, i).map((p) => (grow && below(p) ? { ...p, pos: { ...p.pos, y: p.pos.y + grow } } : p)),
      ...clones,
      ...out.slice(i + 1).map((p) => (grow && below(p) ? { ...p, pos: { ...p.pos, y: p.pos.y + grow } } : p)),
    ];
    i += clones.length - 1;
  }
  return out;
}
