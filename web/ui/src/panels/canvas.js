// Canvas drawing shared by the sparkline and the heatmap.
import { useLayoutEffect } from 'preact/hooks';

/**
 * useCanvas calls draw(g, w, h) with a cleared 2D context sized to the
 * canvas in ref (in CSS pixels, sharp on high-density screens), again on
 * every resize and theme change, and whenever deps change. A canvas with no
 * size yet is drawn once it gets one.
 */
export function useCanvas(ref, draw, deps) {
  useLayoutEffect(() => {
    const c = ref.current;
    if (!c) return undefined;
    const paint = () => {
      const dpr = window.devicePixelRatio || 1;
      const w = c.clientWidth, h = c.clientHeight;
      if (w === 0 || h === 0) return;
      c.width = Math.round(w * dpr);
      c.height = Math.round(h * dpr);
      const g = c.getContext('2d');
      g.setTransform(dpr, 0, 0, dpr, 0, 0);
      g.clearRect(0, 0, w, h);
      draw(g, w, h);
    };
    paint();
    const ro = new ResizeObserver(paint);
    ro.observe(c);
    window.addEventListener('vigil-theme', paint);
    return () => { ro.disconnect(); window.removeEventListener('vigil-theme', paint); };
  }, deps);
}
