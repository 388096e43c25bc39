// The Status page (/status?tab=): build and runtime information, the
// scheduled jobs and the remote-write queues (when the server has
// /api/v1/status/remote_write), the effective configuration, the flags,
// and the TSDB cardinality explorer (tsdb.jsx).
import { get } from '../api.js';
import { setQuery } from '../router.js';
import { formatTime } from '../time.js';
import { Empty, ErrorBox, Loading, parseTimestamp, SearchFilter, seconds, spell, Tabs, useFetch, When } from './common.jsx';
import { TSDBStatus } from './tsdb.jsx';

const tabs = [
  { id: 'info', label: 'Runtime & build' },
  { id: 'tsdb', label: 'TSDB' },
  { id: 'config', label: 'Configuration' },
  { id: 'flags', label: 'Flags' },
];

export function StatusPage({ query }) {
  const tab = tabs.some((t) => t.id === query.get('tab')) ? query.get('tab') : 'info';
  return (
    <section class="page pg-status">
      <div class="page-head">
        <h1>Status</h1>
      </div>
      <div class="pg-toolbar">
        <Tabs label="Status sections" items={tabs} value={tab} idPrefix="status-tab-"
          onChange={(id) => setQuery({ tab: id === 'info' ? null : id, limit: null, match: null, date: null, q: null })} />
      </div>
      {tab === 'info' && <Info />}
      {tab === 'tsdb' && <TSDBStatus query={query} />}
      {tab === 'config' && <Config />}
      {tab === 'flags' && <Flags query={query} />}
    </section>
  );
}

// KV is a two-column table of names and values.
function KV({ id, rows }) {
  return (
    <table class="data pg-kv" id={id}>
      <tbody>
        {rows.filter(Boolean).map(([k, v]) => <tr key={k}><th>{k}</th><td>{v}</td></tr>)}
      </tbody>
    </table>
  );
}

function Info() {
  const build = useFetch((signal) => get('/api/v1/status/buildinfo', null, { signal }), []);
  const rt = useFetch((signal) => get('/api/v1/status/runtimeinfo', null, { signal }), [], { every: 30000 });
  const b = build.data;
  const r = rt.data;
  const bytes = (n) => (n >= 9e18 ? 'no limit' : `${(n / 1048576).toFixed(0)} MiB`);
  return (
    <div class="pg-status-grid">
      <section>
        <h2>Build</h2>
        <ErrorBox what="the build information" error={build.error} />
        {!b && !build.error && <Loading what="build information" />}
        {b && (
          <KV id="build-info" rows={[
            ['Vigil version', b.vigilVersion || 'unknown'],
            ['Prometheus API', `${b.version} (the PromQL engine and API Vigil is compatible with)`],
            b.revision && ['Revision', <code key="r">{b.revision}</code>],
            b.branch && ['Branch', b.branch],
            b.buildUser && ['Built by', b.buildUser],
            b.buildDate && ['Build date', b.buildDate],
            ['Go version', b.goVersion],
          ]} />
        )}
      </section>
      <section>
        <h2>Runtime</h2>
        <ErrorBox what="the runtime information" error={rt.error} />
        {!r && !rt.error && <Loading what="runtime information" />}
        {r && (
          <KV id="runtime-info" rows={[
            ['Started', <span key="s">{formatTime(parseTimestamp(r.startTime))} (up {spell(Date.now() - parseTimestamp(r.startTime))})</span>],
            ['Last configuration', <span key="c" class={r.reloadConfigSuccess ? '' : 'error-text'}>
              {r.reloadConfigSuccess ? 'loaded' : 'the last reload failed'}, <When at={r.lastConfigTime} /></span>],
            ['Storage retention', r.storageRetention],
            ['Hostname', r.hostname],
            ['Working directory', <code key="w">{r.CWD}</code>],
            ['Goroutines', r.goroutineCount],
            ['GOMAXPROCS', r.GOMAXPROCS],
            ['GOMEMLIMIT', bytes(r.GOMEMLIMIT)],
            ['GOGC', r.GOGC || 'default'],
            r.GODEBUG && ['GODEBUG', r.GODEBUG],
            r.corruptionCount > 0 && ['Corruptions', r.corruptionCount],
          ]} />
        )}
      </section>
      <Jobs />
      <RemoteWrite />
    </div>
  );
}

