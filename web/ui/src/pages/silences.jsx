// The Silences page (/silences), as Alertmanager's: active, pending and
// expired silences from /api/v2/silences with their matchers, creator,
// comment, start and end, and how many alerts each mutes now; admins
// create (?new=1, with matcher= parameters to prefill), edit (?edit=<id>),
// recreate (?new=1&from=<id>) and expire them. ?id=<id> shows one silence.
import { useState } from 'preact/hooks';
import { del, get } from '../api.js';
import { setQuery } from '../router.js';
import { useSession } from '../session.js';
import { formatTime } from '../time.js';
import { Empty, ErrorBox, Loading, parseTimestamp, SearchFilter, Tabs, useFetch, When } from './common.jsx';
import { format, fromAPI } from './matchers.js';
import { SilenceForm } from './silence-form.jsx';

const states = [
  { id: 'active', label: 'Active' },
  { id: 'pending', label: 'Pending' },
  { id: 'expired', label: 'Expired' },
];

export function SilencesPage({ query }) {
  if (query.get('new') || query.get('edit')) return <SilenceForm query={query} />;
  return <SilenceList query={query} />;
}

function SilenceList({ query }) {
  const session = useSession();
  const state = query.get('state') || 'active';
  const only = query.get('id') || '';
  const text = query.get('q') || '';
  const saved = query.get('saved') || '';
  const sils = useFetch((signal) => get('/api/v2/silences', null, { signal }), [], { every: 30000 });
  // The alerts tell how many each silence mutes right now.
  const alerts = useFetch((signal) => get('/api/v2/alerts', null, { signal }), [], { every: 30000 });

  const list = sils.data || [];
  const counts = { active: 0, pending: 0, expired: 0 };
  for (const s of list) counts[s.status.state] = (counts[s.status.state] || 0) + 1;
  const muted = new Map();
  for (const a of alerts.data || []) {
    for (const id of (a.status && a.status.silencedBy) || []) muted.set(id, (muted.get(id) || 0) + 1);
  }
  const words = text.toLowerCase().split(/\s+/).filter(Boolean);
  const shown = list
    .filter((s) => (only ? s.id === only : s.status.state === state))
    .filter((s) => {
      if (words.length === 0) return true;
      const hay = [s.id, s.createdBy, s.comment, ...s.matchers.map((m) => format(fromAPI(m)))].join(' ').toLowerCase();
      return words.every((w) => hay.includes(w));
    })
    .sort(order(only ? '' : state));

  return (
    <section class="page pg-silences">
      <div class="page-head">
        <h1>Silences</h1>
        <div class="page-actions">
          {session.isAdmin && <a class="btn btn-primary" id="new-silence" href="/silences?new=1">New silence</a>}
        </div>
      </div>
      {saved && (
        <p class="alert-box pg-notice" role="status" id="silence-saved">
          Silence <code>{saved}</code> saved. <a href="/silences">All silences</a>
        </p>
      )}
      <div class="pg-toolbar">
        {only ? (
          <span>Showing silence <code>{only}</code> · <a href="/silences" id="all-silences">all silences</a></span>
        ) : (
          <Tabs label="Silence state" value={state} idPrefix="silences-tab-"
            items={states.map((s) => ({ id: s.id, label: <>{s.label} <span class="pg-count">{counts[s.id] || 0}</span></> }))}
            onChange={(id) => setQuery({ state: id === 'active' ? null : id }, { replace: true })} />
        )}
        <SearchFilter id="silence-search" query={query} label="Filter silences" placeholder="Filter by matcher, creator, comment" />
      </div>
      <ErrorBox what="the silences" error={sils.error} retry={sils.reload} />
      {!sils.data && !sils.error && <Loading what="silences" />}
      {sils.data && shown.length === 0 && (
        <Empty id="silences-empty">
          {list.length === 0
            ? <>No silences. A silence mutes the notifications of the alerts it matches for a while: {session.isAdmin
              ? <a href="/silences?new=1">create one</a> : 'an admin can create one'}, or use “Silence” on an alert of the <a href="/alerts">Alerts</a> page.</>
            : only ? <>There is no silence <code>{only}</code>.</>
              : words.length ? 'No silence matches the filter.' : `No ${state} silences.`}
        </Empty>
      )}
      <ul class="pg-cards" id="silence-list">
        {shown.map((s) => (
          <SilenceCard key={s.id} sil={s} muted={muted.get(s.id) || 0} isAdmin={session.isAdmin} onChange={sils.reload} />
        ))}
      </ul>
    </section>
  );
}

