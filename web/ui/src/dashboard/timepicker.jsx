// The time range picker (quick ranges and absolute from/to) and the
// auto-refresh picker of the dashboard toolbar.
import { useEffect, useRef, useState } from 'preact/hooks';
import { describeRange, formatTime, isRelative, parseTime, quickRanges, refreshIntervals } from '../time.js';

/** usePopover closes a popover on a click outside it or on Escape. */
export function usePopover() {
  const [open, setOpen] = useState(false);
  const ref = useRef(null);
  useEffect(() => {
    if (!open) return undefined;
    const onDown = (e) => { if (ref.current && !ref.current.contains(e.target)) setOpen(false); };
    const onKey = (e) => { if (e.key === 'Escape') setOpen(false); };
    document.addEventListener('mousedown', onDown);
    document.addEventListener('keydown', onKey);
    return () => { document.removeEventListener('mousedown', onDown); document.removeEventListener('keydown', onKey); };
  }, [open]);
  return { open, setOpen, ref };
}

const shown = (s) => (/^\d{9,}$/.test(s) ? formatTime(Number(s)) : s);

export function TimePicker({ from, to, onChange }) {
  const { open, setOpen, ref } = usePopover();
  const [f, setF] = useState(shown(from));
  const [t, setT] = useState(shown(to));
  const [error, setError] = useState('');
  useEffect(() => { setF(shown(from)); setT(shown(to)); setError(''); }, [from, to, open]);
  const apply = (e) => {
    e.preventDefault();
    // Absolute times go into the URL as epoch milliseconds, as in Grafana.
    const norm = (s, up) => (isRelative(s) ? s.trim() : String(parseTime(s, { roundUp: up })));
    const nf = norm(f, false), nt = norm(t, true);
    const a = parseTime(nf), b = parseTime(nt, { roundUp: true });
    if (isNaN(a)) return setError(`"${f}" is not a time: use now-6h, or YYYY-MM-DD HH:mm:ss`);
    if (isNaN(b)) return setError(`"${t}" is not a time: use now, or YYYY-MM-DD HH:mm:ss`);
    if (a >= b) return setError('"From" must be before "To".');
    onChange(nf, nt);
    setOpen(false);
  };
  return (
    <div class="popover-wrap" ref={ref}>
      <button type="button" class="btn" id="time-picker" aria-expanded={open} onClick={() => setOpen(!open)}>
        {describeRange(from, to)}
      </button>
      {open && (
        <div class="popover time-popover" role="dialog" aria-label="Time range">
          <form class="time-absolute" onSubmit={apply}>
            <label>From <input class="input" id="time-from" value={f} onInput={(e) => setF(e.currentTarget.value)} /></label>
            <label>To <input class="input" id="time-to" value={t} onInput={(e) => setT(e.currentTarget.value)} /></label>
            {error && <p class="error-text" role="alert">{error}</p>}
            <button type="submit" class="btn btn-primary" id="time-apply">Apply time range</button>
          </form>
          <ul class="time-quick">
            {quickRanges.map((q) => (
              <li key={q.label}>
                <button type="button" class={`btn-link ${q.from === from && q.to === to ? 'active' : ''}`}
                  onClick={() => { onChange(q.from, q.to); setOpen(false); }}>{q.label}</button>
              </li>
            ))}
          </ul>
        </div>
      )}
    </div>
  );
}

export function RefreshPicker({ value, onChange, onRefresh }) {
  return (
    <div class="refresh-picker">
      <button type="button" class="btn" id="refresh-now" title="Refresh now" aria-label="Refresh now" onClick={onRefresh}>↻</button>
      <select class="input" id="refresh-interval" value={value || ''} aria-label="Auto-refresh"
        onChange={(e) => onChange(e.currentTarget.value)}>
        {refreshIntervals.map((r) => <option key={r} value={r}>{r === '' ? 'Off' : r}</option>)}
      </select>
    </div>
  );
}
