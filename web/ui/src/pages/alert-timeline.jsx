// The alert history timeline of the Alerts page: one row per alert (label
// set), grouped by alert name, with its pending and firing spans and a
// mark where it resolved, over the last hour to week, from
// /api/v1/alerts/history (every state change, oldest first).
import { get } from '../api.js';
import { setQuery } from '../router.js';
import { formatTime, parseDuration } from '../time.js';
import { Empty, ErrorBox, labelsKey, Loading, sortedLabelNames, spell, Tabs, useFetch } from './common.jsx';

/** The ranges the timeline offers. */
export const historyRanges = ['1h', '6h', '24h', '7d'];

const active = (s) => s === 'pending' || s === 'firing';

/**
 * buildTimeline turns transitions (oldest first) into rows:
 * [{ key, alertname, labels, spans: [{ state, from, to }], resolved: [ms] }]
 * between start and end (ms). An alert whose first transition in the range
 * leaves pending or firing was already so at start.
 */
export function buildTimeline(transitions, start, end) {
  const rows = new Map();
  for (const t of transitions) {
    const at = Date.parse(t.time);
    if (isNaN(at)) continue;
    const key = labelsKey(t.labels || {});
    let row = rows.get(key);
    if (!row) {
      row = { key, alertname: (t.labels && t.labels.alertname) || t.rule || '', labels: t.labels || {}, spans: [], resolved: [], state: t.from, since: start };
      rows.set(key, row);
    }
    if (active(row.state)) row.spans.push({ state: row.state, from: Math.max(row.since, start), to: at });
    if (t.to === 'resolved') row.resolved.push(at);
    row.state = t.to;
    row.since = at;
  }
  const out = [];
  for (const row of rows.values()) {
    if (active(row.state)) row.spans.push({ state: row.state, from: Math.max(row.since, start), to: end, open: true });
    delete row.state;
    delete row.since;
    out.push(row);
  }
  out.sort((a, b) => (a.alertname < b.alertname ? -1 : a.alertname > b.alertname ? 1 : a.key < b.key ? -1 : 1));
  return out;
}

// ticks picks about n round times between start and end for the axis.
function ticks(start, end, n) {
  const steps = [60e3, 300e3, 600e3, 900e3, 1800e3, 3600e3, 3 * 3600e3, 6 * 3600e3, 12 * 3600e3, 86400e3];
  const span = end - start;
  const step = steps.find((s) => span / s <= n) || 86400e3 * Math.ceil(span / n / 86400e3);
  const off = new Date(start).getTimezoneOffset() * 60e3;
  const out = [];
  for (let t = Math.ceil((start - off) / step) * step + off; t <= end; t += step) out.push(t);
  return out;
}

function tickLabel(t, span) {
  const s = formatTime(t);
  return span > 86400e3 ? s.slice(5, 16) : s.slice(11, 16);
}

/**
 * AlertTimeline draws the history over range ('1h' ... '7d'); keep, when
 * given, chooses the alerts shown (by their labels), as the Alerts
 * page's filter does.
 */
export function AlertTimeline({ range, keep }) {
  const ms = parseDuration(range) || 86400e3;
  const hist = useFetch((signal) => {
    const end = Date.now();
    return get('/api/v1/alerts/history', { start: (end - ms) / 1000, end: end / 1000 }, { signal }).then((data) => ({ data, end }));
  }, [ms], { every: 60000 });
  const end = hist.data ? hist.data.end : Date.now();
  const start = end - ms;
  const all = hist.data ? buildTimeline(hist.data.data || [], start, end) : [];
  const rows = keep ? all.filter((r) => keep({ labels: r.labels, annotations: {} })) : all;
  const pct = (t) => `${(((t - start) / ms) * 100).toFixed(3)}%`;
  const width = (a, b) => `${Math.max(((b - a) / ms) * 100, 0.3).toFixed(3)}%`;
  let lastName = null;
  return (
    <section class="pg-timeline" id="alert-timeline" aria-label="Alert history">
      <div class="pg-section-head">
        <h2>History</h2>
        <Tabs label="History range" items={historyRanges.map((r) => ({ id: r, label: r }))} value={range}
          onChange={(r) => setQuery({ range: r === '24h' ? null : r }, { replace: true })} />
      </div>
      <ErrorBox what="the alert history" error={hist.error} retry={hist.reload} />
      {!hist.data && !hist.error && <Loading what="the alert history" />}
      {hist.data && rows.length === 0 && (
        <Empty id="timeline-empty">
          {all.length === 0 ? `No alert changed state in the last ${range}. Alerts show here from the moment they become pending.`
            : 'No alert of the history matches the filter.'}
        </Empty>
      )}
      {rows.length > 0 && (
        <div class="pg-tl">
          <div class="pg-tl-row pg-tl-axis" aria-hidden="true">
            <div class="pg-tl-name" />
            <div class="pg-tl-track">
              {ticks(start, end, 6).map((t) => <span key={t} class="pg-tl-tick" style={{ left: pct(t) }}>{tickLabel(t, ms)}</span>)}
            </div>
          </div>
          {rows.map((row) => {
            const first = row.alertname !== lastName;
            lastName = row.alertname;
            const rest = sortedLabelNames(row.labels).filter((n) => n !== 'alertname').map((n) => `${n}="${row.labels[n]}"`).join(', ');
            return (
              <div key={row.key} class={`pg-tl-row ${first ? 'pg-tl-first' : ''}`} data-timeline-row={row.alertname}>
                <div class="pg-tl-name" title={rest}>
                  {first && <strong>{row.alertname}</strong>}
                  <span class="muted pg-tl-labels">{rest || 'no other labels'}</span>
                </div>
                <div class="pg-tl-track">
                  {row.spans.map((s, i) => (
                    <span key={i} class={`pg-tl-span pg-tl-${s.state}`} data-state={s.state} style={{ left: pct(s.from), width: width(s.from, s.to) }}
                      title={`${s.state} from ${formatTime(s.from)} ${s.open ? 'until now' : `to ${formatTime(s.to)}`} (${spell(s.to - s.from)})`} />
                  ))}
                  {row.resolved.map((t) => (
                    <span key={t} class="pg-tl-resolved" data-state="resolved" style={{ left: pct(t) }} title={`resolved at ${formatTime(t)}`} />
                  ))}
                </div>
              </div>
            );
          })}
          <p class="pg-tl-legend muted">
            <span class="pg-tl-key pg-tl-pending" /> pending <span class="pg-tl-key pg-tl-firing" /> firing <span class="pg-tl-key pg-tl-resolved-key" /> resolved
          </p>
        </div>
      )}
    </section>
  );
}
