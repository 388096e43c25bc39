// The Targets page (/targets), as Prometheus': the scrape pools of
// /api/v1/targets, each with its targets' endpoint, health, labels, last
// scrape, scrape duration and last error; a filter by health and by text
// (?state=up|down|unknown&q=), collapsible pools, and how many targets
// relabelling dropped.
import { get } from '../api.js';
import { setQuery } from '../router.js';
import { Empty, ErrorBox, Labels, Loading, SearchFilter, seconds, Tabs, useFetch, When } from './common.jsx';

const healthFilters = [
  { id: '', label: 'All' },
  { id: 'up', label: 'Up' },
  { id: 'down', label: 'Down' },
  { id: 'unknown', label: 'Unknown' },
];

export function TargetsPage({ query }) {
  const health = query.get('state') || '';
  const text = query.get('q') || '';
  const targets = useFetch((signal) => get('/api/v1/targets', { state: 'any' }, { signal }), [], { every: 15000 });

  const active = (targets.data && targets.data.activeTargets) || [];
  const droppedCounts = (targets.data && targets.data.droppedTargetCounts) || {};
  const droppedTotal = Object.values(droppedCounts).reduce((a, b) => a + b, 0) || ((targets.data && targets.data.droppedTargets) || []).length;
  const words = text.toLowerCase().split(/\s+/).filter(Boolean);
  const pools = new Map();
  for (const t of active) {
    const pool = t.scrapePool || (t.labels && t.labels.job) || '';
    if (!pools.has(pool)) pools.set(pool, { all: [], shown: [] });
    const p = pools.get(pool);
    p.all.push(t);
    const hay = [t.scrapeUrl, t.globalUrl, t.lastError, ...Object.entries(t.labels || {}).map(([k, v]) => `${k}="${v}"`)].join(' ').toLowerCase();
    if ((!health || t.health === health) && words.every((w) => hay.includes(w))) p.shown.push(t);
  }
  for (const pool of Object.keys(droppedCounts)) if (!pools.has(pool)) pools.set(pool, { all: [], shown: [] });
  const names = [...pools.keys()].sort();
  const up = active.filter((t) => t.health === 'up').length;
  const filtering = health !== '' || words.length > 0;
  const visible = names.filter((n) => !filtering || pools.get(n).shown.length > 0);

  return (
    <section class="page pg-targets">
      <div class="page-head">
        <h1>Targets</h1>
        {targets.data && (
          <div class="page-actions pg-summary" id="targets-summary">
            <span class="badge pg-state pg-state-up">{up} up</span>
            <span class="badge pg-state pg-state-down">{active.length - up} not up</span>
            <span class="badge" id="dropped-count" title="Targets discovered but dropped by relabel_configs">{droppedTotal} dropped</span>
          </div>
        )}
      </div>
      <div class="pg-toolbar">
        <Tabs label="Health" items={healthFilters} value={health} idPrefix="targets-" onChange={(id) => setQuery({ state: id || null }, { replace: true })} />
        <SearchFilter id="target-search" query={query} label="Filter targets" placeholder="Filter by endpoint, label or error" />
      </div>
      <ErrorBox what="the targets" error={targets.error} retry={targets.reload} />
      {!targets.data && !targets.error && <Loading what="targets" />}
      {targets.data && names.length === 0 && (
        <Empty id="targets-empty">
          No targets. Add <code>scrape_configs</code> to prometheus.yml and start Vigil with <code>--config.prometheus=prometheus.yml</code>
          (or reload it with <code>POST /-/reload</code>).
        </Empty>
      )}
      {targets.data && names.length > 0 && visible.length === 0 && <Empty id="targets-empty">No target matches the filter.</Empty>}
      {visible.map((name) => (
        <Pool key={name} name={name} pool={pools.get(name)} dropped={droppedCounts[name] || 0}
          onLabel={(k, v) => setQuery({ q: `${k}="${v}"` }, { replace: true })} />
      ))}
    </section>
  );
}

function Pool({ name, pool, dropped, onLabel }) {
  const up = pool.all.filter((t) => t.health === 'up').length;
  return (
    <details class="pg-group pg-pool" open data-pool={name}>
      <summary>
        <span class="pg-group-name">{name || '(no pool)'}</span>
        <span class={`badge pg-state ${up === pool.all.length ? 'pg-state-up' : 'pg-state-down'}`}>{up}/{pool.all.length} up</span>
        {dropped > 0 && <span class="badge" title="Dropped by relabel_configs">{dropped} dropped</span>}
      </summary>
      {pool.all.length === 0 ? (
        <p class="muted">Every target of this pool was dropped by its relabel_configs.</p>
      ) : (
        <div class="pg-scroll">
          <table class="data pg-table">
            <thead>
              <tr><th>Endpoint</th><th>State</th><th>Labels</th><th>Last scrape</th><th>Duration</th><th>Error</th></tr>
            </thead>
            <tbody>
              {pool.shown.map((t) => (
                <tr key={t.scrapeUrl + JSON.stringify(t.labels)} data-target={t.labels && t.labels.job} data-health={t.health}>
                  <td class="mono pg-endpoint" data-label="Endpoint">{t.scrapeUrl}</td>
                  <td data-label="State"><span class={`badge pg-state pg-state-${t.health}`}>{t.health}</span></td>
                  <td data-label="Labels"><Labels labels={t.labels || {}} onClick={onLabel} /></td>
                  <td data-label="Last scrape"><When at={t.lastScrape} /></td>
                  <td data-label="Duration">{t.lastScrape && !t.lastScrape.startsWith('0001') ? seconds(t.lastScrapeDuration) : '–'}</td>
                  <td data-label="Error" class="error-text pg-target-error">{t.lastError}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </details>
  );
}
