// Time ranges as Grafana writes them: "now-6h", "now", "now-1d/d",
// epoch milliseconds ("1700000000000"), or local date-times
// ("2024-05-01 12:00:00"). Every function takes and returns milliseconds
// unless it says otherwise.

const unitMs = { ms: 1, s: 1e3, m: 60e3, h: 3600e3, d: 86400e3, w: 7 * 86400e3 };

/** The quick ranges of the time picker, as in Grafana. */
export const quickRanges = [
  { from: 'now-5m', to: 'now', label: 'Last 5 minutes' },
  { from: 'now-15m', to: 'now', label: 'Last 15 minutes' },
  { from: 'now-30m', to: 'now', label: 'Last 30 minutes' },
  { from: 'now-1h', to: 'now', label: 'Last 1 hour' },
  { from: 'now-3h', to: 'now', label: 'Last 3 hours' },
  { from: 'now-6h', to: 'now', label: 'Last 6 hours' },
  { from: 'now-12h', to: 'now', label: 'Last 12 hours' },
  { from: 'now-24h', to: 'now', label: 'Last 24 hours' },
  { from: 'now-2d', to: 'now', label: 'Last 2 days' },
  { from: 'now-7d', to: 'now', label: 'Last 7 days' },
  { from: 'now-30d', to: 'now', label: 'Last 30 days' },
  { from: 'now/d', to: 'now/d', label: 'Today' },
  { from: 'now-1d/d', to: 'now-1d/d', label: 'Yesterday' },
  { from: 'now/w', to: 'now/w', label: 'This week' },
];

/** The refresh intervals offered by the auto-refresh picker ('' is off). */
export const refreshIntervals = ['', '5s', '10s', '30s', '1m', '5m', '15m', '30m', '1h'];

/**
 * parseDuration parses "90s", "5m", "1h30m", "2d", "1w", "250ms" (and
 * Grafana's "1M" = 30 days, "1y" = 365 days) into milliseconds; it returns
 * NaN for anything else.
 */
export function parseDuration(s) {
  if (typeof s !== 'string') return NaN;
  const str = s.trim();
  if (str === '') return NaN;
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d|w|M|y)/y;
  let total = 0;
  let pos = 0;
  while (pos < str.length) {
    re.lastIndex = pos;
    const m = re.exec(str);
    if (!m) return NaN;
    const n = parseFloat(m[1]);
    const u = m[2];
    total += n * (u === 'M' ? 30 * unitMs.d : u === 'y' ? 365 * unitMs.d : unitMs[u]);
    pos = re.lastIndex;
  }
  return total;
}

/**
 * formatDuration writes ms as a Prometheus duration ("1h30m", "15s",
 * "250ms"), the largest units first.
 */
export function formatDuration(ms) {
  if (!isFinite(ms) || ms <= 0) return '0s';
  let rest = Math.round(ms);
  let out = '';
  for (const [u, v] of [['w', unitMs.w], ['d', unitMs.d], ['h', unitMs.h], ['m', unitMs.m], ['s', unitMs.s], ['ms', 1]]) {
    if (rest >= v) {
      const n = Math.floor(rest / v);
      out += n + u;
      rest -= n * v;
    }
  }
  return out;
}

/** isRelative reports whether s is a "now..." expression. */
export function isRelative(s) {
  return typeof s === 'string' && s.trim().startsWith('now');
}

/**
 * parseTime turns a range end into epoch milliseconds: "now", "now-6h",
 * "now-1d/d" (rounded to the start of the unit, or its end when roundUp,
 * as Grafana rounds the "to" end), epoch milliseconds, or a local
 * "YYYY-MM-DD[ HH:mm[:ss]]" (or any ISO 8601 string). NaN when invalid.
 */
export function parseTime(s, { roundUp = false, now = Date.now() } = {}) {
  if (typeof s === 'number') return s;
  if (typeof s !== 'string') return NaN;
  const str = s.trim();
  if (/^\d+$/.test(str)) {
    const n = Number(str);
    // Eight digits is a date (20240501) in Grafana; epoch values are longer.
    return str.length === 8 ? parseLocal(`${str.slice(0, 4)}-${str.slice(4, 6)}-${str.slice(6)}`) : n;
  }
  if (str.startsWith('now')) return parseRelative(str.slice(3), roundUp, now);
  return parseLocal(str);
}

