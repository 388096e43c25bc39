// The Alerts page (/alerts): firing and pending alerts grouped by alert
// name, each with its labels, summary, description, runbook and other
// annotations, since when it is active and whether a silence or an
// inhibition mutes it; a "Silence" button (admins) opens the silence form
// prefilled with the alert's labels; below, the alert history timeline.
// URL: ?q=<text or matchers>&pending=0&muted=0&range=24h.
import { get } from '../api.js';
import { safeHref } from '../href.js';
import { setQuery } from '../router.js';
import { useSession } from '../session.js';
import { formatTime } from '../time.js';
import { Empty, ErrorBox, exploreHref, Labels, Loading, parseTimestamp, SearchFilter, useFetch, When } from './common.jsx';
import { loadAlerts } from './alerts-data.js';
import { AlertTimeline, historyRanges } from './alert-timeline.jsx';
import { compile, parse } from './matchers.js';
import { silenceLink } from './silence-form.jsx';

// The annotations shown in their own place, not in the list of the rest.
const runbookKeys = ['runbook_url', 'runbook', 'runbook-url'];
const shownKeys = ['summary', 'description', 'message', ...runbookKeys];

/**
 * alertFilter reads the filter box: matchers (severity="critical",
 * job=~"api.*") must all match; any other words must appear in the labels
 * or annotations.
 */
function alertFilter(text) {
  const parts = text.match(/[a-zA-Z_][a-zA-Z0-9_]*\s*(?:=~|!~|!=|=)\s*(?:"(?:[^"\\]|\\.)*"|[^\s,]*)|\S+/g) || [];
  const tests = [];
  for (const p of parts) {
    const m = parse(p);
    if (m) {
      try {
        const f = compile(m);
        tests.push((a) => f(a.labels[m.name] || ''));
        continue;
      } catch {
        // Not a valid regular expression: search for the text instead.
      }
    }
    const w = p.toLowerCase();
    tests.push((a) => JSON.stringify([a.labels, a.annotations]).toLowerCase().includes(w));
  }
  return (a) => tests.every((t) => t(a));
}

export function AlertsPage({ query }) {
  const session = useSession();
  const text = query.get('q') || '';
  const showPending = query.get('pending') !== '0';
  const showMuted = query.get('muted') !== '0';
  const range = historyRanges.includes(query.get('range')) ? query.get('range') : '24h';
  const alerts = useFetch((signal) => loadAlerts(signal), [], { every: 15000 });
  // The rules give each alert name its query, for the link to Explore.
  const rules = useFetch((signal) => get('/api/v1/rules', { type: 'alert' }, { signal }), []);
  const queries = new Map();
  for (const g of (rules.data && rules.data.groups) || []) {
    for (const r of g.rules) if (r.type === 'alerting' && !queries.has(r.name)) queries.set(r.name, r.query);
  }

  const all = alerts.data || [];
  const muted = (a) => a.silencedBy.length > 0 || a.inhibitedBy.length > 0;
  const keep = alertFilter(text);
  const shown = all.filter((a) => (showPending || a.state !== 'pending') && (showMuted || !muted(a)) && keep(a));
  const groups = new Map();
  for (const a of shown) {
    const name = a.labels.alertname || '(no alertname)';
    if (!groups.has(name)) groups.set(name, []);
    groups.get(name).push(a);
  }
  const names = [...groups.keys()].sort((x, y) => rank(groups.get(x)) - rank(groups.get(y)) || (x < y ? -1 : 1));
  const count = (f) => all.filter(f).length;

  return (
    <section class="page pg-alerts">
      <div class="page-head">
        <h1>Alerts</h1>
        <div class="page-actions pg-summary" id="alert-counts">
          <span class="badge pg-state pg-state-firing" data-count="firing">{count((a) => a.state === 'firing' && !muted(a))} firing</span>
          <span class="badge pg-state pg-state-pending" data-count="pending">{count((a) => a.state === 'pending')} pending</span>
          <span class="badge pg-state pg-state-muted" data-count="muted">{count(muted)} silenced or inhibited</span>
        </div>
      </div>
      <div class="pg-toolbar">
        <SearchFilter id="alert-search" query={query} label="Filter alerts" placeholder='Filter: severity="critical" or any text' />
        <label class="pg-check"><input type="checkbox" id="show-pending" checked={showPending}
          onChange={(e) => setQuery({ pending: e.currentTarget.checked ? null : '0' }, { replace: true })} /> pending</label>
        <label class="pg-check"><input type="checkbox" id="show-muted" checked={showMuted}
          onChange={(e) => setQuery({ muted: e.currentTarget.checked ? null : '0' }, { replace: true })} /> silenced and inhibited</label>
      </div>
      <ErrorBox what="the alerts" error={alerts.error} retry={alerts.reload} />
      {!alerts.data && !alerts.error && <Loading what="alerts" />}
      {alerts.data && shown.length === 0 && (
        <Empty id="alerts-empty">
          {all.length === 0
            ? <>Nothing is firing or pending. The alerting rules and their last evaluation are on the <a href="/rules">Rules</a> page;
              add your own with <code>--rules.files</code> or <code>rule_files</code> in prometheus.yml.</>
            : 'No alert matches the filter.'}
        </Empty>
      )}
      <div id="alert-groups">
        {names.map((name) => (
          <AlertGroup key={name} name={name} alerts={groups.get(name)} expr={queries.get(name)} isAdmin={session.isAdmin} />
        ))}
      </div>
      <AlertTimeline range={range} keep={text ? keep : null} />
    </section>
  );
}

