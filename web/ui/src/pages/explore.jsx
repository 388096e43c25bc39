// The Explore page (/explore?expr=&from=&to=&tab=graph|table|json&step=):
// a PromQL editor with completion (query-editor.jsx), the time range
// picker of the dashboards, and the result as a graph (a range query
// drawn by the shared chart), a table (an instant query at the end of the
// range: one row per series) or the raw JSON of the answer, with the
// query's statistics (stats=all: the engine's timings and samples, plus
// series, points, size and round trip measured here). A query error shows
// under the editor, with its position marked when the parser gives one.
import { useEffect, useMemo, useState } from 'preact/hooks';
import { get } from '../api.js';
import { TimeChart } from '../chart.js';
import { TimePicker } from '../dashboard/timepicker.jsx';
import { setQuery } from '../router.js';
import { formatDuration, formatTime, parseDuration, resolveRange, roundInterval } from '../time.js';
import { ErrorBox, Labels, Loading, seconds, selectorOf, Tabs, useFetch } from './common.jsx';
import { offsetOf, parseErrorPosition } from './promql.js';
import { loadHistory, QueryEditor, remember } from './query-editor.jsx';

const tabs = [
  { id: 'graph', label: 'Graph' },
  { id: 'table', label: 'Table' },
  { id: 'json', label: 'JSON' },
];

// Prometheus refuses more points per series than this.
const maxPoints = 11000;

// More series than this make a graph nobody can read, and slow to draw;
// the table shows them all.
const maxGraphSeries = 200;

/** autoStep is the step (ms) of a range query over span ms: about 600 points, rounded as Grafana does, at least 1s. */
export function autoStep(spanMs) {
  return Math.max(roundInterval(spanMs / 600), 1000, Math.ceil(spanMs / maxPoints / 1000) * 1000);
}

// runQuery fetches path and keeps what the statistics need: the raw
// text, its size and the round trip.
async function runQuery(path, params, signal) {
  const began = performance.now();
  const resp = await get(path, params, { signal, raw: true });
  const text = await resp.text();
  const ms = performance.now() - began;
  const body = JSON.parse(text);
  return { body, text, ms, bytes: new Blob([text]).size };
}

export function ExplorePage({ query }) {
  const expr = query.get('expr') || '';
  const from = query.get('from') || 'now-1h';
  const to = query.get('to') || 'now';
  const tab = tabs.some((t) => t.id === query.get('tab')) ? query.get('tab') : 'graph';
  const stepParam = query.get('step') || '';
  const [text, setText] = useState(expr);
  const [runs, setRuns] = useState(0);
  const [jump, setJump] = useState(null);
  const [history, setHistory] = useState(loadHistory);
  const [showHistory, setShowHistory] = useState(false);
  const [formatError, setFormatError] = useState('');
  useEffect(() => { setText(expr); }, [expr]);

  // The range is resolved at each run, so "now" moves with Run.
  const range = useMemo(() => {
    try {
      return { ...resolveRange(from, to) };
    } catch (err) {
      return { error: err.message };
    }
  }, [from, to, runs]);

  const run = (t) => {
    const e = (t ?? text).trim();
    remember(e);
    setHistory(loadHistory());
    setShowHistory(false);
    setQuery({ expr: e || null });
    setRuns((r) => r + 1);
  };
  const format = async () => {
    setFormatError('');
    try {
      const f = await get('/api/v1/format_query', { query: text });
      setText(f);
    } catch (err) {
      setFormatError(err.message);
    }
  };

  return (
    <section class="page pg-explore">
      <div class="page-head">
        <h1>Explore</h1>
        <div class="page-actions">
          <TimePicker from={from} to={to} onChange={(f, t) => { setQuery({ from: f, to: t }); setRuns((r) => r + 1); }} />
        </div>
      </div>
      <div class="pg-explore-bar">
        <QueryEditor value={text} onChange={setText} onRun={run} range={range.error ? null : range} jump={jump} />
        <div class="pg-explore-actions">
          <button type="button" class="btn btn-primary" id="explore-run" onClick={() => run()}>Run query</button>
          <button type="button" class="btn" id="explore-format" onClick={format} disabled={!text.trim()} title="Format the expression (/api/v1/format_query)">Format</button>
          <div class="popover-wrap">
            <button type="button" class="btn" id="explore-history-button" aria-expanded={showHistory} disabled={history.length === 0}
              onClick={() => setShowHistory(!showHistory)}>History</button>
            {showHistory && (
              <ul class="popover pg-history" id="explore-history">
                {history.map((h) => (
                  <li key={h}><button type="button" class="btn-link mono" onClick={() => { setText(h); run(h); }}>{h}</button></li>
                ))}
              </ul>
            )}
          </div>
        </div>
      </div>
      <ErrorBox error={formatError} />
      {range.error && <ErrorBox error={range.error} />}
      <div class="pg-toolbar pg-explore-tabs">
        <Tabs label="Result view" items={tabs} value={tab} idPrefix="explore-tab-"
          onChange={(id) => setQuery({ tab: id === 'graph' ? null : id }, { replace: true })} />
        {tab === 'graph' && (
          <label class="pg-check">Step <input class="input pg-step" id="explore-step" key={stepParam} defaultValue={stepParam} placeholder="auto"
            onChange={(e) => setQuery({ step: e.currentTarget.value.trim() || null }, { replace: true })} /></label>
        )}
      </div>
      {!expr && (
        <div class="pg-empty" data-empty="">
          Type a PromQL expression and press <kbd>Ctrl</kbd>+<kbd>Enter</kbd>. Names complete as you type (<kbd>Ctrl</kbd>+<kbd>Space</kbd> lists
          every metric); for a start try <a href="/explore?expr=up">up</a> or{' '}
          <a href={`/explore?expr=${encodeURIComponent('sum by (job) (rate(vigil_http_requests_total[5m]))')}`}>sum by (job) (rate(vigil_http_requests_total[5m]))</a>.
        </div>
      )}
      {expr && !range.error && (
        <Result key={tab} tab={tab} expr={expr} range={range} stepParam={stepParam} runs={runs}
          onJump={(pos) => setJump({ pos, n: Date.now() })} />
      )}
    </section>
  );
}

