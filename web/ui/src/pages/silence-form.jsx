// The silence form of the Silences page: matchers (=, !=, =~, !~), a
// start, a duration or an end time, a comment and the creator (the
// signed-in user by default). It lists the current alerts the silence
// would mute as it is typed, and saves with POST /api/v2/silences (with
// the id when editing, as Alertmanager updates); the server's error is
// shown when it refuses.
//
//   /silences?new=1&matcher=alertname%3D%22X%22   a new silence, prefilled
//   /silences?edit=<id>                            edit a silence
//   /silences?new=1&from=<id>                      a new one like an old one
import { useMemo, useState } from 'preact/hooks';
import { get, post } from '../api.js';
import { navigate } from '../router.js';
import { useSession } from '../session.js';
import { formatDuration, formatTime, parseDuration, parseTime } from '../time.js';
import { ErrorBox, Labels, Loading, parseTimestamp, useFetch } from './common.jsx';
import { loadAlerts } from './alerts-data.js';
import { compile, format, fromAPI, matchesAll, operators, parse, toAPI, validate } from './matchers.js';

const defaultDuration = '2h';

/** silenceLink is the URL of the silence form prefilled with labels as equality matchers. */
export function silenceLink(labels) {
  const q = new URLSearchParams({ new: '1' });
  for (const n of Object.keys(labels).sort()) {
    if (n !== '__name__') q.append('matcher', format({ name: n, op: '=', value: labels[n] }));
  }
  return `/silences?${q.toString()}`;
}

export function SilenceForm({ query }) {
  const session = useSession();
  const editID = query.get('edit') || '';
  const fromID = query.get('from') || '';
  const baseID = editID || fromID;
  const base = useFetch((signal) => (baseID ? get(`/api/v2/silence/${encodeURIComponent(baseID)}`, null, { signal }) : Promise.resolve(null)), [baseID]);
  const title = editID ? 'Edit silence' : 'New silence';
  if (baseID && base.error) {
    return (
      <section class="page pg-silence-form">
        <h1>{title}</h1>
        <ErrorBox what={`silence ${baseID}`} error={base.error} retry={base.reload} />
        <p><a href="/silences">Back to the silences</a></p>
      </section>
    );
  }
  if (baseID && !base.data) return <section class="page pg-silence-form"><h1>{title}</h1><Loading what="the silence" /></section>;
  if (!session.isAdmin && session.role) {
    return (
      <section class="page pg-silence-form">
        <h1>{title}</h1>
        <p class="alert-box" id="silence-not-admin">Only admins create and change silences; you are signed in as {session.user} ({session.role}).</p>
        <p><a href="/silences">Back to the silences</a></p>
      </section>
    );
  }
  // The session arrives after the first render: the creator follows it.
  const key = `${baseID}|${query.getAll('matcher').join('&')}|${session.user}`;
  return <Form key={key} title={title} editID={editID} base={base.data} prefill={query.getAll('matcher')} user={session.user} />;
}

// initial builds the form's first state from the silence being edited or
// copied, or from the matcher= parameters.
function initial(base, prefill, editID, user) {
  if (base) {
    const s = parseTimestamp(base.startsAt);
    const e = parseTimestamp(base.endsAt);
    const editing = editID && base.status.state !== 'expired';
    const dur = editing ? e - s : e - s > 0 ? e - s : parseDuration(defaultDuration);
    return {
      matchers: base.matchers.map(fromAPI),
      start: editing ? formatTime(s) : 'now',
      rawStart: editing ? base.startsAt : '',
      duration: formatDuration(dur),
      end: editing ? formatTime(e) : formatTime(Date.now() + dur),
      by: editing ? 'end' : 'duration',
      comment: base.comment || '',
      createdBy: editing ? base.createdBy : user || base.createdBy,
    };
  }
  const matchers = prefill.map(parse).filter(Boolean);
  return {
    matchers: matchers.length ? matchers : [{ name: 'alertname', op: '=', value: '' }],
    start: 'now',
    rawStart: '',
    duration: defaultDuration,
    end: formatTime(Date.now() + parseDuration(defaultDuration)),
    by: 'duration',
    comment: '',
    createdBy: user || '',
  };
}

