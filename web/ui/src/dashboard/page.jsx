// The dashboard view at /d/:uid. The URL is the state: ?from=&to= (time
// range), var-<name>= (variables, repeated for several values, $__all for
// All) and refresh=; every control changes the URL and the page follows
// it, so a URL shares exactly what is on the screen.
//
// The root element carries data-drawn-ms once every panel of the first
// load has drawn: milliseconds since navigation, for the benchmark.
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { del, get, isAbort } from '../api.js';
import { navigate, setQuery } from '../router.js';
import { useSession } from '../session.js';
import { parseDuration, resolveRange } from '../time.js';
import { GRID_COLUMNS, GRID_GAP_PX, GRID_ROW_PX, expandRepeats, panelKey, sections } from './model.js';
import { Panel } from './panel.jsx';
import { RefreshPicker, TimePicker } from './timepicker.jsx';
import { initVariables, interpolate, rangeMacros, resolveVariables } from './variables.js';
import { VariablePicker } from './varpicker.jsx';

export function DashboardPage({ params, query }) {
  const uid = params.uid;
  const [loaded, setLoaded] = useState(null); // { dashboard, meta }
  const [loadError, setLoadError] = useState('');
  useEffect(() => {
    setLoaded(null);
    setLoadError('');
    const ctl = new AbortController();
    get(`/api/v1/dashboards/${encodeURIComponent(uid)}`, undefined, { signal: ctl.signal })
      .then((d) => setLoaded(d))
      .catch((err) => { if (!isAbort(err)) setLoadError(err.message); });
    return () => ctl.abort();
  }, [uid]);

  if (loadError) {
    return (
      <section class="page">
        <h1>Dashboard {uid}</h1>
        <p class="alert-box error" role="alert">Could not load the dashboard: {loadError}</p>
        <p><a href="/">All dashboards</a></p>
      </section>
    );
  }
  if (!loaded) return <section class="page"><p class="muted">Loading dashboard…</p></section>;
  return <DashboardView dashboard={loaded.dashboard} meta={loaded.meta || {}} uid={uid} query={query} />;
}

