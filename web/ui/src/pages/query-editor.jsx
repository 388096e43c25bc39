// The PromQL editor of Explore: a textarea with a completion popup of its
// own (metric names, functions, aggregations and keywords; label names
// and values from the label APIs, narrowed with match[] to the metric
// being typed; durations in [ ]), Ctrl/Cmd+Enter to run, and the query
// history in localStorage.
//
//   <QueryEditor value={expr} onChange={setExpr} onRun={run} range={{ start, end }} />
//
// Keys: Ctrl/Cmd+Enter runs; Ctrl+Space opens the completion; in the
// popup ↑/↓ choose, Enter or Tab take, Escape closes.
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { get, isAbort } from '../api.js';
import { aggregations, completionContext, durations, functions, keywords, rank } from './promql.js';

const historyKey = 'vigil.explore.history';
const historyMax = 50;

/** loadHistory returns the past queries, newest first. */
export function loadHistory() {
  try {
    const h = JSON.parse(window.localStorage.getItem(historyKey) || '[]');
    return Array.isArray(h) ? h.filter((x) => typeof x === 'string') : [];
  } catch {
    return [];
  }
}

/** remember puts expr first in the history. */
export function remember(expr) {
  const e = expr.trim();
  if (!e) return;
  const h = [e, ...loadHistory().filter((x) => x !== e)].slice(0, historyMax);
  try {
    window.localStorage.setItem(historyKey, JSON.stringify(h));
  } catch {
    // Storage full or disabled: the history is a convenience.
  }
}

// caretPoint measures where the caret at pos is drawn inside textarea,
// relative to its top-left corner, with a mirror element of the same
// text metrics.
function caretPoint(ta, pos) {
  const cs = getComputedStyle(ta);
  const div = document.createElement('div');
  for (const p of ['font', 'letterSpacing', 'lineHeight', 'padding', 'border', 'boxSizing', 'width', 'tabSize', 'textTransform']) div.style[p] = cs[p];
  Object.assign(div.style, { position: 'absolute', visibility: 'hidden', whiteSpace: 'pre-wrap', overflowWrap: 'break-word', top: '0', left: '-9999px' });
  div.textContent = ta.value.slice(0, pos);
  const span = document.createElement('span');
  span.textContent = '\u200b';
  div.appendChild(span);
  document.body.appendChild(div);
  const pt = { x: span.offsetLeft - ta.scrollLeft, y: span.offsetTop + span.offsetHeight - ta.scrollTop };
  div.remove();
  return pt;
}

// useLabelAPI fetches and caches label names and values for completion.
function useLabelAPI(range) {
  const cache = useRef(new Map());
  const fetchList = (key, path, params) => {
    if (!cache.current.has(key)) {
      const p = get(path, params).then((list) => list || [], (err) => {
        cache.current.delete(key); // try again next time
        throw err;
      });
      cache.current.set(key, p);
    }
    return cache.current.get(key);
  };
  const span = range ? { start: Math.floor(range.start / 1000), end: Math.ceil(range.end / 1000) } : {};
  return {
    metrics: () => fetchList('__name__', '/api/v1/label/__name__/values', span),
    labels: (metric) => fetchList(`labels|${metric}`, '/api/v1/labels', { ...span, 'match[]': metric || undefined }),
    values: (label, metric) => fetchList(`values|${label}|${metric}`, `/api/v1/label/${encodeURIComponent(label)}/values`,
      { ...span, 'match[]': metric || undefined }),
    metadata: () => fetchList('metadata', '/api/v1/metadata', {}).catch(() => ({})),
  };
}

