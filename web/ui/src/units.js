// Value formatting by Grafana unit id (fieldConfig.defaults.unit, the
// legacy graph's yaxes[].format): formatValue(1536, 'bytes') is "1.50 KiB",
// formatValue(0.25, 'percentunit') "25.0%". Unknown units are appended as
// written, so nothing is hidden; "suffix:X" and "prefix:X" work as in
// Grafana.

const SI = ['', 'k', 'M', 'G', 'T', 'P', 'E'];
const SI_SMALL = ['', 'm', 'µ', 'n', 'p'];
const IEC = ['', 'Ki', 'Mi', 'Gi', 'Ti', 'Pi', 'Ei'];

/** decimalsFor picks the decimals for v when the panel does not say. */
function autoDecimals(v) {
  const a = Math.abs(v);
  if (a === 0 || a >= 100) return 0;
  if (a >= 10) return 1;
  if (a >= 1) return 2;
  return Math.min(6, Math.max(2, 1 - Math.floor(Math.log10(a)) + 1));
}

function fixed(v, decimals) {
  const d = decimals == null || decimals < 0 ? autoDecimals(v) : decimals;
  let s = v.toFixed(Math.min(d, 20));
  if (decimals == null && s.includes('.')) s = s.replace(/\.?0+$/, '');
  return s;
}

// scaled divides v by factor until it is below factor, naming the prefix.
function scaled(v, factor, prefixes, unit, decimals, sep = ' ') {
  let i = 0;
  let x = v;
  while (Math.abs(x) >= factor && i < prefixes.length - 1) {
    x /= factor;
    i++;
  }
  return fixed(x, decimals) + sep + prefixes[i] + unit;
}

// scaledSmall is scaled for values below 1 (milli, micro, nano).
function scaledSI(v, unit, decimals, sep = ' ') {
  if (v !== 0 && Math.abs(v) < 1) {
    let x = v;
    let i = 0;
    while (Math.abs(x) < 1 && i < SI_SMALL.length - 1) {
      x *= 1000;
      i++;
    }
    return fixed(x, decimals) + sep + SI_SMALL[i] + unit;
  }
  return scaled(v, 1000, SI, unit, decimals, sep);
}

// short is Grafana's "short": 1.2 K, 3.4 Mil, without a unit.
function short(v, decimals) {
  const names = ['', ' K', ' Mil', ' Bil', ' Tri', ' Quadr'];
  let i = 0;
  let x = v;
  while (Math.abs(x) >= 1000 && i < names.length - 1) {
    x /= 1000;
    i++;
  }
  return fixed(x, decimals) + names[i];
}

// duration formats seconds as the largest fitting unit ("1.5 h", "320 ms").
function duration(seconds, decimals) {
  const a = Math.abs(seconds);
  if (a === 0) return '0 s';
  if (a < 1e-6) return fixed(seconds * 1e9, decimals) + ' ns';
  if (a < 1e-3) return fixed(seconds * 1e6, decimals) + ' µs';
  if (a < 1) return fixed(seconds * 1e3, decimals) + ' ms';
  if (a < 60) return fixed(seconds, decimals) + ' s';
  if (a < 3600) return fixed(seconds / 60, decimals) + ' min';
  if (a < 86400) return fixed(seconds / 3600, decimals) + ' hour';
  if (a < 604800) return fixed(seconds / 86400, decimals) + ' day';
  if (a < 31536000) return fixed(seconds / 604800, decimals) + ' week';
  return fixed(seconds / 31536000, decimals) + ' year';
}

const timeUnits = { ns: 1e-9, 'µs': 1e-6, us: 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600, d: 86400 };

const rates = {
  reqps: ' req/s', rps: ' rd/s', wps: ' wr/s', iops: ' io/s', ops: ' ops/s', opm: ' ops/min',
  rpm: ' rd/min', wpm: ' wr/min', cps: ' c/s', cpm: ' c/min', reqpm: ' req/min',
};

const currency = { currencyUSD: '$', currencyEUR: '€', currencyGBP: '£', currencyJPY: '¥', currencyZAR: 'R', currencyINR: '₹' };

/**
 * formatValue writes v (a number, null or NaN) in unit with decimals
 * (null: automatic). Nulls are "No data"'s job; here they are "null".
 */
export function formatValue(v, unit, decimals) {
  if (v === null || v === undefined) return 'null';
  if (typeof v !== 'number') return String(v);
  if (Number.isNaN(v)) return 'NaN';
  if (!Number.isFinite(v)) return v > 0 ? '+Inf' : '-Inf';
  const u = unit || 'short';
  if (u.startsWith('suffix:')) return fixed(v, decimals) + u.slice(7);
  if (u.startsWith('prefix:')) return u.slice(7) + fixed(v, decimals);
  if (u in rates) return short(v, decimals) + rates[u];
  if (u in currency) return currency[u] + short(v, decimals);
  if (u in timeUnits) return duration(v * timeUnits[u], decimals);
  switch (u) {
    case 'none': return fixed(v, decimals);
    case 'short': return short(v, decimals);
    case 'percent': return fixed(v, decimals == null ? (Math.abs(v) >= 100 ? 0 : 1) : decimals) + '%';
    case 'percentunit': return fixed(v * 100, decimals == null ? (Math.abs(v) >= 1 ? 0 : 1) : decimals) + '%';
    case 'bytes': return scaled(v, 1024, IEC.map((p) => p), 'B', decimals);
    case 'decbytes': return scaled(v, 1000, SI, 'B', decimals);
    case 'bits': return scaled(v, 1024, IEC, 'b', decimals);
    case 'decbits': return scaled(v, 1000, SI, 'b', decimals);
    case 'kbytes': return scaled(v * 1024, 1024, IEC, 'B', decimals);
    case 'mbytes': return scaled(v * 1024 * 1024, 1024, IEC, 'B', decimals);
    case 'Bps': case 'binBps': return scaled(v, 1024, IEC, 'B/s', decimals);
    case 'decBps': return scaled(v, 1000, SI, 'B/s', decimals);
    case 'bps': case 'binbps': return scaled(v, 1024, IEC, 'b/s', decimals);
    case 'decbps': return scaled(v, 1000, SI, 'b/s', decimals);
    case 'hertz': return scaledSI(v, 'Hz', decimals);
    case 'watt': return scaledSI(v, 'W', decimals);
    case 'volt': return scaledSI(v, 'V', decimals);
    case 'celsius': return fixed(v, decimals) + '°C';
    case 'dtdurations': case 'dtdhms': return duration(v, decimals);
    case 'dtdurationms': return duration(v / 1000, decimals);
    case 'locale': return v.toLocaleString();
    case 'sci': return v.toExponential(decimals == null ? 2 : decimals);
    case 'dateTimeAsIso': case 'dateTimeAsSystem': return new Date(v).toISOString().replace('T', ' ').slice(0, 19);
    case 'bool': return v ? 'true' : 'false';
    case 'bool_yes_no': return v ? 'yes' : 'no';
    case 'bool_on_off': return v ? 'on' : 'off';
  }
  return short(v, decimals) + ' ' + u;
}

/**
 * axisFormatter returns a function for the ticks of an axis in unit: the
 * same as formatValue, with the decimals the tick spacing needs.
 */
export function axisFormatter(unit, decimals) {
  return (ticks) => {
    let d = decimals;
    if (d == null && ticks.length > 1) {
      const step = Math.abs(ticks[1] - ticks[0]);
      d = step > 0 && step < 1 ? Math.min(6, Math.ceil(-Math.log10(step))) : null;
    }
    return ticks.map((t) => (t == null ? '' : formatValue(t, unit, d)));
  };
}
