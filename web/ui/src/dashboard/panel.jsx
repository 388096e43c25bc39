// One dashboard panel: its frame (title, description, error), its queries
// (through the dashboard's concurrency limit, aborted when superseded),
// and the renderer of its type.
//
// The panel element carries what tests and the drawing benchmark read:
// data-panel-id, data-panel-type, data-state (loading, ok, nodata, error,
// unsupported, static), data-points (the data points drawn), data-queries
// (the interpolated expressions, JSON) and data-drawn once drawn.
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { isAbort } from '../api.js';
import { interpolate, rangeMacros } from './variables.js';
import { planQueries, runPlan } from './queries.js';
import { supportedTypes, unsupportedOptions } from './model.js';
import { renderers, framePoints } from '../panels/index.js';

export function Panel({ panel, panelId, range, vars, widthPx, onZoom, onSettled, refreshTick }) {
  const type = panel.type || 'graph';
  const supported = supportedTypes.has(type) && renderers[type];
  const title = interpolate(panel.title || '', vars, rangeMacros(range), range);
  const isStatic = type === 'text' || !Array.isArray(panel.targets) || panel.targets.length === 0;

  const { plans } = useMemo(
    () => (supported && !isStatic ? planQueries(panel, range, widthPx, vars) : { plans: [] }),
    [panel, range, widthPx, vars, supported, isStatic],
  );
  const planKey = JSON.stringify(plans);
  const [state, setState] = useState({ status: 'loading', frames: [], error: '' });
  const [drawn, setDrawn] = useState(false);
  const settledFor = useRef('');

  useEffect(() => {
    if (!supported || isStatic || plans.length === 0) {
      setState({ status: supported ? 'static' : 'unsupported', frames: [], error: '' });
      return undefined;
    }
    const ctl = new AbortController();
    setState((s) => ({ ...s, status: 'loading' }));
    setDrawn(false);
    Promise.all(plans.map((p) => runPlan(p, ctl.signal).then((data) => ({ ...p, ...data }))))
      .then((frames) => {
        const points = frames.reduce((n, f) => n + framePoints(f), 0);
        setState({ status: points > 0 ? 'ok' : 'nodata', frames, error: '' });
      })
      .catch((err) => {
        if (isAbort(err)) return;
        setState({ status: 'error', frames: [], error: err.message });
      });
    return () => ctl.abort();
  }, [planKey, refreshTick, supported, isStatic]);

  // A panel has settled when its data is in and drawn; the dashboard
  // measures from navigation to the last panel settling.
  const R = supported ? renderers[type] : null;
  const done = state.status !== 'loading' && (drawn || state.status !== 'ok' || !R || !R.drawsAsync);
  useEffect(() => {
    if (done && settledFor.current !== planKey) {
      settledFor.current = planKey;
      onSettled && onSettled(panelId);
    }
  }, [done, planKey]);

  const points = state.frames.reduce((n, f) => n + framePoints(f), 0);
  const notes = supported ? unsupportedOptions(panel, vars) : [];
  const desc = panel.description ? interpolate(panel.description, vars, rangeMacros(range), range) : '';
  return (
    <div class={`panel panel-${type}`} data-panel-id={panelId} data-panel-type={type} data-state={state.status}
      data-points={state.status === 'ok' || state.status === 'nodata' ? points : undefined}
      data-queries={JSON.stringify(plans.map((p) => p.expr))} data-drawn={done ? '1' : undefined}>
      {(title || type !== 'text') && (
        <div class="panel-head">
          <span class="panel-title" title={title}>{title}</span>
          {desc && <span class="panel-info" title={desc} aria-label={desc}>i</span>}
          {notes.length > 0 && (
            <span class="panel-unsupported-note" role="note" title={`Vigil does not apply: ${notes.join('; ')}`}>
              ⚠ not applied: {notes.join('; ')}
            </span>
          )}
          {state.status === 'loading' && <span class="panel-loading" aria-label="loading" />}
        </div>
      )}
      <div class="panel-body">
        {!supported && (
          <div class="panel-message panel-unsupported">Panel type '{type}' is not supported by Vigil</div>
        )}
        {supported && state.status === 'error' && (
          <div class="panel-message panel-error" role="alert"><strong>Query error</strong><span>{state.error}</span></div>
        )}
        {supported && state.status === 'nodata' && panel.type !== 'table' && (
          <div class="panel-message panel-nodata">No data</div>
        )}
        {supported && (state.status === 'ok' || state.status === 'static' || (state.status === 'nodata' && panel.type === 'table') ||
          (state.status === 'loading' && state.frames.length > 0)) && (
          <R panel={panel} frames={state.frames} range={range} vars={vars} onZoom={onZoom} onDrawn={() => setDrawn(true)} />
        )}
      </div>
    </div>
  );
}