function parseRelative(rest, roundUp, now) {
  const d = new Date(now);
  const re = /([+-])(\d+)(ms|s|m|h|d|w|M|y)|\/(s|m|h|d|w|M|y)/y;
  let pos = 0;
  while (pos < rest.length) {
    re.lastIndex = pos;
    const m = re.exec(rest);
    if (!m) return NaN;
    pos = re.lastIndex;
    if (m[1]) {
      const n = (m[1] === '-' ? -1 : 1) * Number(m[2]);
      if (m[3] === 'M') d.setMonth(d.getMonth() + n);
      else if (m[3] === 'y') d.setFullYear(d.getFullYear() + n);
      else if (m[3] === 'd') d.setDate(d.getDate() + n);
      else if (m[3] === 'w') d.setDate(d.getDate() + 7 * n);
      else d.setTime(d.getTime() + n * unitMs[m[3]]);
    } else {
      roundTo(d, m[4], roundUp);
    }
  }
  return d.getTime();
}

// roundTo moves d to the start of its unit (local time), or to the last
// millisecond of it when up.
function roundTo(d, unit, up) {
  switch (unit) {
    case 'y': d.setMonth(0, 1); d.setHours(0, 0, 0, 0); if (up) { d.setFullYear(d.getFullYear() + 1); } break;
    case 'M': d.setDate(1); d.setHours(0, 0, 0, 0); if (up) { d.setMonth(d.getMonth() + 1); } break;
    case 'w': {
      const dow = (d.getDay() + 6) % 7; // weeks start on Monday
      d.setDate(d.getDate() - dow); d.setHours(0, 0, 0, 0);
      if (up) d.setDate(d.getDate() + 7);
      break;
    }
    case 'd': d.setHours(0, 0, 0, 0); if (up) d.setDate(d.getDate() + 1); break;
    case 'h': d.setMinutes(0, 0, 0); if (up) d.setHours(d.getHours() + 1); break;
    case 'm': d.setSeconds(0, 0); if (up) d.setMinutes(d.getMinutes() + 1); break;
    case 's': d.setMilliseconds(0); if (up) d.setSeconds(d.getSeconds() + 1); break;
  }
  if (up) d.setTime(d.getTime() - 1);
}

function parseLocal(str) {
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?)?$/.exec(str);
  if (m) {
    const [, y, mo, da, h = '0', mi = '0', se = '0', frac = '0'] = m;
    const d = new Date(+y, +mo - 1, +da, +h, +mi, +se, +frac.padEnd(3, '0'));
    // Reject 2024-02-31 and friends rather than rolling over.
    return d.getMonth() === +mo - 1 && d.getDate() === +da ? d.getTime() : NaN;
  }
  const t = Date.parse(str);
  return isNaN(t) ? NaN : t;
}

/**
 * resolveRange turns {from, to} strings into {start, end} milliseconds;
 * it throws an Error naming the bad end when one is invalid or when from
 * is not before to.
 */
export function resolveRange(from, to, now = Date.now()) {
  const start = parseTime(from, { now });
  const end = parseTime(to, { roundUp: true, now });
  if (isNaN(start)) throw new Error(`"${from}" is not a time: use now-6h, an epoch in milliseconds or YYYY-MM-DD HH:mm:ss`);
  if (isNaN(end)) throw new Error(`"${to}" is not a time: use now, an epoch in milliseconds or YYYY-MM-DD HH:mm:ss`);
  if (start >= end) throw new Error(`the range starts (${from}) at or after its end (${to})`);
  return { start, end };
}

const pad = (n, w = 2) => String(n).padStart(w, '0');

/** formatTime writes ms as a local "YYYY-MM-DD HH:mm:ss". */
export function formatTime(ms) {
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** describeRange names a range for the picker's button: "Last 6 hours", or "from to to". */
export function describeRange(from, to) {
  const q = quickRanges.find((r) => r.from === from && r.to === to);
  if (q) return q.label;
  const show = (s) => (/^\d+$/.test(s) && s.length > 8 ? formatTime(Number(s)) : s);
  if (to === 'now' && isRelative(from)) {
    const ms = parseDuration(from.slice(4));
    if (from.startsWith('now-') && !isNaN(ms)) return `Last ${from.slice(4)}`;
  }
  return `${show(from)} to ${show(to)}`;
}

/**
 * roundInterval rounds a step to a pleasant one, as Grafana does for
 * $__interval: 15s, 30s, 1m, 5m, 10m, 30m, 1h, ...
 */
export function roundInterval(ms) {
  const steps = [
    [15, 10], [35, 20], [75, 50], [150, 100], [350, 200], [750, 500], [1500, 1000],
    [3500, 2000], [7500, 5000], [12500, 10000], [17500, 15000], [25000, 20000],
    [45000, 30000], [90000, 60000], [210000, 120000], [450000, 300000],
    [1050000, 600000], [1500000, 900000], [2700000, 1200000], [5400000, 1800000],
    [9000000, 3600000], [16200000, 7200000], [32400000, 10800000], [86400000, 21600000],
    [604800000, 43200000], [1814400000, 86400000], [3628800000, 604800000],
  ];
  for (const [limit, value] of steps) if (ms < limit) return value;
  return 2592000000;
}
