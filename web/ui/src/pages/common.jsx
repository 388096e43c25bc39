// What the Explore, Alerts, Silences, Targets, Rules and Status pages
// share: a fetch hook with loading and error state (and a quiet periodic
// refresh), the loading, error and empty boxes, label badges, relative
// times, and the pages' own styles (pages.css, bundled with the rest).
//
//   const { data, error, loading, reload } = useFetch((signal) => get('/api/v1/targets', {}, { signal }), [], { every: 15000 });
//   if (error && !data) return <ErrorBox what="the targets" error={error} />;
import { useEffect, useRef, useState } from 'preact/hooks';
import { isAbort } from '../api.js';
import { setQuery } from '../router.js';
import { formatTime } from '../time.js';
import './pages.css';

/**
 * useFetch runs load(signal) now, whenever deps change and when reload()
 * is called; with every (ms) it runs again that long after each answer.
 * It returns { data, error, loading, reload, at }: data stays the last
 * good answer while a new request runs or after one fails, so a page does
 * not flash empty on each refresh; at is when data arrived (ms).
 */
export function useFetch(load, deps, { every = 0 } = {}) {
  const [state, setState] = useState({ data: null, error: '', loading: true, at: 0 });
  const [tick, setTick] = useState(0);
  const loadRef = useRef(load);
  loadRef.current = load;
  useEffect(() => {
    const ctl = new AbortController();
    let timer = 0;
    const again = () => {
      if (every > 0) timer = setTimeout(() => setTick((t) => t + 1), every);
    };
    setState((s) => ({ ...s, loading: true }));
    loadRef.current(ctl.signal).then(
      (data) => { setState({ data, error: '', loading: false, at: Date.now() }); again(); },
      (err) => {
        if (isAbort(err)) return;
        setState((s) => ({ ...s, error: err.message || String(err), loading: false }));
        again();
      });
    return () => { ctl.abort(); clearTimeout(timer); };
  }, [...deps, tick, every]);
  return { ...state, reload: () => setTick((t) => t + 1) };
}

/** Loading is the placeholder while a page's first answer is on its way. */
export function Loading({ what }) {
  return <p class="muted pg-loading" data-loading="">Loading {what}…</p>;
}

/**
 * ErrorBox shows a failed request: what could not be done and the
 * server's message, with a retry button when retry is given.
 */
export function ErrorBox({ what, error, retry }) {
  if (!error) return null;
  return (
    <div class="alert-box error pg-error" role="alert" data-error="">
      {what ? <span>Could not load {what}: </span> : null}
      <span class="pg-error-msg">{error}</span>
      {retry && <button type="button" class="btn btn-link" onClick={retry}>Try again</button>}
    </div>
  );
}

/** Empty says there is nothing to show and what to do about it. */
export function Empty({ children, id }) {
  return <div class="pg-empty" id={id} data-empty="">{children}</div>;
}

/** sortedLabelNames lists the names of labels, alertname first, then alphabetically. */
export function sortedLabelNames(labels) {
  return Object.keys(labels || {}).sort((a, b) => (a === 'alertname' ? -1 : b === 'alertname' ? 1 : a < b ? -1 : a > b ? 1 : 0));
}

/** Labels shows a label set as name="value" badges, without the names in omit. */
export function Labels({ labels, omit = [], onClick }) {
  const names = sortedLabelNames(labels).filter((n) => !omit.includes(n));
  if (names.length === 0) return <span class="muted">no labels</span>;
  return (
    <span class="pg-labels">
      {names.map((n) => {
        const text = `${n}="${labels[n]}"`;
        return onClick
          ? <button type="button" key={n} class="pg-label pg-label-btn" title={`Filter by ${text}`} onClick={() => onClick(n, labels[n])}>{text}</button>
          : <span key={n} class="pg-label">{text}</span>;
      })}
    </span>
  );
}

/** labelsKey is a canonical string of a label set, to compare and join sets. */
export function labelsKey(labels) {
  return sortedLabelNames(labels).map((n) => `${n}=${JSON.stringify(labels[n])}`).join(',');
}

