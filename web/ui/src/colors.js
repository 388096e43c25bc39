// Series colours and Grafana's named colours.

/** palette is Grafana's classic palette, in its order. */
export const palette = [
  '#7EB26D', '#EAB839', '#6ED0E0', '#EF843C', '#E24D42', '#1F78C1', '#BA43A9', '#705DA0',
  '#508642', '#CCA300', '#447EBC', '#C15C17', '#890F02', '#0A437C', '#6D1F62', '#584477',
  '#B7DBAB', '#F4D598', '#70DBED', '#F9BA8F', '#F29191', '#82B5D8', '#E5A8E2', '#AEA2E0',
];

const named = {
  green: '#73BF69', 'dark-green': '#37872D', 'semi-dark-green': '#56A64B', 'light-green': '#96D98D', 'super-light-green': '#C8F2C2',
  red: '#F2495C', 'dark-red': '#C4162A', 'semi-dark-red': '#E02F44', 'light-red': '#FF7383', 'super-light-red': '#FFA6B0',
  yellow: '#FADE2A', 'dark-yellow': '#E0B400', 'semi-dark-yellow': '#F2CC0C', 'light-yellow': '#FFEE52', 'super-light-yellow': '#FFF899',
  orange: '#FF9830', 'dark-orange': '#FA6400', 'semi-dark-orange': '#FF780A', 'light-orange': '#FFB357', 'super-light-orange': '#FFCB7D',
  blue: '#5794F2', 'dark-blue': '#1F60C4', 'semi-dark-blue': '#3274D9', 'light-blue': '#8AB8FF', 'super-light-blue': '#C0D8FF',
  purple: '#B877D9', 'dark-purple': '#8F3BB8', 'semi-dark-purple': '#A352CC', 'light-purple': '#CA95E5', 'super-light-purple': '#DEB6F2',
  text: '#8e8e8e', transparent: 'rgba(0,0,0,0)',
};

/**
 * cssColor turns a Grafana colour (a name like "semi-dark-red", a hex or
 * an rgb()/rgba()/hsl() value) into a CSS colour; anything else (which
 * could smuggle CSS) becomes fallback.
 */
export function cssColor(c, fallback = palette[0]) {
  if (typeof c !== 'string') return fallback;
  const s = c.trim();
  if (named[s]) return named[s];
  if (/^#[0-9a-fA-F]{3,8}$/.test(s)) return s;
  if (/^(rgba?|hsla?)\(\s*[\d.%\s,/]+\)$/.test(s)) return s;
  if (/^[a-z]{3,20}$/.test(s)) return s; // CSS named colours
  return fallback;
}

/** seriesColor is the palette colour of the i-th series. */
export function seriesColor(i) {
  return palette[i % palette.length];
}

/** withAlpha returns a CSS colour of c with opacity a (0..1); c is a hex from cssColor. */
export function withAlpha(c, a) {
  const m = /^#([0-9a-fA-F]{6})$/.exec(c);
  if (!m) {
    const s = /^#([0-9a-fA-F])([0-9a-fA-F])([0-9a-fA-F])$/.exec(c);
    if (!s) return c;
    return withAlpha('#' + s[1] + s[1] + s[2] + s[2] + s[3] + s[3], a);
  }
  const n = parseInt(m[1], 16);
  return `rgba(${(n >> 16) & 255},${(n >> 8) & 255},${n & 255},${a})`;
}

/**
 * thresholdColor picks the colour of v from Grafana thresholds
 * ({mode, steps: [{value: null|number, color}]}): the last step whose
 * value is at most v; percentage mode places v between min and max.
 */
export function thresholdColor(v, thresholds, min = 0, max = 100, fallback = named.green) {
  const steps = thresholds && Array.isArray(thresholds.steps) ? thresholds.steps : null;
  if (!steps || steps.length === 0 || v == null || Number.isNaN(v)) return fallback;
  let x = v;
  if (thresholds.mode === 'percentage') x = max > min ? ((v - min) / (max - min)) * 100 : 0;
  let color = cssColor(steps[0].color, fallback);
  for (const s of steps) {
    if (s.value === null || s.value === undefined || s.value === -Infinity || x >= s.value) color = cssColor(s.color, color);
  }
  return color;
}
