// Dashboard variables (templating.list) and interpolation, as Grafana does
// them for a Prometheus data source.
//
// A variable's state: { name, type, label, hide, multi, includeAll,
// allValue, options: [{ text, value }], current: [values], error }.
// current always holds an array; ALL stands for "All".
import { get, query as instantQuery } from '../api.js';
import { parseDuration, formatDuration, roundInterval } from '../time.js';
import { seriesName } from '../chart.js';

/** ALL is the value of the "All" option, in the URL too (var-zone=$__all). */
export const ALL = '$__all';

/**
 * initVariables builds the variables of dashboard with their static options
 * (custom, constant, interval, textbox) and their current values: from
 * the URL's var-<name> parameters, else the dashboard's saved current.
 */
export function initVariables(dashboard, urlQuery) {
  const list = (dashboard.templating && Array.isArray(dashboard.templating.list)) ? dashboard.templating.list : [];
  return list.filter((v) => v && typeof v.name === 'string' && v.name).map((v) => {
    const st = {
      name: v.name,
      type: v.type || 'query',
      label: v.label || v.name,
      hide: v.hide || 0,
      multi: !!v.multi,
      includeAll: !!v.includeAll,
      allValue: v.allValue === null || v.allValue === undefined || v.allValue === '' ? null : String(v.allValue),
      query: typeof v.query === 'object' && v.query !== null ? String(v.query.query ?? '') : String(v.query ?? v.definition ?? ''),
      regex: v.regex || '',
      sort: v.sort || 0,
      auto: !!v.auto, autoCount: v.auto_count || 30, autoMin: v.auto_min || '10s',
      options: [],
      current: [],
      error: '',
    };
    if (st.type === 'constant' || st.type === 'textbox') st.hide = st.type === 'constant' ? 2 : st.hide;
    st.options = staticOptions(st, v);
    const fromURL = urlQuery ? urlQuery.getAll('var-' + st.name) : [];
    st.current = fromURL.length ? fromURL : savedCurrent(v);
    if (st.type === 'constant') st.current = [st.query];
    if (st.type === 'textbox' && st.current.length === 0) st.current = [st.query];
    return st;
  });
}

function savedCurrent(v) {
  const c = v.current && v.current.value !== undefined ? v.current.value : undefined;
  if (c === undefined || c === null) return [];
  const vals = Array.isArray(c) ? c.map(String) : [String(c)];
  return vals.map((x) => (x === '$__all' || x === 'All' && v.includeAll ? ALL : x));
}

function staticOptions(st, v) {
  switch (st.type) {
    case 'custom':
      return withAll(st, splitCustom(st.query));
    case 'constant':
      return [{ text: st.query, value: st.query }];
    case 'interval': {
      const opts = splitCustom(st.query);
      if (st.auto) opts.unshift({ text: 'auto', value: '$__auto_interval_' + st.name });
      return opts;
    }
    case 'textbox':
      return [];
    case 'datasource':
      return [{ text: 'Vigil', value: 'Vigil' }];
    case 'query':
      // The saved options stand until the query answers.
      return Array.isArray(v.options) ? v.options.filter((o) => o && o.value !== '$__all').map((o) => ({ text: String(o.text), value: String(o.value) })) : [];
  }
  return [];
}

// splitCustom splits "a,b,c" (commas escaped as "\,") and "text : value".
function splitCustom(q) {
  const parts = q.match(/(?:\\,|[^,])+/g) || [];
  return parts.map((p) => {
    const s = p.replace(/\\,/g, ',').trim();
    const m = /^(.+?)\s:\s(.+)$/.exec(s);
    return m ? { text: m[1].trim(), value: m[2].trim() } : { text: s, value: s };
  }).filter((o) => o.value !== '');
}

function withAll(st, options) {
  return st.includeAll ? [{ text: 'All', value: ALL }, ...options] : options;
}

/**
 * resolveVariables fetches the options of the query variables from index
 * `from` on (earlier ones interpolated into later ones' queries) and makes
 * every current value valid. It returns a new array; errors are kept in
 * the variable's error.
 */
export async function resolveVariables(vars, from, range, signal) {
  const out = vars.map((v) => ({ ...v }));
  for (let i = 0; i < out.length; i++) {
    const v = out[i];
    if (i >= from && v.type === 'query') {
      const q = interpolate(v.query, out.slice(0, i), rangeMacros(range));
      try {
        v.options = withAll(v, sortOptions(applyRegex(await metricFindQuery(q, range, signal), v.regex), v.sort));
        v.error = '';
      } catch (err) {
        if (err.name === 'AbortError') throw err;
        v.error = err.message;
        v.options = withAll(v, []);
      }
    }
    fixCurrent(v);
  }
  return out;
}