// candidates lists the completion items for ctx: { label, insert, kind,
// detail, caret } where caret is where the cursor goes inside insert.
async function candidates(ctx, api, explicit) {
  if (ctx.kind === 'metric') {
    if (!ctx.prefix && !explicit) return [];
    const [names, meta] = await Promise.all([api.metrics(), api.metadata()]);
    const fn = Object.keys(functions);
    const agg = Object.keys(aggregations);
    const out = [];
    for (const n of rank(agg, ctx.prefix, 20)) out.push({ label: n, insert: `${n}()`, caret: n.length + 1, kind: 'aggregation', detail: aggregations[n][1] });
    for (const n of rank(fn, ctx.prefix, 20)) out.push({ label: n, insert: `${n}()`, caret: n.length + 1, kind: 'function', detail: functions[n][1] });
    for (const n of rank(names, ctx.prefix, 80)) {
      const m = meta && meta[n] && meta[n][0];
      out.push({ label: n, insert: n, kind: 'metric', detail: m ? `${m.type}${m.help ? ': ' + m.help : ''}` : '' });
    }
    if (ctx.prefix) for (const n of rank(keywords, ctx.prefix, 5)) out.push({ label: n, insert: n, kind: 'keyword', detail: '' });
    // Metrics first when the prefix is a metric's start, as most are.
    const order = { metric: 0, aggregation: 1, function: 2, keyword: 3 };
    const exact = (c) => (c.label.toLowerCase().startsWith(ctx.prefix.toLowerCase()) ? 0 : 1);
    return out.sort((a, b) => exact(a) - exact(b) || order[a.kind] - order[b.kind]).filter((c) => c.label !== ctx.prefix || c.kind !== 'metric');
  }
  if (ctx.kind === 'label') {
    const names = await api.labels(ctx.metric);
    return rank(names.filter((n) => n !== '__name__'), ctx.prefix).map((n) => ({ label: n, insert: n, kind: 'label', detail: ctx.metric ? `label of ${ctx.metric}` : 'label' }));
  }
  if (ctx.kind === 'value') {
    const values = await api.values(ctx.label, ctx.metric);
    return rank(values, ctx.prefix).map((v) => {
      const esc = JSON.stringify(v).slice(1, -1);
      return ctx.quoted
        ? { label: v, insert: `${esc}"`, kind: 'value', detail: ctx.label }
        : { label: v, insert: `"${esc}"`, kind: 'value', detail: ctx.label };
    });
  }
  if (ctx.kind === 'duration') {
    return rank(durations, ctx.prefix).map((d) => ({ label: d, insert: `${d}]`, kind: 'duration', detail: 'range' }));
  }
  return [];
}

