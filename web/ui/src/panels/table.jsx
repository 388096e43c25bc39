// The table panel: instant results (or format "table") as one row per
// series with a column per label and a "Value" column per query, joined
// on the labels as Grafana's merge does; range results as one row per
// sample. The organize transformation (hide, rename, order columns),
// per-column units and display names from overrides, threshold colours
// and sorting by a column header are supported.
import { useState } from 'preact/hooks';
import { parseSample } from '../chart.js';
import { cssColor, thresholdColor } from '../colors.js';
import { fieldDefaults } from '../dashboard/model.js';
import { formatTime } from '../time.js';
import { formatValue } from '../units.js';

const maxRows = 1000;

// tableOf builds { columns: [{ name, kind: 'time'|'label'|'value' }], rows: [[...]] }.
function tableOf(frames) {
  const valueCols = [];
  const labelNames = new Set();
  const byKey = new Map();
  const rows = [];
  let hasTime = false;
  const multi = frames.length > 1;
  for (const f of frames) {
    const col = multi ? `Value #${f.refId}` : 'Value';
    valueCols.push(col);
    const series = f.resultType === 'matrix' ? f.result : f.resultType === 'vector' ? f.result : [];
    for (const r of series) for (const k of Object.keys(r.metric || {})) labelNames.add(k);
    if (f.resultType === 'matrix') {
      hasTime = true;
      for (const r of f.result) {
        for (const [t, v] of r.values) rows.push({ time: t * 1000, labels: r.metric, values: { [col]: parseSample(v) } });
      }
    } else if (f.resultType === 'vector') {
      hasTime = true;
      for (const r of f.result) {
        const key = JSON.stringify(Object.entries(r.metric).filter(([k]) => k !== '__name__').sort());
        let row = byKey.get(key);
        if (!row) {
          row = { time: r.value[0] * 1000, labels: { ...r.metric }, values: {} };
          byKey.set(key, row);
          rows.push(row);
        }
        row.values[col] = parseSample(r.value[1]);
      }
    } else if (f.resultType === 'scalar') {
      rows.push({ time: f.result[0] * 1000, labels: {}, values: { [col]: parseSample(f.result[1]) } });
      hasTime = true;
    }
  }
  const names = [...labelNames].sort((a, b) => (a === '__name__' ? -1 : b === '__name__' ? 1 : a.localeCompare(b)));
  const columns = [
    ...(hasTime ? [{ name: 'Time', kind: 'time' }] : []),
    ...names.map((n) => ({ name: n, kind: 'label' })),
    ...valueCols.map((n) => ({ name: n, kind: 'value' })),
  ];
  const table = rows.slice(0, maxRows).map((r) => columns.map((c) => (
    c.kind === 'time' ? r.time : c.kind === 'label' ? (r.labels[c.name] ?? '') : (r.values[c.name] ?? null))));
  return { columns, rows: table, truncated: rows.length > maxRows ? rows.length : 0 };
}

// organize applies the organize transformation of Grafana.
function organize(panel, columns) {
  const tr = (Array.isArray(panel.transformations) ? panel.transformations : []).find((t) => t && t.id === 'organize');
  let cols = columns.map((c, i) => ({ ...c, index: i, title: c.name }));
  if (!tr || !tr.options) return cols;
  const { excludeByName = {}, renameByName = {}, indexByName = {} } = tr.options;
  cols = cols.filter((c) => !excludeByName[c.name]);
  cols.forEach((c) => { if (renameByName[c.name]) c.title = renameByName[c.name]; });
  if (Object.keys(indexByName).length) {
    cols.sort((a, b) => (indexByName[a.name] ?? 1e9) - (indexByName[b.name] ?? 1e9));
  }
  return cols;
}

// columnConfig merges the defaults with the byName overrides of a column.
function columnConfig(panel, d, name) {
  const c = { unit: d.unit, decimals: d.decimals, displayName: null, thresholds: d.thresholds, mode: null };
  const custom = d.custom || {};
  c.mode = (custom.cellOptions && custom.cellOptions.type) || custom.displayMode || null;
  const overrides = (panel.fieldConfig && panel.fieldConfig.overrides) || [];
  for (const o of overrides) {
    if (!o || !o.matcher || o.matcher.id !== 'byName' || o.matcher.options !== name) continue;
    for (const p of o.properties || []) {
      if (p.id === 'unit') c.unit = p.value;
      else if (p.id === 'decimals') c.decimals = p.value;
      else if (p.id === 'displayName') c.displayName = p.value;
      else if (p.id === 'thresholds') c.thresholds = p.value;
      else if (p.id === 'custom.displayMode') c.mode = p.value;
      else if (p.id === 'custom.cellOptions' && p.value) c.mode = p.value.type;
    }
  }
  return c;
}

export function TablePanel({ panel, frames }) {
  const d = fieldDefaults(panel);
  const { columns, rows, truncated } = tableOf(frames);
  const cols = organize(panel, columns).map((c) => ({ ...c, cfg: columnConfig(panel, d, c.name) }));
  const [sort, setSort] = useState({ col: -1, desc: false });
  const sorted = sort.col < 0 ? rows : [...rows].sort((a, b) => {
    const x = a[sort.col], y = b[sort.col];
    const r = typeof x === 'number' && typeof y === 'number' ? x - y : String(x ?? '').localeCompare(String(y ?? ''));
    return sort.desc ? -r : r;
  });
  if (rows.length === 0) return <div class="panel-message panel-nodata">No data</div>;
  return (
    <div class="table-panel">
      <table class="data">
        <thead>
          <tr>
            {cols.map((c) => (
              <th key={c.name} class={c.kind === 'value' ? 'num' : ''} aria-sort={sort.col === c.index ? (sort.desc ? 'descending' : 'ascending') : undefined}>
                <button type="button" class="th-sort" onClick={() => setSort({ col: c.index, desc: sort.col === c.index ? !sort.desc : false })}>
                  {c.cfg.displayName || c.title}{sort.col === c.index ? (sort.desc ? ' ▼' : ' ▲') : ''}
                </button>
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {sorted.map((r, i) => (
            <tr key={i}>
              {cols.map((c) => {
                const v = r[c.index];
                if (c.kind === 'time') return <td key={c.name} class="mono">{formatTime(v)}</td>;
                if (c.kind === 'label') return <td key={c.name}>{v}</td>;
                const color = c.cfg.mode && c.cfg.thresholds ? thresholdColor(v, c.cfg.thresholds, d.min ?? 0, d.max ?? 100) : null;
                const style = !color ? {} : /background/.test(c.cfg.mode) ? { background: cssColor(color), color: '#fff' } : { color: cssColor(color) };
                return <td key={c.name} class="num" style={style}>{v === null ? '' : formatValue(v, c.cfg.unit, c.cfg.decimals)}</td>;
              })}
            </tr>
          ))}
        </tbody>
      </table>
      {truncated > 0 && <p class="muted">Showing the first {maxRows} of {truncated} rows.</p>}
    </div>
  );
}
