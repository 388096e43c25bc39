// Query results (frames) turned into what panels draw.
//
// A frame is one target's answer: { refId, expr, legendFormat, format,
// instant, step (s), start, end (s), resultType, result }.
import { calc, formatLegend, parseSample, seriesFromMatrix } from '../chart.js';

/** framePoints counts the samples of a frame. */
export function framePoints(f) {
  if (!f || !f.result) return 0;
  switch (f.resultType) {
    case 'matrix': return f.result.reduce((n, r) => n + (r.values ? r.values.length : 0), 0);
    case 'vector': return f.result.length;
    case 'scalar': case 'string': return 1;
  }
  return 0;
}

/**
 * timeSeries puts the range results of frames on one time axis (the
 * smallest step of the frames, from the earliest aligned start to the
 * range's end): { x, series: [{ label, rawLabel, metric, refId, values }] }.
 */
export function timeSeries(frames, range) {
  const matrices = frames.filter((f) => f.resultType === 'matrix');
  if (matrices.length === 0) return { x: new Float64Array(0), series: [] };
  const step = Math.min(...matrices.map((f) => f.step)) * 1000;
  const start = Math.min(...matrices.map((f) => f.start)) * 1000;
  let x = null;
  const series = [];
  for (const f of matrices) {
    const d = seriesFromMatrix(f.result, { start, end: range.end, step, legendFormat: f.legendFormat });
    x = d.x;
    for (const s of d.series) series.push({ ...s, rawLabel: s.label, refId: f.refId });
  }
  return { x, series };
}

/**
 * reduced gives one value per series of frames for stat, gauge, bargauge:
 * range results reduced by calcId, instant ones as they are; values and x
 * (seconds) are kept for sparklines.
 */
export function reduced(frames, calcId) {
  const out = [];
  for (const f of frames) {
    if (f.resultType === 'matrix') {
      for (const r of f.result) {
        const values = r.values.map(([, v]) => parseSample(v));
        out.push({
          label: formatLegend(f.legendFormat, r.metric), metric: r.metric, refId: f.refId,
          value: calc(values, calcId), values, x: r.values.map(([t]) => t),
        });
      }
    } else if (f.resultType === 'vector') {
      for (const r of f.result) {
        out.push({ label: formatLegend(f.legendFormat, r.metric), metric: r.metric, refId: f.refId, value: parseSample(r.value[1]), values: null, x: null });
      }
    } else if (f.resultType === 'scalar') {
      out.push({ label: f.refId, metric: {}, refId: f.refId, value: parseSample(f.result[1]), values: null, x: null });
    }
  }
  return out;
}