// rank puts groups with firing alerts first, then pending, then muted.
function rank(list) {
  if (list.some((a) => a.state === 'firing' && a.silencedBy.length === 0 && a.inhibitedBy.length === 0)) return 0;
  if (list.some((a) => a.state === 'pending')) return 1;
  return 2;
}

function AlertGroup({ name, alerts, expr, isAdmin }) {
  const firing = alerts.filter((a) => a.state === 'firing').length;
  const pending = alerts.length - firing;
  const severities = [...new Set(alerts.map((a) => a.labels.severity).filter(Boolean))];
  return (
    <details class="pg-group" open data-alertname={name}>
      <summary>
        <span class="pg-group-name">{name}</span>
        {severities.map((s) => <span key={s} class={`badge pg-sev pg-sev-${s}`}>{s}</span>)}
        {firing > 0 && <span class="badge pg-state pg-state-firing">{firing} firing</span>}
        {pending > 0 && <span class="badge pg-state pg-state-pending">{pending} pending</span>}
        {expr && <a class="pg-group-link" href={exploreHref(expr)} title={expr}>query</a>}
      </summary>
      <ul class="pg-cards">
        {[...alerts].sort((a, b) => (parseTimestamp(a.activeAt) || 0) - (parseTimestamp(b.activeAt) || 0))
          .map((a) => <AlertCard key={a.key} alert={a} isAdmin={isAdmin} />)}
      </ul>
    </details>
  );
}

function AlertCard({ alert: a, isAdmin }) {
  const ann = a.annotations;
  const summary = ann.summary || ann.message || '';
  const runbooks = runbookKeys.map((k) => ann[k]).filter(Boolean);
  const rest = Object.keys(ann).filter((k) => !shownKeys.includes(k)).sort();
  const since = parseTimestamp(a.activeAt);
  return (
    <li class={`pg-card pg-alert state-${a.state}`} data-alert={a.labels.alertname} data-state={a.state}>
      <div class="pg-card-head">
        <span class={`badge pg-state pg-state-${a.state}`}>{a.state}</span>
        {a.silencedBy.map((id) => (
          <a key={id} class="badge pg-state pg-state-muted" href={`/silences?id=${encodeURIComponent(id)}`} data-silenced-by={id}>silenced</a>
        ))}
        {a.inhibitedBy.length > 0 && <span class="badge pg-state pg-state-muted" title={`by ${a.inhibitedBy.join(', ')}`}>inhibited</span>}
        {a.source === 'external' && <span class="badge" title="Posted to /api/v2/alerts, not from a rule of Vigil's">external</span>}
        {summary && <strong class="pg-alert-summary">{summary}</strong>}
      </div>
      <Labels labels={a.labels} omit={['alertname']} />
      {ann.description && <p class="pg-alert-desc">{ann.description}</p>}
      {runbooks.map((r) => {
        const href = safeHref(r);
        return href
          ? <p key={r}><a class="pg-runbook" href={href} target="_blank" rel="external noopener noreferrer">Runbook ↗</a></p>
          : <p key={r} class="muted">Runbook: {r}</p>;
      })}
      {rest.length > 0 && (
        <dl class="pg-meta pg-annotations">
          {rest.map((k) => <div key={k}><dt>{k}</dt><dd>{ann[k]}</dd></div>)}
        </dl>
      )}
      <dl class="pg-meta pg-alert-meta">
        <div><dt>Active since</dt><dd><When at={a.activeAt} /> <span class="muted">{isNaN(since) ? '' : formatTime(since)}</span></dd></div>
        {a.value !== '' && a.value !== undefined && <div><dt>Value</dt><dd class="mono">{formatSample(a.value)}</dd></div>}
        {a.receivers.length > 0 && <div><dt>Receivers</dt><dd>{a.receivers.join(', ')}</dd></div>}
        {isAdmin && (
          <div class="pg-alert-actions">
            <a class="btn" href={silenceLink(a.labels)} data-action="silence">Silence</a>
          </div>
        )}
      </dl>
    </li>
  );
}

// formatSample shortens the API's "9.302689180737962e-02" to 0.0930269.
function formatSample(v) {
  const n = Number(v);
  if (!isFinite(n)) return String(v);
  return Number.isInteger(n) ? String(n) : String(Number(n.toPrecision(6)));
}
