// The dashboard list at /: every dashboard of the store with its tags and
// where it comes from, a search over titles and tags, and the import link.
import { useEffect, useState } from 'preact/hooks';
import { get } from '../api.js';
import { useSession } from '../session.js';

const sourceLabel = { builtin: 'built-in', provisioned: 'provisioned', user: 'user' };

export function DashboardList() {
  const session = useSession();
  const [list, setList] = useState(null);
  const [error, setError] = useState('');
  const [search, setSearch] = useState('');
  useEffect(() => {
    get('/api/v1/dashboards').then(setList).catch((err) => setError(err.message));
  }, []);

  const words = search.toLowerCase().split(/\s+/).filter(Boolean);
  const shown = (list || []).filter((d) => {
    const hay = [d.title, d.uid, ...(d.tags || [])].join(' ').toLowerCase();
    return words.every((w) => hay.includes(w));
  });
  return (
    <section class="page dashboard-list">
      <div class="page-head">
        <h1>Dashboards</h1>
        <div class="page-actions">
          <input type="search" class="input" id="dashboard-search" placeholder="Search by title or tag"
            value={search} onInput={(e) => setSearch(e.currentTarget.value)} aria-label="Search dashboards" />
          {session.isAdmin && <a class="btn" href="/dashboard/import" id="import-link">Import</a>}
        </div>
      </div>
      {error && <p class="alert-box error" role="alert">Could not list the dashboards: {error}</p>}
      {!list && !error && <p class="muted">Loading…</p>}
      {list && (
        <ul class="dash-items">
          {shown.map((d) => (
            <li key={d.uid} data-uid={d.uid}>
              <a href={`/d/${encodeURIComponent(d.uid)}`} class="dash-title">{d.title || d.uid}</a>
              <span class={`badge badge-${d.source}`}>{sourceLabel[d.source] || d.source}</span>
              <span class="tags">{(d.tags || []).map((t) => (
                <button type="button" class="tag" key={t} onClick={() => setSearch(t)} title={`Show dashboards tagged ${t}`}>{t}</button>
              ))}</span>
            </li>
          ))}
          {shown.length === 0 && <li class="muted">{list.length === 0 ? 'No dashboards yet.' : 'No dashboard matches the search.'}</li>}
        </ul>
      )}
    </section>
  );
}
