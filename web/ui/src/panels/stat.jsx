// The stat panel (and the legacy singlestat): one reduced value per
// series, coloured by thresholds, with a sparkline for graphMode "area".
import { cssColor, thresholdColor } from '../colors.js';
import { fieldDefaults, mapValue, reduceCalc } from '../dashboard/model.js';
import { formatValue } from '../units.js';
import { reduced } from './data.js';
import { Sparkline } from './sparkline.jsx';

/** display is the text and colour of v under a panel's field config. */
export function display(d, v) {
  const mapped = mapValue(d.mappings, v);
  const thresholds = d.thresholds || { mode: 'absolute', steps: [{ value: null, color: 'green' }] };
  const min = d.min ?? 0, max = d.max ?? 100;
  let color = thresholdColor(v, thresholds, min, max);
  if (d.color && d.color.mode === 'fixed' && d.color.fixedColor) color = cssColor(d.color.fixedColor);
  if (mapped && mapped.color) color = cssColor(mapped.color, color);
  const text = mapped && mapped.text !== undefined && mapped.text !== '' ? mapped.text
    : v === null || v === undefined ? (d.noValue || 'No data') : formatValue(v, d.unit, d.decimals);
  return { text, color };
}

export function StatPanel({ panel, frames, range }) {
  const d = fieldDefaults(panel);
  const o = panel.options || {};
  const values = reduced(frames, reduceCalc(panel));
  const colorMode = o.colorMode || (panel.type === 'singlestat' ? (panel.colorBackground ? 'background' : panel.colorValue ? 'value' : 'none') : 'value');
  const graph = (o.graphMode || (panel.sparkline && panel.sparkline.show ? 'area' : 'none')) === 'area';
  const showName = o.textMode === 'value_and_name' || o.textMode === 'name' || (o.textMode !== 'value' && values.length > 1);
  const horizontal = o.orientation === 'horizontal';
  return (
    <div class={`stat-grid ${horizontal ? 'stat-vertical' : ''}`}>
      {values.map((s, i) => {
        const { text, color } = display(d, s.value);
        const style = colorMode === 'background' ? { background: color, color: '#fff' } : {};
        return (
          <div class="stat" key={i} style={style} data-value={s.value === null ? '' : String(s.value)}>
            {graph && s.values && s.values.length > 1 && (
              <Sparkline x={s.x} values={s.values} color={colorMode === 'background' ? 'rgba(255,255,255,0.8)' : color}
                start={range.start} end={range.end} />
            )}
            {showName && <div class="stat-name">{s.label}</div>}
            {o.textMode !== 'name' && (
              <div class="stat-value" style={colorMode === 'value' ? { color } : {}}>{text}</div>
            )}
          </div>
        );
      })}
    </div>
  );
}