// order sorts active silences by their end, pending ones by their start,
// expired ones newest first.
function order(state) {
  const t = (s, k) => parseTimestamp(s[k]) || 0;
  if (state === 'pending') return (a, b) => t(a, 'startsAt') - t(b, 'startsAt');
  if (state === 'expired') return (a, b) => t(b, 'endsAt') - t(a, 'endsAt');
  return (a, b) => t(a, 'endsAt') - t(b, 'endsAt');
}

function SilenceCard({ sil, muted, isAdmin, onChange }) {
  const [confirming, setConfirming] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  const st = sil.status.state;
  const expire = async () => {
    setBusy(true);
    setError('');
    try {
      await del(`/api/v2/silence/${encodeURIComponent(sil.id)}`);
      setConfirming(false);
      onChange();
    } catch (err) {
      setError(err.message);
    } finally {
      setBusy(false);
    }
  };
  const start = parseTimestamp(sil.startsAt);
  const end = parseTimestamp(sil.endsAt);
  return (
    <li class={`pg-card pg-silence state-${st}`} data-silence-id={sil.id} data-state={st}>
      <div class="pg-card-head">
        <span class={`badge pg-state pg-state-${st}`}>{st}</span>
        <span class="pg-matchers">
          {sil.matchers.map((m, i) => <code key={i} class="pg-matcher">{format(fromAPI(m))}</code>)}
        </span>
      </div>
      <p class="pg-comment">{sil.comment}</p>
      <dl class="pg-meta">
        <div><dt>{st === 'pending' ? 'Starts' : 'Started'}</dt><dd><When at={sil.startsAt} /> <span class="muted">{isNaN(start) ? '' : formatTime(start)}</span></dd></div>
        <div><dt>{st === 'expired' ? 'Ended' : 'Ends'}</dt><dd><When at={sil.endsAt} /> <span class="muted">{isNaN(end) ? '' : formatTime(end)}</span></dd></div>
        <div><dt>Created by</dt><dd>{sil.createdBy}</dd></div>
        {st === 'active' && <div><dt>Mutes</dt><dd class="pg-muted-count">{muted === 1 ? '1 alert' : `${muted} alerts`}</dd></div>}
        <div><dt>ID</dt><dd><a href={`/silences?id=${encodeURIComponent(sil.id)}`} class="mono pg-id">{sil.id}</a></dd></div>
      </dl>
      <ErrorBox error={error} />
      {isAdmin && (
        <div class="pg-card-actions">
          {st !== 'expired' && <a class="btn" href={`/silences?edit=${encodeURIComponent(sil.id)}`} data-action="edit">Edit</a>}
          {st === 'expired' && <a class="btn" href={`/silences?new=1&from=${encodeURIComponent(sil.id)}`} data-action="recreate">Recreate</a>}
          {st !== 'expired' && !confirming && (
            <button type="button" class="btn btn-danger" data-action="expire" onClick={() => setConfirming(true)}>Expire</button>
          )}
          {confirming && (
            <>
              <span>Expire this silence now?</span>
              <button type="button" class="btn btn-danger" data-action="confirm-expire" disabled={busy} onClick={expire}>
                {busy ? 'Expiring…' : 'Yes, expire'}
              </button>
              <button type="button" class="btn" onClick={() => setConfirming(false)}>Cancel</button>
            </>
          )}
        </div>
      )}
    </li>
  );
}
