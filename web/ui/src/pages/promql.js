// What the Explore editor knows of PromQL to complete it: the functions
// and aggregations of the engine Vigil links (Prometheus 3, without the
// experimental ones), the keywords, and where in an expression the cursor
// is — typing a metric or function name, a label name inside {} or a
// by (...) clause, a label value after =, or a duration inside [].

/** functions: name → [signature, what it does]. */
export const functions = {
  abs: ['abs(v instant-vector)', 'absolute value'],
  absent: ['absent(v instant-vector)', '1 if the vector has no elements'],
  absent_over_time: ['absent_over_time(v range-vector)', '1 if the range has no samples'],
  acos: ['acos(v instant-vector)', 'arccosine'], acosh: ['acosh(v instant-vector)', 'inverse hyperbolic cosine'],
  asin: ['asin(v instant-vector)', 'arcsine'], asinh: ['asinh(v instant-vector)', 'inverse hyperbolic sine'],
  atan: ['atan(v instant-vector)', 'arctangent'], atanh: ['atanh(v instant-vector)', 'inverse hyperbolic tangent'],
  avg_over_time: ['avg_over_time(v range-vector)', 'average over the range'],
  ceil: ['ceil(v instant-vector)', 'round up'],
  changes: ['changes(v range-vector)', 'how often the value changed'],
  clamp: ['clamp(v instant-vector, min scalar, max scalar)', 'limit to [min, max]'],
  clamp_max: ['clamp_max(v instant-vector, max scalar)', 'limit to max'],
  clamp_min: ['clamp_min(v instant-vector, min scalar)', 'limit to min'],
  cos: ['cos(v instant-vector)', 'cosine'], cosh: ['cosh(v instant-vector)', 'hyperbolic cosine'],
  count_over_time: ['count_over_time(v range-vector)', 'number of samples in the range'],
  day_of_month: ['day_of_month(v=vector(time()) instant-vector)', 'day of the month (UTC)'],
  day_of_week: ['day_of_week(v=vector(time()) instant-vector)', 'day of the week, 0 = Sunday (UTC)'],
  day_of_year: ['day_of_year(v=vector(time()) instant-vector)', 'day of the year (UTC)'],
  days_in_month: ['days_in_month(v=vector(time()) instant-vector)', 'days in the month (UTC)'],
  deg: ['deg(v instant-vector)', 'radians to degrees'],
  delta: ['delta(v range-vector)', 'difference between first and last value (gauges)'],
  deriv: ['deriv(v range-vector)', 'per-second derivative by linear regression (gauges)'],
  exp: ['exp(v instant-vector)', 'e to the power of the value'],
  first_over_time: ['first_over_time(v range-vector)', 'oldest sample in the range'],
  floor: ['floor(v instant-vector)', 'round down'],
  histogram_avg: ['histogram_avg(v instant-vector)', 'average of native histograms'],
  histogram_count: ['histogram_count(v instant-vector)', 'observation count of native histograms'],
  histogram_fraction: ['histogram_fraction(lower scalar, upper scalar, v instant-vector)', 'share of observations between two values'],
  histogram_quantile: ['histogram_quantile(φ scalar, b instant-vector)', 'φ-quantile from histogram buckets (by le)'],
  histogram_stddev: ['histogram_stddev(v instant-vector)', 'standard deviation of native histograms'],
  histogram_stdvar: ['histogram_stdvar(v instant-vector)', 'standard variance of native histograms'],
  histogram_sum: ['histogram_sum(v instant-vector)', 'sum of observations of native histograms'],
  hour: ['hour(v=vector(time()) instant-vector)', 'hour of the day (UTC)'],
  idelta: ['idelta(v range-vector)', 'difference of the last two samples'],
  increase: ['increase(v range-vector)', 'increase of a counter over the range'],
  irate: ['irate(v range-vector)', 'per-second rate from the last two samples'],
  label_join: ['label_join(v instant-vector, dst string, separator string, src...string)', 'join label values into a new label'],
  label_replace: ['label_replace(v instant-vector, dst string, replacement string, src string, regex string)', 'set a label from a regex match'],
  last_over_time: ['last_over_time(v range-vector)', 'newest sample in the range'],
  ln: ['ln(v instant-vector)', 'natural logarithm'], log10: ['log10(v instant-vector)', 'decimal logarithm'],
  log2: ['log2(v instant-vector)', 'binary logarithm'],
  max_over_time: ['max_over_time(v range-vector)', 'maximum over the range'],
  min_over_time: ['min_over_time(v range-vector)', 'minimum over the range'],
  minute: ['minute(v=vector(time()) instant-vector)', 'minute of the hour (UTC)'],
  month: ['month(v=vector(time()) instant-vector)', 'month of the year (UTC)'],
  pi: ['pi()', 'π'],
  predict_linear: ['predict_linear(v range-vector, t scalar)', 'value in t seconds by linear regression'],
  present_over_time: ['present_over_time(v range-vector)', '1 for series with a sample in the range'],
  quantile_over_time: ['quantile_over_time(φ scalar, v range-vector)', 'φ-quantile over the range'],
  rad: ['rad(v instant-vector)', 'degrees to radians'],
  rate: ['rate(v range-vector)', 'per-second rate of a counter over the range'],
  resets: ['resets(v range-vector)', 'number of counter resets'],
  round: ['round(v instant-vector, to_nearest=1 scalar)', 'round to the nearest multiple'],
  scalar: ['scalar(v instant-vector)', 'the single value as a scalar'],
  sgn: ['sgn(v instant-vector)', 'sign: -1, 0 or 1'],
  sin: ['sin(v instant-vector)', 'sine'], sinh: ['sinh(v instant-vector)', 'hyperbolic sine'],
  sort: ['sort(v instant-vector)', 'sort ascending by value'],
  sort_desc: ['sort_desc(v instant-vector)', 'sort descending by value'],
  sqrt: ['sqrt(v instant-vector)', 'square root'],
  stddev_over_time: ['stddev_over_time(v range-vector)', 'standard deviation over the range'],
  stdvar_over_time: ['stdvar_over_time(v range-vector)', 'standard variance over the range'],
  sum_over_time: ['sum_over_time(v range-vector)', 'sum over the range'],
  tan: ['tan(v instant-vector)', 'tangent'], tanh: ['tanh(v instant-vector)', 'hyperbolic tangent'],
  time: ['time()', 'evaluation time in seconds since the epoch'],
  timestamp: ['timestamp(v instant-vector)', 'timestamp of each sample'],
  vector: ['vector(s scalar)', 'the scalar as a vector without labels'],
  year: ['year(v=vector(time()) instant-vector)', 'year (UTC)'],
};