function Result({ tab, expr, range, stepParam, runs, onJump }) {
  const [jsonOf, setJsonOf] = useState('instant');
  const kind = tab === 'graph' || (tab === 'json' && jsonOf === 'range') ? 'range' : 'instant';
  const span = range.end - range.start;
  const given = stepParam ? (/^\d+(\.\d+)?$/.test(stepParam) ? Number(stepParam) * 1000 : parseDuration(stepParam)) : NaN;
  const stepMs = given > 0 ? given : autoStep(span);
  const res = useFetch((signal) => (kind === 'range'
    ? runQuery('/api/v1/query_range', { query: expr, start: range.start / 1000, end: range.end / 1000, step: stepMs / 1000, stats: 'all' }, signal)
    : runQuery('/api/v1/query', { query: expr, time: range.end / 1000, stats: 'all' }, signal)),
  [expr, kind, range.start, range.end, stepMs, runs]);

  const pos = res.error ? parseErrorPosition(res.error) : null;
  const data = res.data && res.data.body.data;
  const result = (data && data.result) || [];
  return (
    <div class="pg-result" data-kind={kind} data-loading={res.loading ? '1' : undefined}>
      {res.error && (
        <div class="alert-box error pg-query-error" role="alert" id="explore-error" data-error="">
          <span class="pg-error-msg">{res.error}</span>
          {pos && <ErrorPosition expr={expr} pos={pos} onJump={onJump} />}
        </div>
      )}
      {!res.data && !res.error && <Loading what="the result" />}
      {res.data && !res.error && (
        <>
          <Stats res={res.data} kind={kind} stepMs={kind === 'range' ? stepMs : 0} />
          {(res.data.body.warnings || []).map((w) => <p key={w} class="alert-box pg-warning">Warning: {w}</p>)}
          {(res.data.body.infos || []).map((w) => <p key={w} class="alert-box pg-info">Info: {w}</p>)}
          {tab === 'graph' && <Graph result={result} range={range} stepMs={stepMs} />}
          {tab === 'table' && <ResultTable data={data} />}
          {tab === 'json' && (
            <>
              <div class="pg-toolbar">
                <Tabs label="Query type" value={jsonOf} onChange={setJsonOf}
                  items={[{ id: 'instant', label: '/api/v1/query' }, { id: 'range', label: '/api/v1/query_range' }]} />
              </div>
              <pre class="pg-pre pg-json" id="explore-json">{JSON.stringify(res.data.body, null, 2)}</pre>
            </>
          )}
        </>
      )}
    </div>
  );
}

// Graph draws a range query's matrix, at most maxGraphSeries series of it.
function Graph({ result, range, stepMs }) {
  const shown = useMemo(() => (result.length > maxGraphSeries ? result.slice(0, maxGraphSeries) : result), [result]);
  // Which result the chart has drawn (data-drawn, for tests and tools).
  const [drawnFor, setDrawnFor] = useState(null);
  if (result.length === 0) {
    return (
      <div class="pg-empty" id="explore-no-data" data-empty="">
        No data in this range: the expression selects no series between {formatTime(range.start)} and {formatTime(range.end)}.
      </div>
    );
  }
  return (
    <>
      {result.length > maxGraphSeries && (
        <p class="alert-box pg-warning" id="explore-graph-capped">
          The graph shows the first {maxGraphSeries} of {result.length.toLocaleString()} series: narrow the query (a label matcher, an
          aggregation such as <code>topk(10, …)</code>), or see every series in the Table.
        </p>
      )}
      <div class="pg-graph" id="explore-graph" data-series={shown.length} data-points={shown.reduce((n, r) => n + (r.values || []).length, 0)}
        data-drawn={drawnFor === shown ? '1' : undefined}>
        <TimeChart result={shown} start={range.start} end={range.end} step={stepMs}
          onZoom={(a, b) => setQuery({ from: String(a), to: String(b) })} onDrawn={() => setDrawnFor(shown)} />
      </div>
    </>
  );
}