function fixCurrent(v) {
  if (v.type === 'textbox' || v.type === 'constant') return;
  const values = v.options.map((o) => o.value);
  let cur = v.current.filter((c) => values.includes(c) || (c === ALL && v.includeAll));
  if (!v.multi && cur.length > 1) cur = cur.slice(0, 1);
  if (cur.length === 0 && v.options.length > 0) {
    // A value from the URL that is not among the options still counts
    // when there are no options to choose from (e.g. the query failed).
    cur = [v.options[0].value];
  }
  if (cur.length === 0) cur = v.current.slice(0, v.multi ? undefined : 1);
  v.current = cur;
}

/**
 * metricFindQuery runs a variable query: label_values(label),
 * label_values(selector, label), label_names(), metrics(regex),
 * query_result(expr); anything else lists the series of the selector.
 * It returns the option texts.
 */
export async function metricFindQuery(q, range, signal) {
  const query = q.trim();
  const params = { start: Math.floor(range.start / 1000), end: Math.ceil(range.end / 1000) };
  let m;
  if ((m = /^label_names\(\s*(.*)\s*\)$/s.exec(query))) {
    const p = { ...params };
    if (m[1]) p['match[]'] = m[1];
    return get('/api/v1/labels', p, { signal });
  }
  if ((m = /^label_values\(\s*(?:(.*)\s*,\s*)?([a-zA-Z_][a-zA-Z0-9_]*)\s*\)$/s.exec(query))) {
    const p = { ...params };
    if (m[1]) p['match[]'] = m[1];
    return get(`/api/v1/label/${encodeURIComponent(m[2])}/values`, p, { signal });
  }
  if ((m = /^metrics\(\s*(.*)\s*\)$/s.exec(query))) {
    const names = await get('/api/v1/label/__name__/values', params, { signal });
    const re = new RegExp(m[1] || '.*');
    return names.filter((n) => re.test(n));
  }
  if ((m = /^query_result\(\s*(.+)\s*\)$/s.exec(query))) {
    const data = await instantQuery(m[1], params.end, { signal });
    if (data.resultType === 'scalar' || data.resultType === 'string') {
      return [`${data.resultType} ${data.result[1]} ${data.result[0] * 1000}`];
    }
    return data.result.map((r) => `${seriesName(r.metric).replace(/, /g, ',')} ${r.value[1]} ${Math.round(r.value[0] * 1000)}`);
  }
  if (query === '') return [];
  const series = await get('/api/v1/series', { ...params, 'match[]': query }, { signal });
  return series.map((s) => seriesName(s).replace(/, /g, ','));
}

// applyRegex filters and extracts option texts with a Grafana regex
// ("/pattern/flags"): the named groups text and value, else the first
// group, else the whole text.
function applyRegex(texts, regex) {
  const seen = new Set();
  const out = [];
  let re = null;
  if (regex) {
    const m = /^\/(.*)\/([gimsuy]*)$/s.exec(regex);
    re = m ? new RegExp(m[1], m[2].replace('g', '')) : new RegExp(regex);
  }
  for (const t of texts) {
    let text = String(t), value = String(t);
    if (re) {
      const m = re.exec(text);
      if (!m) continue;
      if (m.groups && (m.groups.text !== undefined || m.groups.value !== undefined)) {
        value = m.groups.value ?? m.groups.text;
        text = m.groups.text ?? m.groups.value;
      } else if (m.length > 1 && m[1] !== undefined) {
        text = value = m[1];
      }
    }
    if (seen.has(value)) continue;
    seen.add(value);
    out.push({ text, value });
  }
  return out;
}

function sortOptions(opts, sort) {
  const num = (s) => {
    const m = /-?\d+(\.\d+)?/.exec(s);
    return m ? parseFloat(m[0]) : -Infinity;
  };
  const cmp = {
    1: (a, b) => (a.text < b.text ? -1 : a.text > b.text ? 1 : 0),
    2: (a, b) => (a.text > b.text ? -1 : a.text < b.text ? 1 : 0),
    3: (a, b) => num(a.text) - num(b.text),
    4: (a, b) => num(b.text) - num(a.text),
    5: (a, b) => a.text.toLowerCase().localeCompare(b.text.toLowerCase()),
    6: (a, b) => b.text.toLowerCase().localeCompare(a.text.toLowerCase()),
  }[sort];
  return cmp ? [...opts].sort(cmp) : opts;
}