/** aggregations: name → [signature, what it does]. */
export const aggregations = {
  sum: ['sum by (labels) (v)', 'sum over dimensions'],
  min: ['min by (labels) (v)', 'minimum over dimensions'],
  max: ['max by (labels) (v)', 'maximum over dimensions'],
  avg: ['avg by (labels) (v)', 'average over dimensions'],
  group: ['group by (labels) (v)', '1 for each group'],
  stddev: ['stddev by (labels) (v)', 'standard deviation over dimensions'],
  stdvar: ['stdvar by (labels) (v)', 'standard variance over dimensions'],
  count: ['count by (labels) (v)', 'number of elements'],
  count_values: ['count_values by (labels) ("label", v)', 'number of elements with the same value'],
  bottomk: ['bottomk by (labels) (k, v)', 'smallest k elements'],
  topk: ['topk by (labels) (k, v)', 'largest k elements'],
  quantile: ['quantile by (labels) (φ, v)', 'φ-quantile over dimensions'],
};

/** keywords completes where an identifier may be a keyword. */
export const keywords = ['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'offset', 'bool', 'and', 'or', 'unless', 'atan2'];

/** The durations offered inside [ ]. */
export const durations = ['1m', '5m', '10m', '15m', '30m', '1h', '6h', '12h', '1d', '7d'];

// Keywords whose parenthesis holds label names.
const labelListKeywords = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right']);

const ident = /[a-zA-Z_:][a-zA-Z0-9_:]*$/;

/**
 * completionContext tells what the cursor at pos in text is typing:
 *   { kind: 'metric', prefix, from }            a metric, function, aggregation or keyword
 *   { kind: 'label', prefix, from, metric }     a label name (in {} or by (...))
 *   { kind: 'value', prefix, from, label, metric, quoted }  a label value
 *   { kind: 'duration', prefix, from }          a duration in [ ]
 *   { kind: 'none' }                            inside a string or comment elsewhere
 * from is where the typed prefix starts (it is replaced on completion);
 * metric is the metric name of the selector, '' when it has none; quoted
 * says whether the value's opening quote is already typed.
 */
export function completionContext(text, pos) {
  const src = text.slice(0, pos);
  const stack = []; // { ch, at, name }
  let inString = null; // { quote, at }
  let lastIdent = '';
  for (let i = 0; i < src.length; i++) {
    const c = src[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === inString.quote) inString = null;
      continue;
    }
    if (c === '#') {
      const nl = src.indexOf('\n', i);
      if (nl < 0) return { kind: 'none' };
      i = nl;
      continue;
    }
    if (c === '"' || c === "'" || c === '`') {
      inString = { quote: c, at: i };
    } else if (c === '{' || c === '(' || c === '[') {
      stack.push({ ch: c, at: i, name: lastIdent });
    } else if (c === '}' || c === ')' || c === ']') {
      stack.pop();
    }
    if (/[a-zA-Z0-9_:]/.test(c)) {
      const m = ident.exec(src.slice(0, i + 1));
      lastIdent = m ? m[0] : lastIdent;
    } else if (!/\s/.test(c)) {
      lastIdent = '';
    }
  }
  const top = stack[stack.length - 1];
  if (inString) {
    if (top && top.ch === '{') {
      const m = /([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*$/.exec(src.slice(0, inString.at));
      if (m) return { kind: 'value', prefix: src.slice(inString.at + 1), from: inString.at + 1, label: m[1], metric: top.name, quoted: true };
    }
    return { kind: 'none' };
  }
  if (top && top.ch === '{') {
    const part = src.slice(Math.max(top.at, src.lastIndexOf(',')) + 1);
    let m = /^\s*([a-zA-Z_][a-zA-Z0-9_]*)?$/.exec(part);
    if (m) return { kind: 'label', prefix: m[1] || '', from: pos - (m[1] || '').length, metric: top.name };
    m = /^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*$/.exec(part);
    if (m) return { kind: 'value', prefix: '', from: pos, label: m[1], metric: top.name, quoted: false };
    return { kind: 'none' };
  }
  if (top && top.ch === '[') {
    const m = /[0-9a-z]*$/.exec(src);
    return { kind: 'duration', prefix: m[0], from: pos - m[0].length };
  }
  if (top && top.ch === '(' && labelListKeywords.has(top.name)) {
    const m = /([a-zA-Z_][a-zA-Z0-9_]*)?$/.exec(src);
    return { kind: 'label', prefix: m[1] || '', from: pos - (m[1] || '').length, metric: metricsIn(text)[0] || '' };
  }
  const m = ident.exec(src);
  const prefix = m ? m[0] : '';
  // A number (5m in "offset 5m", 0.95) is not the start of a name.
  if (prefix && /[0-9.]$/.test(src.slice(0, pos - prefix.length))) return { kind: 'none' };
  return { kind: 'metric', prefix, from: pos - prefix.length };
}

/**
 * metricsIn lists the names in text that are neither functions,
 * aggregations nor keywords: the metrics the expression selects, to
 * narrow label look-ups in by (...).
 */
export function metricsIn(text) {
  const out = [];
  const re = /([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\{|\[|\)|$|\s|[-+*/%^<>=!,])/g;
  const stripped = text.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`|\{[^}]*\}/g, (s) => (s[0] === '{' ? '{}' : '""'));
  let m;
  while ((m = re.exec(stripped))) {
    const n = m[1];
    if (functions[n] || aggregations[n] || keywords.includes(n) || /^(inf|nan)$/i.test(n)) continue;
    const before = stripped.slice(0, m.index);
    // A name in by (...) or on (...) is a label, not a metric.
    if (/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*$/.test(before)) continue;
    if (!out.includes(n)) out.push(n);
  }
  return out;
}

/**
 * rank orders candidates for prefix: names starting with it first, then
 * names containing it, each alphabetically; others are dropped.
 */
export function rank(names, prefix, max = 60) {
  const p = prefix.toLowerCase();
  const starts = [];
  const contains = [];
  for (const n of names) {
    const l = n.toLowerCase();
    if (l.startsWith(p)) starts.push(n);
    else if (p && l.includes(p)) contains.push(n);
    if (starts.length >= max) break;
  }
  return [...starts, ...contains].slice(0, max);
}

/**
 * parseErrorPosition finds the line and column (1-based) in a PromQL
 * error such as `1:9: parse error: unexpected "}"`; null when it has none.
 */
export function parseErrorPosition(msg) {
  const m = /(?:^|\s|")(\d+):(\d+): parse error/.exec(msg || '');
  return m ? { line: Number(m[1]), col: Number(m[2]) } : null;
}

/** offsetOf turns a 1-based line and column of text into a string offset. */
export function offsetOf(text, line, col) {
  const lines = text.split('\n');
  let off = 0;
  for (let i = 0; i < line - 1 && i < lines.length; i++) off += lines[i].length + 1;
  return Math.min(text.length, off + Math.max(0, col - 1));
}