// ErrorPosition shows the line of the expression the parser stopped at,
// with a caret under the column.
function ErrorPosition({ expr, pos, onJump }) {
  const line = expr.split('\n')[pos.line - 1];
  if (line === undefined) return null;
  return (
    <div class="pg-error-pos">
      <pre id="explore-error-pos">{`${line}\n${' '.repeat(Math.max(0, pos.col - 1))}^`}</pre>
      <button type="button" class="btn btn-link" onClick={() => onJump(offsetOf(expr, pos.line, pos.col))}>
        Show line {pos.line}, column {pos.col} in the editor
      </button>
    </div>
  );
}

function Stats({ res, kind, stepMs }) {
  const data = res.body.data || {};
  const st = data.stats || {};
  const t = st.timings || {};
  const s = st.samples || {};
  const result = Array.isArray(data.result) ? data.result : [];
  const series = data.resultType === 'scalar' || data.resultType === 'string' ? 1 : result.length;
  const points = data.resultType === 'matrix' ? result.reduce((n, r) => n + (r.values || []).length + (r.histograms || []).length, 0)
    : data.resultType === 'vector' ? result.length : series;
  return (
    <dl class="pg-meta pg-query-stats" id="explore-stats">
      <div><dt>{kind === 'range' ? 'Range query' : 'Instant query'}</dt><dd>{data.resultType}</dd></div>
      <div><dt>Series</dt><dd data-stat="series">{series.toLocaleString()}</dd></div>
      <div><dt>Points</dt><dd data-stat="points">{points.toLocaleString()}</dd></div>
      {stepMs > 0 && <div><dt>Step</dt><dd>{formatDuration(stepMs)}</dd></div>}
      {t.evalTotalTime !== undefined && <div title={`queue ${seconds(t.execQueueTime)}, preparation ${seconds(t.queryPreparationTime)}, inner evaluation ${seconds(t.innerEvalTime)}, sort ${seconds(t.resultSortTime)}`}>
        <dt>Server time</dt><dd data-stat="server-time">{seconds(t.execTotalTime ?? t.evalTotalTime)}</dd></div>}
      {s.totalQueryableSamples !== undefined && <div><dt>Samples read</dt><dd data-stat="samples">{s.totalQueryableSamples.toLocaleString()}</dd></div>}
      {s.peakSamples !== undefined && <div><dt>Peak samples</dt><dd>{s.peakSamples.toLocaleString()}</dd></div>}
      <div><dt>Round trip</dt><dd data-stat="round-trip">{seconds(res.ms / 1000)}</dd></div>
      <div><dt>Answer</dt><dd>{res.bytes < 10240 ? `${res.bytes} B` : `${(res.bytes / 1024).toFixed(1)} KiB`}</dd></div>
    </dl>
  );
}

const tableMax = 1000;

function ResultTable({ data }) {
  if (!data) return null;
  const { resultType, result } = data;
  if (resultType === 'scalar' || resultType === 'string') {
    return (
      <table class="data pg-table" id="explore-table">
        <thead><tr><th>{resultType}</th><th class="num">value</th></tr></thead>
        <tbody><tr data-row=""><td class="muted">{formatTime(result[0] * 1000)}</td><td class="num mono">{String(result[1])}</td></tr></tbody>
      </table>
    );
  }
  if (!result || result.length === 0) {
    return <div class="pg-empty" id="explore-no-data" data-empty="">Empty result: no series matches at the end of the range.</div>;
  }
  const rows = result.slice(0, tableMax);
  return (
    <>
      {result.length > tableMax && <p class="muted">Showing the first {tableMax} of {result.length.toLocaleString()} series.</p>}
      <div class="pg-scroll">
        <table class="data pg-table" id="explore-table">
          <thead><tr><th>Series</th><th class="num">{resultType === 'matrix' ? 'values @ time' : 'value'}</th></tr></thead>
          <tbody>
            {rows.map((r) => (
              <tr key={selectorOf(r.metric)} data-row="">
                <td class="pg-series">
                  <span class="pg-metric-name mono">{r.metric.__name__ || ''}</span> <Labels labels={r.metric} omit={['__name__']} />
                </td>
                <td class="num mono">
                  {resultType === 'matrix'
                    ? (r.values || []).map(([ts, v]) => <div key={ts}>{v} <span class="muted">@{ts}</span></div>)
                    : r.histogram ? <span title={JSON.stringify(r.histogram[1])}>histogram (count {r.histogram[1].count})</span> : r.value[1]}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </>
  );
}