/** selectorOf writes a label set as a PromQL selector: name{a="b", ...}. */
export function selectorOf(labels) {
  const name = labels.__name__ || '';
  const rest = sortedLabelNames(labels).filter((n) => n !== '__name__')
    .map((n) => `${n}=${JSON.stringify(labels[n])}`);
  return rest.length ? `${name}{${rest.join(', ')}}` : name || '{}';
}

/**
 * ago writes the time from ms to now as "5m 12s ago" ("in 2h" when in
 * the future), two units at most.
 */
export function ago(ms, now = Date.now()) {
  const d = now - ms;
  const s = spell(Math.abs(d));
  return d >= 0 ? `${s} ago` : `in ${s}`;
}

/** spell writes a length of time as "3d 4h", "5m 12s" or "0.8s". */
export function spell(ms) {
  if (ms < 1000) return ms < 1 ? '0s' : `${Math.round(ms)}ms`;
  const units = [['d', 86400e3], ['h', 3600e3], ['m', 60e3], ['s', 1e3]];
  const parts = [];
  let rest = ms;
  for (const [u, v] of units) {
    if (rest >= v || parts.length > 0) {
      const n = Math.floor(rest / v);
      rest -= n * v;
      if (n > 0 || parts.length > 0) parts.push(`${n}${u}`);
    }
    if (parts.length === 2) break;
  }
  return parts.filter((p) => !/^0/.test(p)).join(' ') || '0s';
}

/**
 * parseTimestamp reads an API time (RFC 3339 string, seconds, or ms)
 * into ms; NaN for Go's zero time and anything unreadable.
 */
export function parseTimestamp(t) {
  if (t === null || t === undefined || t === '') return NaN;
  if (typeof t === 'number') return t > 1e11 ? t : t * 1000;
  const ms = Date.parse(t);
  // Go's zero time (0001-01-01) means "never".
  return isNaN(ms) || ms < 0 ? NaN : ms;
}

/** When shows a time as "5m ago" with the absolute time on hover; "never" when unset. */
export function When({ at, never = 'never', id }) {
  const ms = parseTimestamp(at);
  if (isNaN(ms)) return <span class="muted" id={id}>{never}</span>;
  return <time id={id} dateTime={new Date(ms).toISOString()} title={formatTime(ms)}>{ago(ms)}</time>;
}

/** seconds writes a duration in seconds for humans: "12ms", "1.4s", "2m 5s". */
export function seconds(s) {
  if (typeof s !== 'number' || !isFinite(s)) return '–';
  if (s === 0) return '0s';
  if (s < 1) return s < 0.001 ? `${(s * 1e6).toFixed(0)}µs` : `${(s * 1000).toFixed(s < 0.01 ? 2 : 1)}ms`;
  if (s < 60) return `${s.toFixed(2)}s`;
  return spell(s * 1000);
}

/** exploreHref links an expression to the Explore page. */
export function exploreHref(expr, extra = {}) {
  const q = new URLSearchParams({ expr, ...extra });
  return `/explore?${q.toString()}`;
}

/** Stat is one name/value pair of a summary row. */
export function Stat({ label, children, id }) {
  return (
    <div class="pg-stat" id={id}>
      <span class="pg-stat-label">{label}</span>
      <span class="pg-stat-value">{children}</span>
    </div>
  );
}

/**
 * Tabs is a row of tab buttons: items [{ id, label }], the chosen id in
 * value; a button's element id is idPrefix + its id ('all' for '').
 */
export function Tabs({ label, items, value, onChange, idPrefix }) {
  return (
    <div class="pg-tabs" role="tablist" aria-label={label}>
      {items.map((it) => (
        <button type="button" role="tab" key={it.id} id={idPrefix ? idPrefix + (it.id || 'all') : undefined} aria-selected={value === it.id}
          class={`pg-tab ${value === it.id ? 'active' : ''}`} onClick={() => onChange(it.id)}>{it.label}</button>
      ))}
    </div>
  );
}

/** SearchFilter is a page's text filter, kept in the URL's q parameter. */
export function SearchFilter({ id, query, label, placeholder }) {
  return (
    <input type="search" class="input pg-search" id={id} value={query.get('q') || ''} aria-label={label} placeholder={placeholder}
      onInput={(e) => setQuery({ q: e.currentTarget.value || null }, { replace: true })} />
  );
}