/** rangeMacros are the macros of a time range: $__range, $__from, ... */
export function rangeMacros(range) {
  const ms = range.end - range.start;
  const s = Math.round(ms / 1000);
  return {
    __range: s + 's', __range_s: String(s), __range_ms: String(Math.round(ms)),
    __from: String(Math.round(range.start)), __to: String(Math.round(range.end)),
  };
}

/**
 * intervalMacros are $__interval, $__interval_ms and $__rate_interval for
 * a query interval (ms) and a scrape interval (ms), as Grafana computes
 * them: rate interval = max(interval + scrape, 4 * scrape).
 */
export function intervalMacros(intervalMs, scrapeMs = 15000) {
  return {
    __interval: formatDuration(intervalMs),
    __interval_ms: String(Math.round(intervalMs)),
    __rate_interval: formatDuration(Math.max(intervalMs + scrapeMs, 4 * scrapeMs)),
  };
}

const regexSpecial = /[$^*{}[\]'+?.()|\\]/g;

// Grafana's prometheusRegularEscape and prometheusSpecialRegexEscape: the
// value lands inside a PromQL string, so backslashes are doubled again.
const regularEscape = (s) => s.replace(/\\/g, '\\\\').replace(/'/g, "\\\\'");
const specialRegexEscape = (s) => s.replace(/\\/g, '\\\\\\\\').replace(/[$^*{}[\]'+?.()|]/g, '\\\\$&');

function allValues(v) {
  return v.options.map((o) => o.value).filter((x) => x !== ALL);
}

// formatVariable writes v's current value for the format of ${v:format};
// format undefined is the Prometheus default.
function formatVariable(v, format, range) {
  if (v.type === 'interval') {
    let val = v.current[0] || '';
    if (val.startsWith('$__auto_interval')) {
      const ms = Math.max(roundInterval((range.end - range.start) / v.autoCount), parseDuration(v.autoMin) || 0);
      val = formatDuration(ms);
    }
    return val;
  }
  const isAll = v.current.includes(ALL);
  if (isAll && v.allValue !== null && format === undefined) return v.allValue;
  if (isAll && format === undefined) return '.*';
  const values = isAll ? (v.allValue !== null ? [v.allValue] : allValues(v)) : v.current;
  const texts = () => values.map((x) => (v.options.find((o) => o.value === x) || { text: x }).text);
  switch (format) {
    case undefined:
      if (!v.multi && !v.includeAll) return regularEscape(values[0] ?? '');
      if (values.length === 1) return specialRegexEscape(values[0]);
      return '(' + values.map(specialRegexEscape).join('|') + ')';
    case 'raw': return values.join(',');
    case 'regex': {
      const esc = values.map((x) => x.replace(regexSpecial, '\\$&'));
      return esc.length === 1 ? esc[0] : '(' + esc.join('|') + ')';
    }
    case 'pipe': return values.join('|');
    case 'csv': return values.join(',');
    case 'json': return JSON.stringify(values.length === 1 ? values[0] : values);
    case 'doublequote': return values.map((x) => `"${x.replace(/"/g, '\\"')}"`).join(',');
    case 'singlequote': return values.map((x) => `'${x.replace(/'/g, "\\'")}'`).join(',');
    case 'glob': return values.length === 1 ? values[0] : '{' + values.join(',') + '}';
    case 'queryparam': return values.map((x) => `var-${encodeURIComponent(v.name)}=${encodeURIComponent(x)}`).join('&');
    case 'percentencode': return values.map(encodeURIComponent).join(',');
    case 'text': return texts().join(' + ');
  }
  return values.join(',');
}

const varRE = /\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?:\.[^:}]+)?(?::([^}]+))?\}/g;

/**
 * interpolate replaces $var, ${var}, ${var:format}, [[var]] and the
 * macros in text. A name that is neither a variable nor a macro is left
 * as written.
 */
export function interpolate(text, vars, macros = {}, range = null) {
  if (typeof text !== 'string' || text.indexOf('$') < 0 && text.indexOf('[[') < 0) return text;
  const byName = new Map(vars.map((v) => [v.name, v]));
  const r = range || (macros.__from ? { start: Number(macros.__from), end: Number(macros.__to) } : { start: 0, end: 0 });
  return text.replace(varRE, (match, a, b, bFmt, c, cFmt) => {
    const name = a || b || c;
    const format = bFmt || cFmt;
    if (Object.prototype.hasOwnProperty.call(macros, name)) return macros[name];
    const v = byName.get(name);
    if (!v) return match;
    return formatVariable(v, format, r);
  });
}

/** usesVariable reports whether text refers to the variable name. */
export function usesVariable(text, name) {
  if (typeof text !== 'string') return false;
  for (const m of text.matchAll(varRE)) if ((m[1] || m[2] || m[4]) === name) return true;
  return false;
}
