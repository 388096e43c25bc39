// The time-series chart of dashboards and Explore: uPlot on a canvas, with
// a tooltip across series, a legend whose entries toggle their series,
// drag-to-zoom reported to the caller, and axes in Grafana units.
//
//   import { TimeChart, seriesFromMatrix } from '../chart.js';
//
//   // From a Prometheus range query (start and end in ms, step in ms):
//   <TimeChart result={data.result} start={startMs} end={endMs} step={stepMs}
//     legendFormat="{{instance}}" unit="s" onZoom={(fromMs, toMs) => ...} />
//
//   // Or from prepared data (x: seconds; values: numbers or null):
//   <TimeChart data={{ x, series: [{ label, values, color }] }} />
//
// Other props: decimals, min, max, drawStyle ('line' | 'bars' | 'points'),
// lineWidth, fillOpacity (0..100), stacking ('none' | 'normal' |
// 'percent'), showPoints, tooltip ('multi' | 'single' | 'none'), legend
// ({ show, placement: 'bottom' | 'right', calcs: ['mean', 'max', ...] }),
// onDrawn() after every draw. The chart fills its parent's height.
import uPlot from 'uplot';
import { useEffect, useLayoutEffect, useMemo, useRef, useState } from 'preact/hooks';
import { seriesColor, withAlpha } from './colors.js';
import { themeColor } from './theme.js';
import { axisFormatter, formatValue } from './units.js';
import { formatTime } from './time.js';

/**
 * seriesName is Grafana's default legend of a series: the metric name
 * with its other labels, e.g. up{instance="a:9100", job="node"}.
 */
export function seriesName(metric) {
  const name = metric.__name__ || '';
  const labels = Object.keys(metric).filter((k) => k !== '__name__').sort()
    .map((k) => `${k}="${metric[k]}"`);
  if (labels.length === 0) return name || '{}';
  return `${name}{${labels.join(', ')}}`;
}

/**
 * formatLegend fills a Grafana legendFormat: {{label}} becomes the
 * series' value of label ('' when it has none); an empty format gives
 * seriesName.
 */
export function formatLegend(format, metric) {
  if (!format || format === '__auto') return seriesName(metric);
  return format.replace(/\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}/g, (_, l) => (metric[l] !== undefined ? metric[l] : ''));
}

/**
 * seriesFromMatrix aligns the series of a matrix result on one time axis
 * (seconds): the step grid from start to end when step is given (so
 * missing samples become gaps), else the union of the timestamps.
 * It returns { x: Float64Array, series: [{ label, metric, values }] }.
 */
export function seriesFromMatrix(result, { start, end, step, legendFormat } = {}) {
  let x;
  if (step > 0 && start !== undefined && end !== undefined) {
    const s = Math.ceil(start / step) * step;
    const n = Math.max(0, Math.floor((end - s) / step) + 1);
    x = new Float64Array(n);
    for (let i = 0; i < n; i++) x[i] = (s + i * step) / 1000;
  } else {
    const all = new Set();
    for (const r of result) for (const [t] of r.values || []) all.add(t);
    x = Float64Array.from([...all].sort((a, b) => a - b));
  }
  const index = new Map();
  for (let i = 0; i < x.length; i++) index.set(Math.round(x[i] * 1000), i);
  const series = result.map((r) => {
    const values = new Array(x.length).fill(null);
    for (const [t, v] of r.values || []) {
      let i = index.get(Math.round(t * 1000));
      if (i === undefined) {
        // Off the grid (a step not dividing the start): nearest slot.
        i = nearest(x, t);
      }
      if (i >= 0) values[i] = parseSample(v);
    }
    return { label: formatLegend(legendFormat, r.metric || {}), metric: r.metric || {}, values };
  });
  return { x, series };
}