export function QueryEditor({ value, onChange, onRun, range, jump }) {
  const ta = useRef(null);
  const api = useLabelAPI(range);
  const [pop, setPop] = useState(null); // { items, sel, ctx, x, y }
  const [compError, setCompError] = useState('');
  const seq = useRef(0);

  // jump ({ pos }) puts the cursor on an error's position.
  useEffect(() => {
    const el = ta.current;
    if (!jump || !el) return;
    el.focus();
    el.setSelectionRange(jump.pos, Math.min(jump.pos + 1, el.value.length));
  }, [jump]);

  // Grow with the text, up to a limit.
  useLayoutEffect(() => {
    const el = ta.current;
    if (!el) return;
    el.style.height = 'auto';
    el.style.height = `${Math.min(Math.max(el.scrollHeight + 2, 38), 320)}px`;
  }, [value]);

  const complete = async (explicit) => {
    const el = ta.current;
    if (!el) return;
    const pos = el.selectionStart;
    if (pos !== el.selectionEnd) return setPop(null);
    const ctx = completionContext(el.value, pos);
    const my = ++seq.current;
    try {
      const items = await candidates(ctx, api, explicit);
      if (my !== seq.current) return;
      setCompError('');
      if (items.length === 0) return setPop(null);
      const pt = caretPoint(el, ctx.from);
      setPop({ items, sel: 0, ctx, x: Math.max(0, pt.x), y: pt.y + 4 });
    } catch (err) {
      if (my === seq.current && !isAbort(err)) {
        setCompError(`Completion unavailable: ${err.message}`);
        setPop(null);
      }
    }
  };

  const accept = (item) => {
    const el = ta.current;
    const { ctx } = pop;
    const pos = el.selectionStart;
    // Replace the typed prefix and any name characters right after the
    // cursor, so completing inside a word does not leave half of it.
    let end = pos;
    if (ctx.kind !== 'value' || !ctx.quoted) while (end < el.value.length && /[a-zA-Z0-9_:]/.test(el.value[end])) end++;
    const next = el.value.slice(0, ctx.from) + item.insert + el.value.slice(end);
    const caret = ctx.from + (item.caret ?? item.insert.length);
    // The text and the caret go into the editor at once, not after the
    // next render: a key typed right after the choice must land behind the
    // item, not where the caret was before it.
    el.value = next;
    el.focus();
    el.setSelectionRange(caret, caret);
    onChange(next);
    setPop(null);
    // An opened function goes on to its argument.
    if (item.kind === 'function' || item.kind === 'aggregation') requestAnimationFrame(() => complete(true));
  };

  // An Enter the editor acted on must not also insert a line break, even
  // when its keypress comes separately (as automation tools send it).
  const swallow = useRef(false);
  const onKeyDown = (e) => {
    swallow.current = false;
    if ((e.ctrlKey || e.metaKey) && e.key === 'Enter') {
      e.preventDefault();
      swallow.current = true;
      setPop(null);
      onRun(ta.current.value);
      return;
    }
    if (e.ctrlKey && (e.key === ' ' || e.code === 'Space')) {
      e.preventDefault();
      complete(true);
      return;
    }
    if (!pop) return;
    if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      e.preventDefault();
      const n = pop.items.length;
      setPop({ ...pop, sel: (pop.sel + (e.key === 'ArrowDown' ? 1 : n - 1)) % n });
    } else if (e.key === 'Enter' || e.key === 'Tab') {
      e.preventDefault();
      swallow.current = e.key === 'Enter';
      accept(pop.items[pop.sel]);
    } else if (e.key === 'Escape') {
      e.preventDefault();
      setPop(null);
    }
  };

  const onInput = (e) => {
    onChange(e.currentTarget.value);
    const last = e.currentTarget.value[e.currentTarget.selectionStart - 1] || '';
    // Open as one types a name, or right after what starts a label or value.
    if (/[a-zA-Z0-9_:{,="[(]/.test(last)) complete(false);
    else setPop(null);
  };

  // Keep the chosen item in view.
  const list = useRef(null);
  useEffect(() => {
    const el = list.current && list.current.children[pop ? pop.sel : 0];
    if (el && el.scrollIntoView) el.scrollIntoView({ block: 'nearest' });
  }, [pop && pop.sel]);

  return (
    <div class="pg-editor">
      <textarea ref={ta} id="explore-expr" class="input pg-expr" rows="1" spellcheck={false}
        autocomplete="off" autocapitalize="off" value={value} aria-label="PromQL expression" aria-autocomplete="list"
        aria-expanded={pop ? 'true' : 'false'} aria-controls="explore-completion"
        placeholder="Expression (Ctrl+Enter to run, Ctrl+Space to complete), e.g. rate(http_requests_total[5m])"
        onInput={onInput} onKeyDown={onKeyDown}
        onKeyPress={(e) => { if (swallow.current && e.key === 'Enter') e.preventDefault(); swallow.current = false; }}
        // A click on the list blurs the editor for a moment; keep the list
        // when the focus came back (the accepted item, more typing).
        onBlur={() => setTimeout(() => { if (document.activeElement !== ta.current) setPop(null); }, 150)}
        onClick={() => pop && setPop(null)} />
      {pop && (
        <ul class="pg-completion" id="explore-completion" role="listbox" ref={list}
          style={{ left: `min(${pop.x}px, calc(100% - 16rem))`, top: `${pop.y}px` }}>
          {pop.items.map((it, i) => (
            <li key={`${it.kind}:${it.label}`} role="option" aria-selected={i === pop.sel} class={i === pop.sel ? 'sel' : ''}
              data-kind={it.kind} data-value={it.label}
              onMouseDown={(e) => { e.preventDefault(); accept(it); }}>
              <span class={`pg-kind pg-kind-${it.kind}`} title={it.kind}>{it.kind[0]}</span>
              <span class="pg-comp-label">{it.label}</span>
              {it.detail && <span class="pg-comp-detail">{it.detail}</span>}
            </li>
          ))}
        </ul>
      )}
      {compError && <p class="muted pg-comp-error">{compError}</p>}
    </div>
  );
}
