// Link targets taken from data that a dashboard or a rule author wrote
// (Markdown text panels, alert annotations), checked once for every page.

/**
 * safeHref returns url (trimmed) when it is an absolute http(s) link or a
 * path on this site, '' for anything else: javascript:, data: and other
 * schemes, and protocol-relative links in disguise ("//host", "/\host",
 * or a path with control characters or backslashes, which browsers strip
 * or read as slashes).
 */
export function safeHref(url) {
  if (typeof url !== 'string') return '';
  const u = url.trim();
  if (/[\u0000-\u001f\u007f\\]/.test(u)) return '';
  if (/^https?:\/\/[^/]/i.test(u)) return u;
  if (u.startsWith('/') && !u.startsWith('//')) return u;
  return '';
}