function nearest(x, t) {
  let lo = 0, hi = x.length - 1;
  if (hi < 0) return -1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (x[mid] < t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** parseSample turns a Prometheus sample value string into a number. */
export function parseSample(v) {
  if (v === '+Inf') return Infinity;
  if (v === '-Inf') return -Infinity;
  return parseFloat(v);
}

/** countPoints counts the non-null values of prepared series. */
export function countPoints(series) {
  let n = 0;
  for (const s of series) for (const v of s.values) if (Number.isFinite(v)) n++;
  return n;
}

/** calc reduces values by a Grafana calculation id (legend, stat). */
export function calc(values, id) {
  const nums = [];
  for (const v of values) if (v !== null && v !== undefined && !Number.isNaN(v)) nums.push(v);
  switch (id) {
    case 'last': return values.length ? values[values.length - 1] : null;
    case 'lastNotNull': case 'current': return nums.length ? nums[nums.length - 1] : null;
    case 'first': return values.length ? values[0] : null;
    case 'firstNotNull': return nums.length ? nums[0] : null;
    case 'min': return nums.length ? Math.min(...nums) : null;
    case 'max': return nums.length ? Math.max(...nums) : null;
    case 'mean': case 'avg': return nums.length ? nums.reduce((a, b) => a + b, 0) / nums.length : null;
    case 'sum': case 'total': return nums.length ? nums.reduce((a, b) => a + b, 0) : null;
    case 'count': return nums.length;
    case 'range': return nums.length ? Math.max(...nums) - Math.min(...nums) : null;
    case 'delta': {
      let d = 0;
      for (let i = 1; i < nums.length; i++) d += nums[i] >= nums[i - 1] ? nums[i] - nums[i - 1] : nums[i];
      return nums.length ? d : null;
    }
    case 'diff': return nums.length ? nums[nums.length - 1] - nums[0] : null;
    case 'median': {
      if (!nums.length) return null;
      const s = [...nums].sort((a, b) => a - b);
      const m = s.length >> 1;
      return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
    }
    case 'variance': case 'stdDev': {
      if (!nums.length) return null;
      const mean = nums.reduce((a, b) => a + b, 0) / nums.length;
      const v = nums.reduce((a, b) => a + (b - mean) * (b - mean), 0) / nums.length;
      return id === 'variance' ? v : Math.sqrt(v);
    }
    case 'distinctCount': return new Set(nums).size;
    case 'changeCount': {
      let c = 0;
      for (let i = 1; i < nums.length; i++) if (nums[i] !== nums[i - 1]) c++;
      return c;
    }
  }
  return nums.length ? nums[nums.length - 1] : null;
}

const calcNames = {
  mean: 'Mean', avg: 'Mean', max: 'Max', min: 'Min', last: 'Last', lastNotNull: 'Last *', sum: 'Total',
  total: 'Total', first: 'First', firstNotNull: 'First *', count: 'Count', range: 'Range', delta: 'Delta',
  diff: 'Difference', median: 'Median', stdDev: 'StdDev', variance: 'Variance', current: 'Current',
};

/** stack turns series values into cumulative ones (percent: of the total). */
function stack(series, mode, n) {
  const acc = new Array(n).fill(0);
  const total = new Array(n).fill(0);
  if (mode === 'percent') {
    for (const s of series) if (s.show !== false) for (let i = 0; i < n; i++) total[i] += s.values[i] || 0;
  }
  return series.map((s) => {
    if (s.show === false) return s.values;
    const out = new Array(n);
    for (let i = 0; i < n; i++) {
      const v = s.values[i];
      if (v === null || v === undefined) { out[i] = null; continue; }
      acc[i] += mode === 'percent' ? (total[i] ? v / total[i] : 0) : v;
      out[i] = acc[i];
    }
    return out;
  });
}

export function TimeChart(props) {
  const { result, start, end, step, legendFormat } = props;
  const data = useMemo(
    () => props.data || seriesFromMatrix(result || [], { start, end, step, legendFormat }),
    [props.data, result, start, end, step, legendFormat],
  );
  const legend = props.legend || { show: true, placement: 'bottom', calcs: [] };
  // Hidden series by label, so that a refresh keeps them hidden even when
  // the series come back in another order.
  const [hidden, setHidden] = useState(() => new Set());
  const toggle = (label) => {
    const h = new Set(hidden);
    if (h.has(label)) h.delete(label); else h.add(label);
    setHidden(h);
  };
  const showLegend = legend.show !== false && legend.displayMode !== 'hidden' && data.series.length > 0;
  const right = legend.placement === 'right';
  return (
    <div class={`chart ${right ? 'chart-legend-right' : ''}`}>
      <Plot {...props} data={data} hidden={hidden} />
      {showLegend && <Legend series={data.series} hidden={hidden} toggle={toggle} calcs={legend.calcs || []}
        unit={props.unit} decimals={props.decimals} table={legend.displayMode === 'table'} />}
    </div>
  );
}

function Legend({ series, hidden, toggle, calcs, unit, decimals, table }) {
  const rows = series.map((s, i) => ({ s, i, color: s.color || seriesColor(i) }));
  if (table || calcs.length) {
    return (
      <div class="chart-legend chart-legend-table">
        <table>
          {calcs.length > 0 && (
            <thead><tr><th />{calcs.map((c) => <th key={c}>{calcNames[c] || c}</th>)}</tr></thead>
          )}
          <tbody>
            {rows.map(({ s, i, color }) => (
              <tr key={i} class={hidden.has(s.label) ? 'off' : ''} data-series={s.label}
                onClick={() => toggle(s.label)} title="Click to hide or show this series">
                <td><span class="swatch" style={{ background: color }} />{s.label}</td>
                {calcs.map((c) => <td key={c}>{formatValue(calc(s.values, c), unit, decimals)}</td>)}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    );
  }
  return (
    <div class="chart-legend">
      {rows.map(({ s, i, color }) => (
        <button type="button" key={i} class={`legend-item ${hidden.has(s.label) ? 'off' : ''}`} data-series={s.label}
          aria-pressed={hidden.has(s.label) ? 'false' : 'true'} onClick={() => toggle(s.label)} title="Click to hide or show this series">
          <span class="swatch" style={{ background: color }} />{s.label}
        </button>
      ))}
    </div>
  );
}

// themeVersion re-renders charts when the theme changes, since canvas
// colours are not CSS.
function useThemeVersion() {
  const [v, setV] = useState(0);
  useEffect(() => {
    const f = () => setV((x) => x + 1);
    window.addEventListener('vigil-theme', f);
    return () => window.removeEventListener('vigil-theme', f);
  }, []);
  return v;
}

function Plot(props) {
  const { data, hidden } = props;
  const wrap = useRef(null);
  const plot = useRef(null);
  const tip = useRef(null);
  const cbs = useRef(props);
  cbs.current = props;
  const theme = useThemeVersion();

  useLayoutEffect(() => {
    const el = wrap.current;
    if (!el) return undefined;
    const n = data.x.length;
    const stacking = props.stacking && props.stacking !== 'none' ? props.stacking : null;
    const src = data.series.map((s) => ({ ...s, show: !hidden.has(s.label) }));
    // Infinities (histogram_quantile in the +Inf bucket) and NaN cannot
    // be drawn; they are gaps, as in Grafana.
    const finite = src.map((s) => ({ ...s, values: s.values.map((v) => (Number.isFinite(v) ? v : null)) }));
    const ys = stacking ? stack(finite, stacking, n) : finite.map((s) => s.values);
    const axis = themeColor('--axis') || '#888';
    const grid = themeColor('--grid') || 'rgba(128,128,128,.2)';
    const unit = stacking === 'percent' ? 'percentunit' : props.unit;
    const drawStyle = props.drawStyle || 'line';
    const lineWidth = props.lineWidth ?? 1;
    const fillOpacity = props.fillOpacity ?? (stacking ? 40 : 0);
    const bars = drawStyle === 'bars' ? uPlot.paths.bars({ size: [0.8, 40] }) : null;
    const series = [{}];
    src.forEach((s, i) => {
      const color = s.color || seriesColor(i);
      series.push({
        label: s.label,
        show: s.show,
        stroke: color,
        width: s.lineWidth ?? lineWidth,
        fill: (s.fillOpacity ?? fillOpacity) > 0 || drawStyle === 'bars' ? withAlpha(color, drawStyle === 'bars' ? 0.8 : (s.fillOpacity ?? fillOpacity) / 100) : undefined,
        spanGaps: false,
        paths: bars || (drawStyle === 'points' ? () => null : undefined),
        points: { show: drawStyle === 'points' || props.showPoints === 'always', size: props.pointSize || 5, fill: color },
      });
    });
    const bands = [];
    if (stacking) {
      // Fill each stacked series down to the one below it, not to zero.
      const shown = src.map((s, i) => i).filter((i) => src[i].show);
      for (let k = shown.length - 1; k > 0; k--) bands.push({ series: [shown[k] + 1, shown[k - 1] + 1] });
    }
    const yFmt = axisFormatter(unit, props.decimals);
    const opts = {
      width: Math.max(50, el.clientWidth),
      height: Math.max(40, el.clientHeight),
      legend: { show: false },
      series,
      bands,
      scales: {
        x: { time: true, range: props.start !== undefined && props.end !== undefined ? () => [props.start / 1000, props.end / 1000] : undefined },
        y: {
          range: (u, dmin, dmax) => {
            const [lo, hi] = uPlot.rangeNum(dmin ?? 0, dmax ?? 1, 0.1, true);
            const min = props.min ?? (props.softMin !== undefined ? Math.min(props.softMin, lo) : lo);
            const max = props.max ?? (props.softMax !== undefined ? Math.max(props.softMax, hi) : hi);
            return min < max ? [min, max] : [min, min + 1];
          },
        },
      },
      axes: [
        { stroke: axis, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } },
        { stroke: axis, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 },
          values: (u, ticks) => yFmt(ticks), size: (u, values) => axisSize(u, values), incrs: yIncrs(props.decimals) },
      ],
      cursor: {
        drag: { x: true, y: false, setScale: false },
        points: { size: 6 },
        focus: { prox: 16 },
      },
      focus: { alpha: 0.5 },
      hooks: {
        setSelect: [(u) => {
          if (u.select.width > 2 && cbs.current.onZoom) {
            const from = u.posToVal(u.select.left, 'x') * 1000;
            const to = u.posToVal(u.select.left + u.select.width, 'x') * 1000;
            cbs.current.onZoom(Math.round(from), Math.round(to));
          }
          u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
        }],
        setCursor: [(u) => drawTooltip(u, tip.current, src, cbs.current)],
        draw: [() => { if (cbs.current.onDrawn) cbs.current.onDrawn(); }],
      },
    };
    const u = new uPlot(opts, [data.x, ...ys], el);
    plot.current = u;
    const ro = new ResizeObserver(() => {
      const w = Math.max(50, el.clientWidth), h = Math.max(40, el.clientHeight);
      if (w !== u.width || h !== u.height) u.setSize({ width: w, height: h });
    });
    ro.observe(el);
    return () => {
      ro.disconnect();
      u.destroy();
      plot.current = null;
    };
  }, [data, hidden, theme, props.unit, props.decimals, props.min, props.max, props.softMin, props.softMax,
    props.stacking, props.drawStyle, props.lineWidth, props.fillOpacity, props.showPoints, props.pointSize,
    props.start, props.end]);

  return (
    <div class="chart-plot" ref={wrap}>
      <div class="chart-tooltip" ref={tip} hidden />
    </div>
  );
}

// yIncrs limits the y axis' tick spacing to what the panel's decimals can
// show (decimals 0: whole numbers), so no two ticks read the same.
function yIncrs(decimals) {
  if (decimals === undefined || decimals === null || decimals < 0) return undefined;
  const out = [];
  for (let e = -decimals; e <= 15; e++) for (const m of [1, 2, 5]) out.push(m * 10 ** e);
  return out;
}

// axisSize makes the y axis as wide as its longest label.
function axisSize(u, values) {
  if (!values) return 40;
  const longest = values.reduce((m, v) => Math.max(m, String(v).length), 0);
  return Math.max(40, longest * 7 + 18);
}

// drawTooltip fills the tooltip at the cursor: the time, then the value of
// every visible series (mode multi, sorted by value) or of the nearest one.
function drawTooltip(u, el, src, props) {
  if (!el) return;
  const mode = props.tooltip || 'multi';
  const idx = u.cursor.idx;
  if (mode === 'none' || idx === null || idx === undefined || u.cursor.left < 0) {
    el.hidden = true;
    return;
  }
  let rows = [];
  src.forEach((s, i) => {
    if (!s.show) return;
    const v = s.values[idx];
    if (v === null || v === undefined) return;
    rows.push({ label: s.label, v, color: s.color || seriesColor(i), i });
  });
  if (mode === 'single') {
    const f = u.cursor.idx !== null ? focusedSeries(u) : -1;
    rows = rows.filter((r) => r.i === f);
  }
  if (rows.length === 0) {
    el.hidden = true;
    return;
  }
  rows.sort((a, b) => b.v - a.v);
  const max = 20;
  el.textContent = '';
  const head = document.createElement('div');
  head.className = 'chart-tooltip-time';
  head.textContent = formatTime(u.data[0][idx] * 1000);
  el.appendChild(head);
  for (const r of rows.slice(0, max)) {
    const row = document.createElement('div');
    row.className = 'chart-tooltip-row';
    const sw = document.createElement('span');
    sw.className = 'swatch';
    sw.style.background = r.color;
    const name = document.createElement('span');
    name.className = 'chart-tooltip-name';
    name.textContent = r.label;
    const val = document.createElement('span');
    val.className = 'chart-tooltip-value';
    val.textContent = formatValue(r.v, props.unit, props.decimals);
    row.append(sw, name, val);
    el.appendChild(row);
  }
  if (rows.length > max) {
    const more = document.createElement('div');
    more.className = 'muted';
    more.textContent = `and ${rows.length - max} more`;
    el.appendChild(more);
  }
  el.hidden = false;
  // Keep the tooltip inside the plot: flip to the left of the cursor on
  // the right half.
  const left = u.cursor.left + u.bbox.left / devicePixelRatio;
  const top = u.cursor.top + u.bbox.top / devicePixelRatio;
  const w = el.offsetWidth;
  const plotW = el.parentElement.clientWidth;
  el.style.left = (left + 16 + w > plotW ? Math.max(0, left - 16 - w) : left + 16) + 'px';
  el.style.top = Math.max(0, top - 10) + 'px';
}

function focusedSeries(u) {
  for (let i = 1; i < u.series.length; i++) {
    if (u.series[i]._focus) return i - 1;
  }
  // Without focus information, the series nearest the cursor.
  const idx = u.cursor.idx;
  let best = -1, dist = Infinity;
  for (let i = 1; i < u.series.length; i++) {
    const v = u.data[i][idx];
    if (v === null || v === undefined || !u.series[i].show) continue;
    const d = Math.abs(u.valToPos(v, 'y') - u.cursor.top);
    if (d < dist) { dist = d; best = i - 1; }
  }
  return best;
}
