// The Rules page (/rules), as Prometheus': the rule groups of
// /api/v1/rules with their file, interval, last evaluation and evaluation
// time; each rule's query (a link to Explore), health and last error,
// for and keep_firing_for, labels, annotations and its alerts' states.
// URL: ?type=alerting|recording&health=bad&q=<text>.
import { get } from '../api.js';
import { setQuery } from '../router.js';
import { formatDuration } from '../time.js';
import { Empty, ErrorBox, exploreHref, Labels, Loading, SearchFilter, seconds, Tabs, useFetch, When } from './common.jsx';

const typeFilters = [
  { id: '', label: 'All' },
  { id: 'alerting', label: 'Alerting' },
  { id: 'recording', label: 'Recording' },
];

export function RulesPage({ query }) {
  const type = query.get('type') || '';
  const badOnly = query.get('health') === 'bad';
  const text = query.get('q') || '';
  const rules = useFetch((signal) => get('/api/v1/rules', null, { signal }), [], { every: 30000 });
  const groups = (rules.data && rules.data.groups) || [];
  const words = text.toLowerCase().split(/\s+/).filter(Boolean);
  const keep = (r) => (!type || r.type === type) && (!badOnly || r.health === 'err' || r.health === 'bad') &&
    words.every((w) => [r.name, r.query, JSON.stringify(r.labels || {})].join(' ').toLowerCase().includes(w));
  const shown = groups.map((g) => ({ ...g, shownRules: g.rules.filter(keep) })).filter((g) => g.shownRules.length > 0);
  const bad = groups.reduce((n, g) => n + g.rules.filter((r) => r.health === 'err' || r.health === 'bad').length, 0);

  return (
    <section class="page pg-rules">
      <div class="page-head">
        <h1>Rules</h1>
        {rules.data && (
          <div class="page-actions pg-summary">
            <span class="badge">{groups.length} groups</span>
            <span class="badge">{groups.reduce((n, g) => n + g.rules.length, 0)} rules</span>
            {bad > 0 && <span class="badge pg-state pg-state-err">{bad} failing</span>}
          </div>
        )}
      </div>
      <div class="pg-toolbar">
        <Tabs label="Rule type" items={typeFilters} value={type} onChange={(id) => setQuery({ type: id || null }, { replace: true })} />
        <label class="pg-check"><input type="checkbox" checked={badOnly} id="rules-bad-only"
          onChange={(e) => setQuery({ health: e.currentTarget.checked ? 'bad' : null }, { replace: true })} /> failing only</label>
        <SearchFilter id="rule-search" query={query} label="Filter rules" placeholder="Filter by name, query or label" />
      </div>
      <ErrorBox what="the rules" error={rules.error} retry={rules.reload} />
      {!rules.data && !rules.error && <Loading what="rules" />}
      {rules.data && groups.length === 0 && (
        <Empty id="rules-empty">
          No rule groups. Add Prometheus rule files with <code>--rules.files=rules.yml</code> or <code>rule_files</code> in prometheus.yml;
          the built-in Panic-platform rules come back with <code>--rules.builtin=true</code>.
        </Empty>
      )}
      {rules.data && groups.length > 0 && shown.length === 0 && <Empty id="rules-empty">No rule matches the filter.</Empty>}
      {shown.map((g) => <Group key={`${g.file}/${g.name}`} group={g} />)}
    </section>
  );
}

function Group({ group: g }) {
  return (
    <details class="pg-group pg-rule-group" open data-group={g.name}>
      <summary>
        <span class="pg-group-name">{g.name}</span>
        <span class="muted mono pg-file">{g.file}</span>
      </summary>
      <div class="pg-stats">
        <div class="pg-stat"><span class="pg-stat-label">Interval</span><span class="pg-stat-value">{formatDuration(g.interval * 1000)}</span></div>
        <div class="pg-stat"><span class="pg-stat-label">Last evaluation</span><span class="pg-stat-value"><When at={g.lastEvaluation} /></span></div>
        <div class="pg-stat"><span class="pg-stat-label">Evaluation time</span><span class="pg-stat-value">{seconds(g.evaluationTime)}</span></div>
        {g.limit > 0 && <div class="pg-stat"><span class="pg-stat-label">Limit</span><span class="pg-stat-value">{g.limit}</span></div>}
      </div>
      <ul class="pg-cards">
        {g.shownRules.map((r) => <Rule key={r.name + r.query} rule={r} />)}
      </ul>
    </details>
  );
}

const healthClass = { ok: 'pg-state-ok', err: 'pg-state-err', bad: 'pg-state-err', unknown: 'pg-state-unknown' };

function Rule({ rule: r }) {
  const alerts = r.alerts || [];
  const firing = alerts.filter((a) => a.state === 'firing').length;
  const pending = alerts.filter((a) => a.state === 'pending').length;
  const ann = r.annotations || {};
  return (
    <li class={`pg-card pg-rule ${r.type === 'alerting' && r.state !== 'inactive' ? `state-${r.state}` : ''}`} data-rule={r.name} data-type={r.type}>
      <div class="pg-card-head">
        <span class="badge">{r.type === 'alerting' ? 'alert' : 'record'}</span>
        <strong class="pg-rule-name">{r.name}</strong>
        <span class={`badge pg-state ${healthClass[r.health] || ''}`} title="health of the last evaluation">{r.health}</span>
        {r.type === 'alerting' && <span class={`badge pg-state pg-state-${r.state}`}>{r.state}</span>}
      </div>
      <a class="pg-query mono" href={exploreHref(r.query)} title="Open in Explore">{r.query}</a>
      {r.lastError && <p class="error-text pg-rule-error">{r.lastError}</p>}
      <dl class="pg-meta">
        {r.type === 'alerting' && <div><dt>for</dt><dd>{r.duration ? formatDuration(r.duration * 1000) : '0s'}</dd></div>}
        {r.keepFiringFor > 0 && <div><dt>keep_firing_for</dt><dd>{formatDuration(r.keepFiringFor * 1000)}</dd></div>}
        <div><dt>Last evaluation</dt><dd><When at={r.lastEvaluation} /></dd></div>
        <div><dt>took</dt><dd>{seconds(r.evaluationTime)}</dd></div>
        {r.type === 'alerting' && <div><dt>Alerts</dt><dd>{firing} firing, {pending} pending</dd></div>}
      </dl>
      {Object.keys(r.labels || {}).length > 0 && <div class="pg-rule-labels"><span class="muted">labels </span><Labels labels={r.labels} /></div>}
      {Object.keys(ann).length > 0 && (
        <details class="pg-rule-ann">
          <summary class="muted">annotations</summary>
          <dl class="pg-meta pg-annotations pg-stack">
            {Object.keys(ann).sort().map((k) => <div key={k}><dt>{k}</dt><dd>{ann[k]}</dd></div>)}
          </dl>
        </details>
      )}
      {alerts.length > 0 && (
        <details class="pg-rule-alerts">
          <summary class="muted">{alerts.length === 1 ? '1 alert' : `${alerts.length} alerts`}</summary>
          <ul class="pg-affected-list">
            {alerts.map((a) => (
              <li key={JSON.stringify(a.labels)}>
                <span class={`badge pg-state pg-state-${a.state}`}>{a.state}</span>
                <Labels labels={a.labels} omit={['alertname']} />
                <span class="muted">since <When at={a.activeAt} /></span>
              </li>
            ))}
          </ul>
        </details>
      )}
    </li>
  );
}
