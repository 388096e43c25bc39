// The one way the UI talks to Vigil: JSON over fetch, on the same origin.
//
//   import { get, post, del, query, queryRange, APIError } from '../api.js';
//   const targets = await get('/api/v1/targets', { state: 'active' });
//   await post('/api/v2/silences', silence);          // sends X-CSRF-Token
//   const { result } = await queryRange(expr, startSec, endSec, stepSec, { signal });
//
// Answers in Prometheus' envelope ({"status":"success","data":...}) resolve
// to their data; {"status":"error","error":"..."} and any other non-2xx
// answer reject with an APIError whose message is the server's. A 401 means
// the session ended: the page reloads, and the server sends the browser to
// the login page, which comes back here afterwards.

/** APIError is a refused or failed request; message is the server's. */
export class APIError extends Error {
  constructor(message, { status = 0, errorType = '' } = {}) {
    super(message);
    this.name = 'APIError';
    this.status = status;
    this.errorType = errorType;
  }
}

/** csrfToken is the session's CSRF token, which index.html carries. */
export function csrfToken() {
  const m = document.querySelector('meta[name="csrf-token"]');
  return m ? m.getAttribute('content') : '';
}

/**
 * request sends method to path (with params as the query string) and
 * returns the decoded answer: the envelope's data, or the whole JSON body
 * when it is no envelope (Alertmanager API v2). body is sent as JSON unless
 * it is a string, FormData or URLSearchParams. opts.signal aborts it;
 * opts.raw returns the Response itself.
 */
export async function request(method, path, { params, body, signal, raw = false, headers = {} } = {}) {
  let url = path;
  if (params) {
    const qs = params instanceof URLSearchParams ? params : toSearchParams(params);
    const s = qs.toString();
    if (s) url += (url.includes('?') ? '&' : '?') + s;
  }
  const h = { Accept: 'application/json', ...headers };
  if (method !== 'GET' && method !== 'HEAD') {
    const t = csrfToken();
    if (t) h['X-CSRF-Token'] = t;
  }
  let payload = body;
  if (body !== undefined && body !== null && typeof body !== 'string' &&
      !(body instanceof FormData) && !(body instanceof URLSearchParams) && !(body instanceof Blob)) {
    payload = JSON.stringify(body);
    h['Content-Type'] = 'application/json';
  } else if (typeof body === 'string' && !h['Content-Type']) {
    h['Content-Type'] = 'application/json';
  }
  let resp;
  try {
    resp = await fetch(url, { method, headers: h, body: payload, signal, credentials: 'same-origin' });
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    throw new APIError(`Vigil did not answer (${err.message}); is it running?`);
  }
  if (resp.status === 401) {
    // The session expired or was logged out elsewhere: reloading goes
    // through the login page and back.
    window.location.reload();
    throw new APIError('Your session has ended; reloading to log in again.', { status: 401 });
  }
  if (raw) {
    if (!resp.ok) throw await errorOf(resp);
    return resp;
  }
  const text = await resp.text();
  let json;
  try {
    json = text === '' ? null : JSON.parse(text);
  } catch {
    if (!resp.ok) throw new APIError(text.trim() || `${resp.status} ${resp.statusText}`, { status: resp.status });
    throw new APIError(`${method} ${path}: the answer is not JSON: ${text.slice(0, 200)}`, { status: resp.status });
  }
  if (!resp.ok || (json && json.status === 'error')) {
    throw new APIError(messageOf(json, resp), { status: resp.status, errorType: (json && json.errorType) || '' });
  }
  if (json && typeof json === 'object' && json.status === 'success' && 'data' in json) return json.data;
  return json;
}

async function errorOf(resp) {
  const text = await resp.text();
  try {
    return new APIError(messageOf(JSON.parse(text), resp), { status: resp.status });
  } catch {
    return new APIError(text.trim() || `${resp.status} ${resp.statusText}`, { status: resp.status });
  }
}

function messageOf(json, resp) {
  if (json && typeof json === 'object') {
    if (typeof json.error === 'string' && json.error) return json.error;
    if (typeof json.message === 'string' && json.message) return json.message; // Alertmanager v2
  }
  if (typeof json === 'string' && json) return json;
  return `${resp.status} ${resp.statusText}`;
}

function toSearchParams(params) {
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null) continue;
    if (Array.isArray(v)) v.forEach((x) => qs.append(k, String(x)));
    else qs.append(k, String(v));
  }
  return qs;
}

export const get = (path, params, opts = {}) => request('GET', path, { ...opts, params });
export const post = (path, body, opts = {}) => request('POST', path, { ...opts, body });
export const put = (path, body, opts = {}) => request('PUT', path, { ...opts, body });
export const del = (path, opts = {}) => request('DELETE', path, opts);

/**
 * query runs an instant query at time (seconds; undefined: now) and
 * returns the envelope's data ({resultType, result}).
 */
export function query(expr, time, opts = {}) {
  return get('/api/v1/query', { query: expr, time }, opts);
}

/**
 * queryRange runs a range query from start to end (seconds) every step
 * seconds and returns the envelope's data ({resultType: 'matrix', result}).
 */
export function queryRange(expr, start, end, step, opts = {}) {
  return get('/api/v1/query_range', { query: expr, start, end, step }, opts);
}

/** isAbort tells an aborted request (superseded, page left) from a failure. */
export function isAbort(err) {
  return err && err.name === 'AbortError';
}