function DashboardView({ dashboard, meta, uid, query }) {
  const session = useSession();
  const time = dashboard.time || {};
  const from = query.get('from') || time.from || 'now-6h';
  const to = query.get('to') || time.to || 'now';
  const refresh = query.has('refresh') ? query.get('refresh') : (typeof dashboard.refresh === 'string' ? dashboard.refresh : '');
  const [tick, setTick] = useState(0);

  const [range, rangeError] = useMemo(() => {
    try {
      return [resolveRange(from, to), ''];
    } catch (err) {
      return [resolveRange('now-6h', 'now'), err.message];
    }
  }, [from, to, tick]);

  // Variables follow the URL's var-* parameters.
  const varKey = [...query.entries()].filter(([k]) => k.startsWith('var-')).map((e) => e.join('=')).join('&');
  const [vars, setVars] = useState(null);
  const [varsError, setVarsError] = useState('');
  // The key of the URL that the last resolution wrote: reaching it needs
  // no second resolution.
  const resolvedKey = useRef('');
  useEffect(() => {
    if (resolvedKey.current === `${varKey}|${from}|${to}`) return undefined;
    const ctl = new AbortController();
    resolveVariables(initVariables(dashboard, query), 0, range, ctl.signal)
      .then((resolved) => {
        setVars(resolved);
        setVarsError('');
        const q = syncVarsToURL(resolved, query);
        resolvedKey.current = `${[...q.entries()].filter(([k]) => k.startsWith('var-')).map((e) => e.join('=')).join('&')}|${from}|${to}`;
      })
      .catch((err) => { if (!isAbort(err)) setVarsError(err.message); });
    return () => ctl.abort();
  }, [dashboard, varKey, from, to]);

  // Auto-refresh: a new tick re-resolves the range and re-runs the queries.
  useEffect(() => {
    const ms = parseDuration(refresh || '');
    if (!ms || ms < 1000) return undefined;
    const id = setInterval(() => setTick((t) => t + 1), ms);
    return () => clearInterval(id);
  }, [refresh]);

  const grid = useRef(null);
  const [gridWidth, setGridWidth] = useState(Math.max(320, window.innerWidth - 32));
  useEffect(() => {
    if (grid.current) setGridWidth(grid.current.clientWidth || gridWidth);
  }, [vars !== null]);

  const secs = useMemo(() => sections(dashboard), [dashboard]);
  const [openRows, setOpenRows] = useState(() => new Set(secs.map((s, i) => (s.row && !s.collapsed ? i : -1)).filter((i) => i >= 0)));

  // Drawing time of the first load, for the benchmark.
  const settled = useRef(new Set());
  const [drawnMs, setDrawnMs] = useState(null);
  // The panels of each section with repeats expanded for the variables.
  const expanded = useMemo(
    () => (vars ? secs.map((s, si) => expandRepeats(s.placed, vars, (p, pi) => panelKey(p, `${si}-${pi}`))) : []),
    [secs, vars],
  );
  const visiblePanels = secs.reduce((n, s, i) => n + (s.row === null || openRows.has(i) ? (expanded[i] || s.placed).length : 0), 0);
  const onSettled = (id) => {
    settled.current.add(id);
    if (drawnMs === null && settled.current.size >= visiblePanels) setDrawnMs(Math.round(performance.now()));
  };

  const onZoom = (a, b) => setQuery({ from: String(a), to: String(b) });
  const title = vars ? interpolate(dashboard.title || uid, vars, rangeMacros(range), range) : (dashboard.title || uid);
  useEffect(() => { document.title = `${title} · Vigil`; }, [title]);

  const onDelete = async () => {
    if (!window.confirm(`Delete the dashboard "${dashboard.title || uid}"? This cannot be undone.`)) return;
    try {
      await del(`/api/v1/dashboards/${encodeURIComponent(uid)}`);
      navigate('/');
    } catch (err) {
      window.alert(`Could not delete the dashboard: ${err.message}`);
    }
  };

  return (
    <section class="page dashboard" data-uid={uid} data-drawn-ms={drawnMs ?? undefined} data-vars-ready={vars ? '1' : undefined}>
      <div class="page-head dash-toolbar">
        <div class="dash-heading">
          <a href="/" class="muted">Dashboards</a> <span class="muted">/</span> <h1 id="dashboard-title">{title}</h1>
          {meta.source && <span class={`badge badge-${meta.source}`}>{meta.source === 'builtin' ? 'built-in' : meta.source}</span>}
        </div>
        <div class="page-actions">
          <TimePicker from={from} to={to} onChange={(f, t) => setQuery({ from: f, to: t })} />
          <button type="button" class="btn" id="zoom-out" title="Zoom out (twice the range)" onClick={() => {
            const span = range.end - range.start;
            setQuery({ from: String(Math.round(range.start - span / 2)), to: String(Math.round(Math.min(Date.now(), range.end + span / 2))) });
          }}>⊖</button>
          <RefreshPicker value={refresh} onChange={(r) => setQuery({ refresh: r || undefined })} onRefresh={() => setTick((t) => t + 1)} />
          <a class="btn" id="export" href={`/api/v1/dashboards/${encodeURIComponent(uid)}/export`} download={`${uid}.json`}>Export</a>
          {session.isAdmin && !meta.readOnly && <button type="button" class="btn btn-danger" id="delete-dashboard" onClick={onDelete}>Delete</button>}
        </div>
      </div>
      {rangeError && <p class="alert-box error" role="alert">{rangeError}; showing the last 6 hours.</p>}
      {varsError && <p class="alert-box error" role="alert">Variables could not be resolved: {varsError}</p>}
      {vars && vars.some((v) => v.hide !== 2) && (
        <div class="var-bar">
          {vars.map((v, i) => <VariablePicker key={v.name} v={v} onChange={(values) => changeVariable(vars, i, values)} />)}
        </div>
      )}
      <div ref={grid}>
        {vars && secs.map((s, si) => (
          <div class="dash-section" key={si}>
            {s.row && (
              <button type="button" class="row-head" aria-expanded={openRows.has(si)} data-row={s.row.title || ''}
                onClick={() => {
                  const o = new Set(openRows);
                  if (o.has(si)) o.delete(si); else o.add(si);
                  setOpenRows(o);
                }}>
                <span class="row-caret">{openRows.has(si) ? '▾' : '▸'}</span>
                {interpolate(s.row.title || '', vars, rangeMacros(range), range)}
                {!openRows.has(si) && <span class="muted"> ({s.placed.length} panels)</span>}
                {s.row.repeat && <span class="panel-unsupported-note" role="note"> ⚠ not applied: repeat by ${s.row.repeat}</span>}
              </button>
            )}
            {(s.row === null || openRows.has(si)) && (
              <div class="dash-grid" style={{ gridAutoRows: GRID_ROW_PX + 'px', gap: GRID_GAP_PX + 'px' }}>
                {expanded[si].map(({ panel, pos, key: id, vars: scoped }) => (
                  <div class="grid-item" key={id} style={{ '--x': pos.x + 1, '--w': pos.w, '--y': pos.y + 1, '--h': pos.h }}>
                    <Panel panel={panel} panelId={id} range={range} vars={scoped || vars} refreshTick={tick}
                      widthPx={(gridWidth * pos.w) / GRID_COLUMNS} onZoom={onZoom} onSettled={onSettled} />
                  </div>
                ))}
              </div>
            )}
          </div>
        ))}
      </div>
    </section>
  );
}

// changeVariable puts a variable's new values into the URL; the page
// follows (re-resolving the variables after it and re-running queries).
function changeVariable(vars, i, values) {
  setQuery({ ['var-' + vars[i].name]: values });
}

// syncVarsToURL writes resolved values the URL lacks (defaults, values
// that were fixed up), without a new history entry, and returns the
// resulting query.
function syncVarsToURL(vars, query) {
  const changes = {};
  for (const v of vars) {
    if (v.type === 'constant') continue;
    const inURL = query.getAll('var-' + v.name);
    if (inURL.join('\u0000') !== v.current.join('\u0000')) changes['var-' + v.name] = v.current;
  }
  if (Object.keys(changes).length) setQuery(changes, { replace: true });
  return new URLSearchParams(window.location.search);
}
