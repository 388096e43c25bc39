// A small router over history.pushState. Pages read the location with
// useLocation() and change it with navigate(); plain <a href="/...">
// links to Vigil's own pages are turned into pushState navigations by the
// shell (app.jsx), so pages just write links.
//
//   const { path, query } = useLocation();   // query: URLSearchParams
//   navigate('/d/abc?from=now-1h&to=now');   // a new history entry
//   setQuery({ from: 'now-1h', 'var-zone': ['a', 'b'] }, { replace: true });
import { useEffect, useState } from 'preact/hooks';

const listeners = new Set();

function snapshot() {
  return { path: window.location.pathname, search: window.location.search, query: new URLSearchParams(window.location.search) };
}

/** navigate goes to url (a path with an optional query) without reloading. */
export function navigate(url, { replace = false } = {}) {
  const here = window.location.pathname + window.location.search;
  if (url === here) return;
  window.history[replace ? 'replaceState' : 'pushState'](null, '', url);
  notify();
  if (!replace) window.scrollTo(0, 0);
}

/**
 * setQuery changes the query string of the current page: keys with
 * undefined or null are removed, arrays become repeated parameters, other
 * keys are kept.
 */
export function setQuery(changes, { replace = false } = {}) {
  const q = new URLSearchParams(window.location.search);
  for (const [k, v] of Object.entries(changes)) {
    q.delete(k);
    if (v === undefined || v === null) continue;
    if (Array.isArray(v)) v.forEach((x) => q.append(k, x));
    else q.set(k, v);
  }
  const s = q.toString();
  navigate(window.location.pathname + (s ? '?' + s : ''), { replace });
}

function notify() {
  for (const f of listeners) f();
}

/** useLocation re-renders its component whenever the location changes. */
export function useLocation() {
  const [loc, setLoc] = useState(snapshot);
  useEffect(() => {
    const update = () => setLoc(snapshot());
    listeners.add(update);
    window.addEventListener('popstate', update);
    update();
    return () => {
      listeners.delete(update);
      window.removeEventListener('popstate', update);
    };
  }, []);
  return loc;
}

/**
 * interceptLinks makes same-origin <a href> clicks client-side
 * navigations. Links with a target, a download attribute, rel="external",
 * a modifier key, or outside the UI's own pages load normally.
 */
export function interceptLinks(isAppPath) {
  document.addEventListener('click', (ev) => {
    if (ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) return;
    const a = ev.target.closest && ev.target.closest('a[href]');
    if (!a || a.target || a.hasAttribute('download') || a.getAttribute('rel') === 'external') return;
    const url = new URL(a.href, window.location.href);
    if (url.origin !== window.location.origin || !isAppPath(url.pathname)) return;
    ev.preventDefault();
    navigate(url.pathname + url.search + url.hash);
  });
}
