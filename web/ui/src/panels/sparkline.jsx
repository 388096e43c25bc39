// A small filled line of a series' values, drawn on a canvas behind a
// stat: lighter than a chart, and nothing to interact with.
import { useRef } from 'preact/hooks';
import { useCanvas } from './canvas.js';
import { withAlpha } from '../colors.js';

export function Sparkline({ x, values, color, start, end }) {
  const ref = useRef(null);
  useCanvas(ref, (g, w, h) => {
    let lo = Infinity, hi = -Infinity;
    for (const v of values) if (Number.isFinite(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
    if (!Number.isFinite(lo)) return;
    if (hi === lo) { hi += 1; lo -= 1; }
    const t0 = start / 1000, t1 = end / 1000;
    const px = (t) => ((t - t0) / (t1 - t0)) * w;
    const py = (v) => h - 2 - ((v - lo) / (hi - lo)) * (h - 4);
    g.beginPath();
    let first = null, last = null;
    values.forEach((v, i) => {
      if (!Number.isFinite(v)) return;
      const X = px(x[i]), Y = py(v);
      if (first === null) { g.moveTo(X, Y); first = X; } else g.lineTo(X, Y);
      last = X;
    });
    g.strokeStyle = color;
    g.lineWidth = 1.5;
    g.stroke();
    g.lineTo(last, h);
    g.lineTo(first, h);
    g.closePath();
    g.fillStyle = withAlpha(color, 0.2);
    g.fill();
  }, [x, values, color, start, end]);
  return <canvas class="sparkline" ref={ref} />;
}
