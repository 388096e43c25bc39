// A small, safe Markdown renderer for the text panel: it builds Preact
// elements and never HTML strings, so a dashboard cannot inject markup or
// script. Supported: headings, paragraphs, emphasis, inline code, code
// blocks, links (http, https and paths on this site: safeHref), lists,
// blockquotes and rules. HTML in the source shows as text.
import { h } from 'preact';
import { safeHref } from '../href.js';

const inlineRE = /(`+)([\s\S]*?)\1|\*\*([\s\S]+?)\*\*|__([\s\S]+?)__|\*([^*\s][^*]*?)\*|_([^_\s][^_]*?)_|\[([^\]]+)\]\(([^)\s]+)(?:\s+"[^"]*")?\)|(https?:\/\/[^\s<]+[^\s<.,;:!?)\]'"])/g;

function inline(text) {
  const out = [];
  let last = 0;
  for (const m of text.matchAll(inlineRE)) {
    if (m.index > last) out.push(text.slice(last, m.index));
    if (m[1]) out.push(h('code', null, m[2]));
    else if (m[3] !== undefined || m[4] !== undefined) out.push(h('strong', null, inline(m[3] ?? m[4])));
    else if (m[5] !== undefined || m[6] !== undefined) out.push(h('em', null, inline(m[5] ?? m[6])));
    else if (m[7] !== undefined) {
      const href = safeHref(m[8]);
      out.push(href ? h('a', { href, rel: 'noopener noreferrer', target: /^https?:/i.test(href) ? '_blank' : undefined }, inline(m[7])) : m[0]);
    } else if (m[9]) {
      const href = safeHref(m[9]);
      out.push(href ? h('a', { href, rel: 'noopener noreferrer', target: '_blank' }, m[9]) : m[9]);
    }
    last = m.index + m[0].length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

/** renderMarkdown turns source into Preact elements. */
export function renderMarkdown(source) {
  const lines = String(source).replace(/\r\n?/g, '\n').split('\n');
  const blocks = [];
  let i = 0;
  let key = 0;
  while (i < lines.length) {
    const line = lines[i];
    let m;
    if (line.trim() === '') { i++; continue; }
    if ((m = /^\s*(```|~~~)/.exec(line))) {
      const fence = m[1];
      const code = [];
      i++;
      while (i < lines.length && !lines[i].trim().startsWith(fence)) code.push(lines[i++]);
      i++;
      blocks.push(h('pre', { key: key++ }, h('code', null, code.join('\n'))));
      continue;
    }
    if ((m = /^(#{1,6})\s+(.*?)\s*#*\s*$/.exec(line))) {
      blocks.push(h('h' + m[1].length, { key: key++ }, inline(m[2])));
      i++;
      continue;
    }
    if (/^\s*([-*_])(\s*\1){2,}\s*$/.test(line)) {
      blocks.push(h('hr', { key: key++ }));
      i++;
      continue;
    }
    if (/^\s*>/.test(line)) {
      const quote = [];
      while (i < lines.length && /^\s*>/.test(lines[i])) quote.push(lines[i++].replace(/^\s*>\s?/, ''));
      blocks.push(h('blockquote', { key: key++ }, renderMarkdown(quote.join('\n'))));
      continue;
    }
    if ((m = /^\s*([-*+]|\d+[.)])\s+/.exec(line))) {
      const ordered = /\d/.test(m[1]);
      const items = [];
      while (i < lines.length && (m = /^\s*([-*+]|\d+[.)])\s+(.*)$/.exec(lines[i])) && /\d/.test(m[1]) === ordered) {
        let item = m[2];
        i++;
        while (i < lines.length && /^\s{2,}\S/.test(lines[i]) && !/^\s*([-*+]|\d+[.)])\s+/.test(lines[i])) item += ' ' + lines[i++].trim();
        items.push(h('li', { key: items.length }, inline(item)));
      }
      blocks.push(h(ordered ? 'ol' : 'ul', { key: key++ }, items));
      continue;
    }
    const para = [];
    while (i < lines.length && lines[i].trim() !== '' && !/^(#{1,6}\s|\s*(```|~~~)|\s*>|\s*([-*+]|\d+[.)])\s+)/.test(lines[i])) {
      para.push(lines[i++]);
    }
    const parts = [];
    para.forEach((p, k) => {
      // Two trailing spaces or a backslash break the line, as in Markdown.
      const br = /( {2,}|\\)$/.test(p);
      parts.push(...inline(p.replace(/( {2,}|\\)$/, '')));
      if (k < para.length - 1) parts.push(br ? h('br', null) : ' ');
    });
    blocks.push(h('p', { key: key++ }, parts));
  }
  return blocks;
}