// times resolves the form's start and end to ms, or says what is wrong.
function times(f) {
  const start = parseTime(f.start);
  if (isNaN(start)) return { error: `Start "${f.start}" is not a time: use now, or YYYY-MM-DD HH:mm:ss.` };
  if (f.by === 'duration') {
    const d = parseDuration(f.duration);
    if (isNaN(d) || d <= 0) return { error: `Duration "${f.duration}" is not a duration: use 2h, 30m, 1d12h.` };
    return { start, end: start + d };
  }
  const end = parseTime(f.end, { roundUp: false });
  if (isNaN(end)) return { error: `End "${f.end}" is not a time: use YYYY-MM-DD HH:mm:ss, or now+2h.` };
  if (end <= Math.max(start, Date.now())) return { error: 'The end must be after the start and in the future.' };
  return { start, end };
}

function Form({ title, editID, base, prefill, user }) {
  const [f, setF] = useState(() => initial(base, prefill, editID, user));
  const [error, setError] = useState('');
  const [saving, setSaving] = useState(false);
  const set = (changes) => setF((old) => {
    const n = { ...old, ...changes };
    // Keep duration and end in step with whichever the user typed last.
    const s = parseTime(n.start);
    if (n.by === 'duration') {
      const d = parseDuration(n.duration);
      if (!isNaN(s) && !isNaN(d)) n.end = formatTime(s + d);
    } else {
      const e = parseTime(n.end);
      if (!isNaN(s) && !isNaN(e) && e > s) n.duration = formatDuration(e - s);
    }
    return n;
  });
  const setMatcher = (i, changes) => set({ matchers: f.matchers.map((m, j) => (i === j ? { ...m, ...changes } : m)) });

  const problems = f.matchers.map(validate);
  const submit = async (e) => {
    e.preventDefault();
    setError('');
    const bad = problems.find(Boolean);
    if (bad) return setError(bad);
    if (f.matchers.length === 0) return setError('A silence needs at least one matcher.');
    const t = times(f);
    if (t.error) return setError(t.error);
    if (!f.comment.trim()) return setError('Say why in the comment: it is what others see when they wonder why an alert is quiet.');
    if (!f.createdBy.trim()) return setError('Creator is empty: put your name.');
    const startsAt = editID && f.rawStart && f.start === formatTime(parseTimestamp(f.rawStart)) ? f.rawStart : new Date(t.start).toISOString();
    const body = {
      matchers: f.matchers.map(toAPI),
      startsAt,
      endsAt: new Date(t.end).toISOString(),
      createdBy: f.createdBy.trim(),
      comment: f.comment.trim(),
    };
    if (editID) body.id = editID;
    setSaving(true);
    try {
      const res = await post('/api/v2/silences', body);
      const id = res && res.silenceID;
      navigate(`/silences?id=${encodeURIComponent(id)}&saved=${encodeURIComponent(id)}`);
    } catch (err) {
      setError(err.message);
      setSaving(false);
    }
  };

  return (
    <section class="page pg-silence-form">
      <div class="page-head">
        <h1>{title}</h1>
        {editID && <span class="muted mono">{editID}</span>}
      </div>
      <form id="silence-form" class="pg-form" onSubmit={submit} noValidate>
        <fieldset class="pg-fieldset">
          <legend>Matchers <span class="muted">— alerts whose labels match all of them are muted</span></legend>
          <ul class="pg-matcher-rows" id="silence-matchers">
            {f.matchers.map((m, i) => (
              <li key={i} class="pg-matcher-row" data-matcher-row={i}>
                <input class="input pg-m-name" aria-label={`Label name of matcher ${i + 1}`} placeholder="label" value={m.name}
                  data-field="name" onInput={(e) => setMatcher(i, { name: e.currentTarget.value.trim() })} />
                <select class="input pg-m-op" aria-label={`Operator of matcher ${i + 1}`} value={m.op} data-field="op"
                  onChange={(e) => setMatcher(i, { op: e.currentTarget.value })}>
                  {operators.map((o) => <option key={o} value={o}>{o}</option>)}
                </select>
                <input class="input pg-m-value" aria-label={`Value of matcher ${i + 1}`} placeholder="value" value={m.value}
                  data-field="value" onInput={(e) => setMatcher(i, { value: e.currentTarget.value })} />
                <button type="button" class="btn btn-icon" aria-label={`Remove matcher ${i + 1}`} title="Remove"
                  onClick={() => set({ matchers: f.matchers.filter((_, j) => j !== i) })}>×</button>
                {problems[i] && m.name !== '' && <p class="error-text pg-m-problem">{problems[i]}</p>}
              </li>
            ))}
          </ul>
          <button type="button" class="btn" id="add-matcher" onClick={() => set({ matchers: [...f.matchers, { name: '', op: '=', value: '' }] })}>
            Add matcher
          </button>
        </fieldset>
        <fieldset class="pg-fieldset pg-times">
          <legend>When</legend>
          <label>Start <input class="input" id="silence-start" value={f.start} onInput={(e) => set({ start: e.currentTarget.value })} /></label>
          <label>Duration <input class="input" id="silence-duration" value={f.duration}
            onInput={(e) => set({ duration: e.currentTarget.value, by: 'duration' })} /></label>
          <label>End <input class="input" id="silence-end" value={f.end} onInput={(e) => set({ end: e.currentTarget.value, by: 'end' })} /></label>
        </fieldset>
        <label class="pg-block">Creator
          <input class="input" id="silence-creator" value={f.createdBy} onInput={(e) => set({ createdBy: e.currentTarget.value })} />
        </label>
        <label class="pg-block">Comment
          <textarea class="input pg-comment-input" id="silence-comment" rows="3" placeholder="Why, and until what (a ticket, a maintenance)"
            value={f.comment} onInput={(e) => set({ comment: e.currentTarget.value })} />
        </label>
        <ErrorBox error={error} />
        <div class="pg-form-actions">
          <button type="submit" class="btn btn-primary" id="silence-submit" disabled={saving}>
            {saving ? 'Saving…' : editID ? 'Save silence' : 'Create silence'}
          </button>
          <a class="btn" href="/silences">Cancel</a>
        </div>
      </form>
      <Affected matchers={f.matchers} problems={problems} />
    </section>
  );
}

