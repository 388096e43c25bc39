// The gauge panel: an arc per series between min and max (default 0 to
// 100), coloured by thresholds, with the threshold bands as an outer ring.
import { cssColor, thresholdColor } from '../colors.js';
import { fieldDefaults, reduceCalc } from '../dashboard/model.js';
import { reduced } from './data.js';
import { display } from './stat.jsx';

const START = 150, SWEEP = 240; // degrees, clockwise from 3 o'clock

// bounds are the field's min and max, or, as in Grafana, the data's: 0
// (or the lowest value when one is negative) to the highest value.
export function bounds(d, values, fallbackMax) {
  const nums = values.map((s) => s.value).filter((v) => Number.isFinite(v));
  const min = d.min ?? Math.min(0, ...nums);
  let max = d.max ?? (nums.length ? Math.max(...nums) : fallbackMax);
  if (!(max > min)) max = min + (fallbackMax || 1);
  return { min, max };
}

function polar(cx, cy, r, deg) {
  const a = (deg * Math.PI) / 180;
  return [cx + r * Math.cos(a), cy + r * Math.sin(a)];
}

function arc(cx, cy, r, from, to) {
  const [x0, y0] = polar(cx, cy, r, from);
  const [x1, y1] = polar(cx, cy, r, to);
  return `M ${x0.toFixed(2)} ${y0.toFixed(2)} A ${r} ${r} 0 ${to - from > 180 ? 1 : 0} 1 ${x1.toFixed(2)} ${y1.toFixed(2)}`;
}

export function GaugePanel({ panel, frames }) {
  const d = fieldDefaults(panel);
  const o = panel.options || {};
  const values = reduced(frames, reduceCalc(panel));
  // Percent units have a natural range; other gauges use the data's.
  const { min, max } = d.unit === 'percent' && d.max === undefined ? { min: d.min ?? 0, max: 100 }
    : d.unit === 'percentunit' && d.max === undefined ? { min: d.min ?? 0, max: 1 } : bounds(d, values, 100);
  const steps = d.thresholds && Array.isArray(d.thresholds.steps) ? d.thresholds.steps : [];
  const frac = (v) => Math.min(1, Math.max(0, (v - min) / (max - min || 1)));
  const stepFrac = (s) => (d.thresholds.mode === 'percentage' ? (s.value ?? 0) / 100 : frac(s.value ?? min));
  return (
    <div class="gauge-grid">
      {values.map((s, i) => {
        const { text, color } = display({ ...d, min, max }, s.value);
        const f = s.value === null ? 0 : frac(s.value);
        return (
          <div class="gauge" key={i} data-value={s.value === null ? '' : String(s.value)}>
            <svg viewBox="0 0 200 150" role="img" aria-label={`${s.label}: ${text}`}>
              <path d={arc(100, 100, 80, START, START + SWEEP)} class="gauge-track" fill="none" stroke-width="16" />
              {f > 0 && <path d={arc(100, 100, 80, START, START + SWEEP * Math.max(f, 0.002))} fill="none" stroke={color} stroke-width="16" />}
              {o.showThresholdMarkers !== false && steps.map((st, k) => {
                const a = k === 0 ? 0 : stepFrac(st);
                const b = k + 1 < steps.length ? stepFrac(steps[k + 1]) : 1;
                return b > a ? <path key={k} d={arc(100, 100, 93, START + SWEEP * a, START + SWEEP * b)} fill="none"
                  stroke={cssColor(st.color)} stroke-width="4" /> : null;
              })}
              <text x="100" y="108" text-anchor="middle" class="gauge-value" fill={color}>{text}</text>
            </svg>
            {(values.length > 1 || o.showName) && <div class="gauge-name">{s.label}</div>}
          </div>
        );
      })}
    </div>
  );
}

export function BarGaugePanel({ panel, frames }) {
  const d = fieldDefaults(panel);
  const o = panel.options || {};
  const values = reduced(frames, reduceCalc(panel));
  const { min, max } = bounds(d, values, 100);
  const vertical = o.orientation === 'vertical';
  const steps = d.thresholds && Array.isArray(d.thresholds.steps) ? d.thresholds.steps : [];
  const gradient = o.displayMode === 'gradient' && steps.length > 1
    ? `linear-gradient(${vertical ? 'to top' : 'to right'}, ${steps.map((s) => cssColor(s.color)).join(', ')})` : null;
  return (
    <div class={`bargauge ${vertical ? 'bargauge-vertical' : ''}`}>
      {values.map((s, i) => {
        const { text, color } = display({ ...d, min, max }, s.value);
        const pct = s.value === null ? 0 : Math.min(100, Math.max(0, ((s.value - min) / (max - min || 1)) * 100));
        const fill = vertical ? { height: pct + '%' } : { width: pct + '%' };
        return (
          <div class="bargauge-row" key={i} data-value={s.value === null ? '' : String(s.value)}>
            <div class="bargauge-name" title={s.label}>{s.label}</div>
            <div class="bargauge-track">
              <div class="bargauge-fill" style={{ ...fill, background: gradient || color }} />
            </div>
            <div class="bargauge-value" style={{ color: thresholdColor(s.value, d.thresholds, min, max, color) }}>{text}</div>
          </div>
        );
      })}
    </div>
  );
}