function Jobs() {
  const jobs = useFetch((signal) => get('/api/v1/status/jobs', null, { signal }), [], { every: 30000 });
  const list = (jobs.data && jobs.data.jobs) || [];
  return (
    <section class="pg-wide">
      <h2>Scheduled jobs</h2>
      <ErrorBox what="the jobs" error={jobs.error} />
      {!jobs.data && !jobs.error && <Loading what="jobs" />}
      {jobs.data && list.length === 0 && <Empty>No scheduled jobs.</Empty>}
      {list.length > 0 && (
        <div class="pg-scroll">
          <table class="data pg-table" id="jobs">
            <thead><tr><th>Job</th><th>Schedule</th><th>Last run</th><th>Took</th><th>Result</th><th>Detail</th><th>Next run</th></tr></thead>
            <tbody>
              {list.map((j) => (
                <tr key={j.name} data-job={j.name}>
                  <td class="mono">{j.name}</td>
                  <td class="mono">{j.schedule}</td>
                  <td><When at={j.last_run} /></td>
                  <td>{j.last_run ? seconds(j.duration_seconds) : '–'}</td>
                  <td><span class={`badge pg-state ${j.result === 'ok' ? 'pg-state-ok' : j.result === 'failed' ? 'pg-state-err' : ''}`}>{j.result}</span></td>
                  <td class={j.result === 'failed' ? 'error-text' : ''}>{j.detail}</td>
                  <td><When at={j.next_run} /></td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

// RemoteWrite shows the remote-write queues; a server without the
// endpoint (404) shows nothing.
function RemoteWrite() {
  const rw = useFetch((signal) => get('/api/v1/status/remote_write', null, { signal }).catch((err) => {
    if (err.status === 404) return { absent: true };
    throw err;
  }), [], { every: 30000 });
  if (rw.data && rw.data.absent) return null;
  const remotes = (rw.data && rw.data.remotes) || [];
  const mib = (n) => `${(n / 1048576).toFixed(1)} MiB`;
  return (
    <section class="pg-wide" id="remote-write">
      <h2>Remote write</h2>
      <ErrorBox what="the remote-write status" error={rw.error} />
      {!rw.data && !rw.error && <Loading what="remote-write queues" />}
      {rw.data && remotes.length === 0 && <Empty>No remote_write configured: samples stay in Vigil. Add <code>remote_write</code> to prometheus.yml to send them on.</Empty>}
      {remotes.length > 0 && (
        <div class="pg-scroll">
          <table class="data pg-table">
            <thead><tr><th>Remote</th><th>Queue</th><th>Sent</th><th>Retried</th><th>Dropped</th><th>Last sent</th><th>Last error</th></tr></thead>
            <tbody>
              {remotes.map((q) => {
                const dropped = Object.entries(q.samplesDropped || {}).filter(([, n]) => n > 0);
                return (
                  <tr key={q.name + q.url} data-remote={q.name}>
                    <td><strong>{q.name}</strong><br /><span class="mono muted">{q.url}</span></td>
                    <td>{mib(q.pendingBytes || 0)}{q.maxPendingBytes ? ` of ${mib(q.maxPendingBytes)}` : ''}{q.shards ? `, ${q.shards} shards` : ''}</td>
                    <td>{(q.samplesSent || 0).toLocaleString()}</td>
                    <td>{(q.samplesRetried || 0).toLocaleString()}</td>
                    <td>{dropped.length ? dropped.map(([k, n]) => `${n.toLocaleString()} ${k.replace(/_/g, ' ')}`).join(', ') : '0'}
                      {q.samplesFiltered ? ` (+${q.samplesFiltered.toLocaleString()} filtered)` : ''}</td>
                    <td><When at={q.lastSendTime} /></td>
                    <td class="error-text">{q.lastError}{q.lastError && q.lastErrorTime ? <span class="muted"> (<When at={q.lastErrorTime} />)</span> : null}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

function Config() {
  const cfg = useFetch((signal) => get('/api/v1/status/config', null, { signal }), []);
  return (
    <section>
      <p class="muted">The configuration in effect, as Vigil read it from its files and flags.</p>
      <ErrorBox what="the configuration" error={cfg.error} retry={cfg.reload} />
      {!cfg.data && !cfg.error && <Loading what="the configuration" />}
      {cfg.data && !cfg.data.yaml && <Empty>No configuration: Vigil runs on its defaults and flags.</Empty>}
      {cfg.data && cfg.data.yaml && <pre class="pg-pre" id="config-yaml">{cfg.data.yaml}</pre>}
    </section>
  );
}

function Flags({ query }) {
  const flags = useFetch((signal) => get('/api/v1/status/flags', null, { signal }), []);
  const text = (query.get('q') || '').toLowerCase();
  const names = Object.keys(flags.data || {}).sort().filter((k) => !text || `${k} ${flags.data[k]}`.toLowerCase().includes(text));
  return (
    <section>
      <div class="pg-toolbar">
        <SearchFilter id="flag-search" query={query} label="Filter flags" placeholder="Filter flags" />
      </div>
      <ErrorBox what="the flags" error={flags.error} retry={flags.reload} />
      {!flags.data && !flags.error && <Loading what="the flags" />}
      {flags.data && names.length === 0 && <Empty>No flag matches the filter.</Empty>}
      {names.length > 0 && (
        <div class="pg-scroll">
          <table class="data pg-table" id="flags">
            <tbody>
              {names.map((k) => <tr key={k}><th class="mono">--{k}</th><td class="mono">{flags.data[k]}</td></tr>)}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
