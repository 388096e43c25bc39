// The text panel: Markdown (the safe subset of markdown.js), or HTML and
// code shown as text. Variables are interpolated, as in Grafana.
import { interpolate, rangeMacros } from '../dashboard/variables.js';
import { renderMarkdown } from './markdown.js';

export function TextPanel({ panel, vars, range }) {
  const o = panel.options || {};
  const mode = o.mode || panel.mode || 'markdown';
  const content = interpolate(String(o.content ?? panel.content ?? ''), vars, rangeMacros(range), range);
  if (mode === 'markdown') return <div class="text-panel markdown">{renderMarkdown(content)}</div>;
  if (mode === 'html') {
    // Never markup from a dashboard: its text only.
    const doc = new DOMParser().parseFromString(content, 'text/html');
    return <div class="text-panel">{doc.body.textContent}</div>;
  }
  return <pre class="text-panel">{content}</pre>;
}