// Affected lists the current alerts (firing and pending) that the
// matchers match.
function Affected({ matchers, problems }) {
  const alerts = useFetch((signal) => loadAlerts(signal), [], { every: 30000 });
  const usable = matchers.filter((m, i) => m.name && !problems[i]);
  const matched = useMemo(() => {
    if (!alerts.data || usable.length === 0) return null;
    try {
      const fns = usable.map(compile);
      return alerts.data.filter((a) => matchesAll(fns, usable, a.labels));
    } catch {
      return null;
    }
  }, [alerts.data, JSON.stringify(usable)]);
  return (
    <section class="pg-affected" id="silence-affected">
      <h2>Alerts it would mute now {matched && <span class="pg-count" id="affected-count">{matched.length}</span>}</h2>
      <ErrorBox what="the current alerts" error={alerts.error} />
      {!alerts.data && !alerts.error && <Loading what="alerts" />}
      {alerts.data && usable.length === 0 && <p class="muted">Add a matcher to see the alerts it matches.</p>}
      {matched && matched.length === 0 && <p class="muted">No current alert matches; the silence will still mute matching alerts that fire before it ends.</p>}
      {matched && matched.length > 0 && (
        <ul class="pg-affected-list">
          {matched.map((a) => (
            <li key={a.key} data-affected="">
              <span class={`badge pg-state pg-state-${a.state}`}>{a.state}</span> <Labels labels={a.labels} />
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
