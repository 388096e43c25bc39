// Dark and light themes: the choice is kept in localStorage; without one
// the system's prefers-color-scheme decides. The theme is the data-theme
// attribute of <html>, which styles.css keys its colours on; chart code
// reads the colours from CSS variables (themeColor) and listens for
// 'vigil-theme' events to redraw.
const key = 'vigil.theme';

/** currentTheme is 'dark' or 'light'. */
export function currentTheme() {
  let stored = null;
  try {
    stored = window.localStorage.getItem(key);
  } catch {
    // Storage can be disabled; fall back to the system's choice.
  }
  if (stored === 'dark' || stored === 'light') return stored;
  return window.matchMedia && window.matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
}

/** applyTheme sets theme on the document and tells the charts. */
export function applyTheme(theme) {
  document.documentElement.dataset.theme = theme;
  window.dispatchEvent(new CustomEvent('vigil-theme', { detail: theme }));
}

/** setTheme remembers and applies theme. */
export function setTheme(theme) {
  try {
    window.localStorage.setItem(key, theme);
  } catch {
    // Not remembered, still applied.
  }
  applyTheme(theme);
}

/** themeColor reads a CSS variable of the current theme, e.g. themeColor('--text'). */
export function themeColor(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}
