// The heatmap panel for Prometheus histograms: the buckets (series by
// "le") as rows, time as columns, the count of each cell as colour. With
// format "heatmap" (or the legacy panel's "tsbuckets") the cumulative
// buckets are turned into per-bucket counts, as Grafana does.
import { useMemo, useRef, useState } from 'preact/hooks';
import { useCanvas } from './canvas.js';
import { cssColor } from '../colors.js';
import { themeColor } from '../theme.js';
import { formatTime } from '../time.js';
import { formatValue } from '../units.js';
import { timeSeries } from './data.js';

// buckets groups series by their le bound (summing series of one bound)
// in ascending order; cumulative counts are de-accumulated.
export function buckets(frames, range, cumulative) {
  const { x, series } = timeSeries(frames, range);
  const byLe = new Map();
  for (const s of series) {
    const le = s.metric.le !== undefined ? s.metric.le : s.label;
    let b = byLe.get(le);
    if (!b) {
      b = { le, bound: le === '+Inf' ? Infinity : parseFloat(le), values: new Array(x.length).fill(null) };
      byLe.set(le, b);
    }
    s.values.forEach((v, i) => { if (v !== null && !Number.isNaN(v)) b.values[i] = (b.values[i] ?? 0) + v; });
  }
  const rows = [...byLe.values()].sort((a, b) => (Number.isNaN(a.bound) ? 1 : Number.isNaN(b.bound) ? -1 : a.bound - b.bound));
  if (cumulative) {
    for (let k = rows.length - 1; k > 0; k--) {
      rows[k].values = rows[k].values.map((v, i) => (v === null || rows[k - 1].values[i] === null ? v : Math.max(0, v - rows[k - 1].values[i])));
    }
  }
  return { x, rows };
}

// colorAt interpolates the scheme (light to dark) at t in 0..1.
const scheme = [[255, 245, 235], [253, 208, 162], [253, 141, 60], [217, 72, 1], [127, 39, 4]];
function colorAt(t, opacityColor) {
  if (opacityColor) return { rgb: opacityColor, alpha: 0.1 + 0.9 * t };
  const p = Math.min(0.9999, Math.max(0, t)) * (scheme.length - 1);
  const i = Math.floor(p), f = p - i;
  const c = scheme[i].map((v, k) => Math.round(v + (scheme[i + 1][k] - v) * f));
  return { rgb: `rgb(${c[0]},${c[1]},${c[2]})`, alpha: 1 };
}

export function HeatmapPanel({ panel, frames, range, onDrawn }) {
  const o = panel.options || {};
  const cumulative = frames.some((f) => f.format === 'heatmap') || panel.dataFormat === 'tsbuckets' || o.calculate === false;
  const data = useMemo(() => buckets(frames, range, cumulative), [frames, range, cumulative]);
  const unit = (o.yAxis && o.yAxis.unit) || (panel.yAxis && panel.yAxis.format) || (panel.fieldConfig && panel.fieldConfig.defaults && panel.fieldConfig.defaults.unit) || 'short';
  const opacityColor = o.color && o.color.mode === 'opacity' ? cssColor(o.color.fill || 'dark-orange') : null;
  const ref = useRef(null);
  const [hover, setHover] = useState(null);
  const geom = useRef(null);

  useCanvas(ref, (g, w, h) => {
    const { x, rows } = data;
    const left = 64, bottom = 22, top = 4, right = 6;
    const pw = w - left - right, ph = h - top - bottom;
    geom.current = { left, top, pw, ph };
    if (pw <= 0 || ph <= 0 || rows.length === 0 || x.length === 0) { onDrawn && onDrawn(); return; }
    let max = 0;
    for (const r of rows) for (const v of r.values) if (v !== null && v > max) max = v;
    const t0 = range.start / 1000, t1 = range.end / 1000;
    const step = x.length > 1 ? x[1] - x[0] : (t1 - t0);
    const cw = (step / (t1 - t0)) * pw;
    const rh = ph / rows.length;
    rows.forEach((r, k) => {
      const y = top + ph - (k + 1) * rh;
      r.values.forEach((v, i) => {
        if (v === null || v <= 0) return;
        const { rgb, alpha } = colorAt(max > 0 ? v / max : 0, opacityColor);
        g.globalAlpha = alpha;
        g.fillStyle = rgb;
        const cx = left + ((x[i] - step - t0) / (t1 - t0)) * pw;
        g.fillRect(Math.max(left, cx), y, Math.max(1, cw - (cw > 4 ? 1 : 0)), Math.max(1, rh - (rh > 4 ? 1 : 0)));
      });
    });
    g.globalAlpha = 1;
    g.fillStyle = themeColor('--axis') || '#888';
    g.font = '11px system-ui, sans-serif';
    g.textAlign = 'right';
    g.textBaseline = 'middle';
    const every = Math.max(1, Math.ceil(rows.length / Math.max(1, Math.floor(ph / 16))));
    rows.forEach((r, k) => {
      if (k % every) return;
      const label = r.bound === Infinity ? '+Inf' : Number.isNaN(r.bound) ? r.le : formatValue(r.bound, unit);
      g.fillText(label, left - 6, top + ph - (k + 0.5) * rh);
    });
    g.textAlign = 'center';
    g.textBaseline = 'top';
    const ticks = Math.max(2, Math.floor(pw / 110));
    for (let i = 0; i <= ticks; i++) {
      const t = t0 + ((t1 - t0) * i) / ticks;
      const label = formatTime(t * 1000).slice(t1 - t0 > 86400 ? 5 : 11, 16);
      g.fillText(label, Math.min(w - 20, Math.max(left + 20, left + (pw * i) / ticks)), top + ph + 6);
    }
    onDrawn && onDrawn();
  }, [data, range, unit, opacityColor]);

  const onMove = (ev) => {
    const gm = geom.current;
    if (!gm) return;
    const rect = ev.currentTarget.getBoundingClientRect();
    const px = ev.clientX - rect.left, py = ev.clientY - rect.top;
    const { x, rows } = data;
    if (px < gm.left || py < gm.top || py > gm.top + gm.ph || rows.length === 0 || x.length === 0) { setHover(null); return; }
    const t = range.start / 1000 + ((px - gm.left) / gm.pw) * ((range.end - range.start) / 1000);
    let i = 0;
    while (i < x.length - 1 && x[i] < t) i++;
    const k = Math.min(rows.length - 1, Math.max(0, Math.floor((gm.top + gm.ph - py) / (gm.ph / rows.length))));
    const lower = k > 0 ? rows[k - 1].le : '0';
    setHover({ px, py, time: x[i], lower, upper: rows[k].le, count: rows[k].values[i] });
  };
  return (
    <div class="heatmap" onMouseMove={onMove} onMouseLeave={() => setHover(null)}>
      <canvas ref={ref} />
      {hover && (
        <div class="chart-tooltip" style={{ left: hover.px + 14 + 'px', top: hover.py + 'px' }}>
          <div class="chart-tooltip-time">{formatTime(hover.time * 1000)}</div>
          <div>Bucket {hover.lower} – {hover.upper}</div>
          <div>Count {hover.count === null ? '—' : formatValue(hover.count, 'short')}</div>
        </div>
      )}
    </div>
  );
}
HeatmapPanel.drawsAsync = true;
