// The variable pickers above a dashboard: a select for single values, a
// checklist for multi-value variables (with "All"), a text box for
// textbox variables.
import { useEffect, useState } from 'preact/hooks';
import { ALL } from './variables.js';
import { usePopover } from './timepicker.jsx';

export function VariablePicker({ v, onChange }) {
  if (v.hide === 2) return null;
  const id = 'var-' + v.name;
  return (
    <div class="var-picker" data-variable={v.name}>
      {v.hide !== 1 && <label for={id}>{v.label}</label>}
      {v.type === 'textbox' ? <TextboxVar id={id} v={v} onChange={onChange} />
        : v.multi ? <MultiVar id={id} v={v} onChange={onChange} />
          : (
            <select class="input" id={id} value={v.current[0] ?? ''} onChange={(e) => onChange([e.currentTarget.value])}>
              {v.options.map((o) => <option key={o.value} value={o.value}>{o.text}</option>)}
              {v.options.length === 0 && <option value={v.current[0] ?? ''}>{v.current[0] ?? '(none)'}</option>}
            </select>
          )}
      {v.error && <span class="var-error" role="img" aria-label={`Options failed: ${v.error}`} title={v.error}>⚠</span>}
    </div>
  );
}

function TextboxVar({ id, v, onChange }) {
  const [text, setText] = useState(v.current[0] ?? '');
  useEffect(() => setText(v.current[0] ?? ''), [v.current[0]]);
  const apply = () => { if (text !== (v.current[0] ?? '')) onChange([text]); };
  return <input class="input" id={id} value={text} onInput={(e) => setText(e.currentTarget.value)}
    onBlur={apply} onKeyDown={(e) => { if (e.key === 'Enter') apply(); }} />;
}

function MultiVar({ id, v, onChange }) {
  const { open, setOpen, ref } = usePopover();
  const label = (x) => (v.options.find((o) => o.value === x) || { text: x }).text;
  const text = v.current.includes(ALL) ? 'All' : v.current.map(label).join(' + ') || '(none)';
  const toggle = (val) => {
    let cur = v.current.filter((c) => c !== ALL);
    if (val === ALL) cur = [ALL];
    else if (cur.includes(val)) cur = cur.filter((c) => c !== val);
    else cur = [...cur, val];
    if (cur.length === 0) cur = v.includeAll ? [ALL] : [v.options[0] && v.options[0].value].filter(Boolean);
    onChange(cur);
  };
  return (
    <div class="popover-wrap" ref={ref}>
      <button type="button" class="btn var-multi" id={id} aria-expanded={open} onClick={() => setOpen(!open)}>{text} ▾</button>
      {open && (
        <ul class="popover var-options" role="listbox" aria-multiselectable="true">
          {v.options.map((o) => (
            <li key={o.value}>
              <label>
                <input type="checkbox" checked={v.current.includes(o.value)} onChange={() => toggle(o.value)} />
                {o.text}
              </label>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
