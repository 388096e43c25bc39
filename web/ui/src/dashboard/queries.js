// Panel queries: the step of each target as Grafana computes it, and a
// limit on how many queries a dashboard runs at once.
import { query, queryRange } from '../api.js';
import { parseDuration, roundInterval } from '../time.js';
import { interpolate, intervalMacros, rangeMacros } from './variables.js';

/** maxConcurrent bounds the queries in flight, as browsers bound connections. */
const maxConcurrent = 6;
let running = 0;
const waiting = [];

// limited runs fn when fewer than maxConcurrent queries are in flight; a
// request aborted while it waits never starts.
function limited(fn, signal) {
  return new Promise((resolve, reject) => {
    const start = () => {
      if (signal && signal.aborted) {
        reject(new DOMException('aborted', 'AbortError'));
        next();
        return;
      }
      running++;
      fn().then(resolve, reject).finally(() => {
        running--;
        next();
      });
    };
    if (running < maxConcurrent) start();
    else waiting.push(start);
  });
}

function next() {
  while (running < maxConcurrent && waiting.length) waiting.shift()();
}

/** defaultScrapeMs is the data source's scrape interval of Grafana's defaults and Vigil's. */
export const defaultScrapeMs = 15000;

/**
 * panelInterval is a panel's query interval ($__interval, in ms):
 * roundInterval(range / maxDataPoints), but at least the panel's min
 * interval ("interval", e.g. "1m"; default 15s). maxDataPoints defaults to
 * the panel's width in pixels.
 */
export function panelInterval(panel, range, widthPx, vars) {
  const maxPoints = panel.maxDataPoints > 0 ? panel.maxDataPoints : Math.max(100, Math.round(widthPx));
  const minRaw = panel.interval ? interpolate(String(panel.interval), vars, rangeMacros(range), range) : '';
  const min = parseDuration(minRaw.replace(/^>/, '')) || defaultScrapeMs;
  return { intervalMs: Math.max(roundInterval((range.end - range.start) / maxPoints), min), minMs: min };
}

/**
 * planQueries turns a panel's targets into the requests to make: each
 * with its interpolated expression, instant or range, the step (seconds)
 * and the aligned start and end (seconds).
 */
export function planQueries(panel, range, widthPx, vars) {
  const targets = Array.isArray(panel.targets) ? panel.targets : [];
  const { intervalMs, minMs } = panelInterval(panel, range, widthPx, vars);
  const macros = { ...rangeMacros(range), ...intervalMacros(intervalMs, minMs) };
  const plans = [];
  targets.forEach((t, i) => {
    if (!t || t.hide || typeof t.expr !== 'string' || t.expr.trim() === '') return;
    const expr = interpolate(t.expr, vars, macros, range);
    const factor = t.intervalFactor > 0 ? t.intervalFactor : 1;
    const targetMin = t.interval ? parseDuration(interpolate(String(t.interval), vars, macros, range).replace(/^>/, '')) || 0 : 0;
    const safe = Math.ceil((range.end - range.start) / 11000);
    const stepMs = Math.max(intervalMs * factor, targetMin, safe, 1000);
    const step = stepMs / 1000;
    const instant = t.instant === true && t.range !== true;
    plans.push({
      refId: t.refId || String.fromCharCode(65 + i),
      expr,
      legendFormat: t.legendFormat || '',
      format: t.format || 'time_series',
      instant,
      step,
      start: Math.floor(range.start / 1000 / step) * step,
      end: Math.floor(range.end / 1000 / step) * step,
      time: range.end / 1000,
    });
  });
  return { plans, intervalMs };
}

/**
 * runPlan runs one planned query through the limiter and returns the
 * envelope's data.
 */
export function runPlan(p, signal) {
  return limited(() => (p.instant
    ? query(p.expr, p.time, { signal })
    : queryRange(p.expr, p.start, p.end, p.step, { signal })), signal);
}
