// The TSDB cardinality explorer of the Status page, from
// /api/v1/status/tsdb: the series and label pairs of a day, the top
// metrics by series count, label names by value count and by series
// count, and label=value pairs by series count. A metric or a pair narrows
// the report to its series (match[]); ?limit= sets the length of the
// lists, ?date= the day (YYYY-MM-DD, UTC).
import { get } from '../api.js';
import { setQuery } from '../router.js';
import { Empty, ErrorBox, exploreHref, Loading, Stat, useFetch } from './common.jsx';

const limits = ['10', '20', '50', '100'];

export function TSDBStatus({ query }) {
  const limit = limits.includes(query.get('limit')) ? query.get('limit') : '10';
  const match = query.get('match') || '';
  const date = query.get('date') || '';
  const st = useFetch((signal) => get('/api/v1/status/tsdb', { limit, 'match[]': match || undefined, date: date || undefined }, { signal }),
    [limit, match, date]);
  const d = st.data;
  const total = d ? d.headStats.numSeries : 0;
  const narrow = (sel) => setQuery({ match: sel });
  const day = d && d.headStats.minTime > 0 ? new Date(d.headStats.minTime).toISOString().slice(0, 10) : date;

  return (
    <section class="pg-tsdb" id="tsdb-status">
      <div class="pg-toolbar">
        <label class="pg-check">Top <select class="input" id="tsdb-limit" value={limit}
          onChange={(e) => setQuery({ limit: e.currentTarget.value === '10' ? null : e.currentTarget.value }, { replace: true })}>
          {limits.map((l) => <option key={l} value={l}>{l}</option>)}
        </select></label>
        <label class="pg-check">Day (UTC) <input type="date" class="input" id="tsdb-date" value={day}
          onChange={(e) => setQuery({ date: e.currentTarget.value || null }, { replace: true })} /></label>
        <form class="pg-match-form" onSubmit={(e) => { e.preventDefault(); narrow(e.currentTarget.elements.match.value.trim() || null); }}>
          <input class="input mono pg-search" name="match" id="tsdb-match" key={match} defaultValue={match}
            placeholder='Narrow to a selector: {job="vigil"}' aria-label="Series selector" />
          <button type="submit" class="btn">Apply</button>
        </form>
      </div>
      {match && (
        <p class="alert-box pg-notice" id="tsdb-narrowed">
          Series matching <code>{match}</code> · <a href={exploreHref(match)}>graph them in Explore</a> ·{' '}
          <button type="button" class="btn btn-link" onClick={() => narrow(null)}>show all series</button>
        </p>
      )}
      <ErrorBox what="the TSDB status" error={st.error} retry={st.reload} />
      {!d && !st.error && <Loading what="the cardinality report" />}
      {d && (
        <>
          <div class="pg-stats">
            <Stat label="Series" id="tsdb-num-series">{total.toLocaleString()}</Stat>
            <Stat label="Label pairs">{d.headStats.numLabelPairs.toLocaleString()}</Stat>
            <Stat label="Day">{day || 'today'}</Stat>
          </div>
          {total === 0 && (
            <Empty id="tsdb-empty">
              No series {match ? 'match the selector on this day' : 'on this day'}. Series appear once Vigil scrapes a target or receives
              samples (remote write, /api/v1/import/prometheus).
            </Empty>
          )}
          {total > 0 && (
            <div class="pg-tsdb-grid">
              <TopTable id="tsdb-top-metrics" title="Metrics by series count" rows={d.seriesCountByMetricName} total={total} unit="series"
                name="metric" onPick={(n) => narrow(`{__name__=${JSON.stringify(n)}}`)} explore={(n) => n} pickTitle="Narrow to this metric" />
              <TopTable id="tsdb-top-pairs" title="Label pairs by series count" rows={d.seriesCountByLabelValuePair} total={total} unit="series"
                name="label pair" onPick={(n) => narrow(pairSelector(n))} explore={(n) => `count by (__name__) (${pairSelector(n)})`} pickTitle="Narrow to this pair" />
              <TopTable id="tsdb-top-labels" title="Label names by value count" rows={d.labelValueCountByLabelName} unit="values" name="label" />
              {d.seriesCountByLabelName && (
                <TopTable id="tsdb-series-by-label" title="Label names by series count" rows={d.seriesCountByLabelName} total={total} unit="series" name="label" />
              )}
              <TopTable id="tsdb-memory" title="Memory by label name" rows={d.memoryInBytesByLabelName} unit="bytes" name="label"
                empty="Vigil's store does not track memory per label name." />
            </div>
          )}
        </>
      )}
    </section>
  );
}

// pairSelector turns "job=vigil" into {job="vigil"}.
function pairSelector(pair) {
  const i = pair.indexOf('=');
  return i < 0 ? `{${pair}!=""}` : `{${pair.slice(0, i)}=${JSON.stringify(pair.slice(i + 1))}}`;
}

function TopTable({ id, title, rows, total, unit, name, onPick, explore, pickTitle, empty }) {
  const list = rows || [];
  const max = list.reduce((m, r) => Math.max(m, r.value), 0) || 1;
  return (
    <section class="pg-top" id={id}>
      <h3>{title}</h3>
      {list.length === 0 ? <p class="muted">{empty || 'None.'}</p> : (
        <div class="pg-scroll">
          <table class="data pg-table pg-top-table">
            <thead><tr><th>{name}</th><th class="num">{unit}</th>{total ? <th class="num">%</th> : null}{explore && <th />}</tr></thead>
            <tbody>
              {list.map((r) => (
                <tr key={r.name} data-name={r.name}>
                  <td class="pg-top-name">
                    {onPick ? <button type="button" class="btn-link mono" title={pickTitle} onClick={() => onPick(r.name)}>{r.name}</button>
                      : <span class="mono">{r.name}</span>}
                    <span class="pg-bar" style={{ width: `${(r.value / max) * 100}%` }} />
                  </td>
                  <td class="num">{r.value.toLocaleString()}</td>
                  {total ? <td class="num">{((r.value / total) * 100).toFixed(1)}</td> : null}
                  {explore && <td><a href={exploreHref(explore(r.name), { tab: 'table' })} title="Open in Explore">explore</a></td>}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
