// Management API client (docs/api.md). Relative URLs: the console is served by otad
// at "/" on the same origin as /api/v1. The admin token lives in sessionStorage (this tab only).

const TOKEN_KEY = 'ota.token';
const BASE = 'api/v1';

export class ApiError extends Error {
  constructor(status, code, message, field) {
    super(message || code || `HTTP ${status}`);
    this.status = status;
    this.code = code || '';
    this.field = field || '';
  }
}

let onUnauthorized = () => {};
export function setUnauthorizedHandler(fn) { onUnauthorized = fn; }

export function getToken() {
  try { return sessionStorage.getItem(TOKEN_KEY) || ''; } catch { return ''; }
}
export function setToken(tok) {
  try {
    if (tok) sessionStorage.setItem(TOKEN_KEY, tok); else sessionStorage.removeItem(TOKEN_KEY);
  } catch { /* storage blocked: the session lasts as long as the page */ }
}

function qs(params) {
  if (!params) return '';
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') u.set(k, String(v));
  }
  const s = u.toString();
  return s ? `?${s}` : '';
}

async function toError(res) {
  let code = '', message = '', field = '';
  try {
    const body = await res.json();
    if (body && body.error) ({ code = '', message = '', field = '' } = body.error);
  } catch { /* not JSON */ }
  return new ApiError(res.status, code, message || res.statusText, field);
}

/** request('GET', '/products', {query, json, body, headers, token}) -> parsed JSON or null. */
export async function request(method, path, opts = {}) {
  const headers = { Accept: 'application/json', ...(opts.headers || {}) };
  const token = opts.token ?? getToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  let body = opts.body;
  if (opts.json !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(opts.json);
  }
  let res;
  try {
    res = await fetch(`${BASE}${path}${qs(opts.query)}`, { method, headers, body, cache: 'no-store' });
  } catch (e) {
    throw new ApiError(0, 'network', e.message);
  }
  if (res.status === 401 && !opts.token) {
    onUnauthorized();
    throw await toError(res);
  }
  if (!res.ok) throw await toError(res);
  if (res.status === 204) return null;
  const text = await res.text();
  return text ? JSON.parse(text) : null;
}

export const get = (path, query) => request('GET', path, { query });
export const post = (path, json) => request('POST', path, { json });
export const del = (path) => request('DELETE', path);

/** Tests a token without storing it: true when the API accepts it. */
export async function checkToken(token) {
  try {
    await request('GET', '/products', { query: { page: 1, pageSize: 1 }, token });
    return true;
  } catch (e) {
    if (e.status === 401) return false;
    throw e;
  }
}

/**
 * multipart/form-data upload with progress (fetch has no upload progress).
 * Returns {promise, abort}. onProgress(loaded, total).
 */
export function upload(path, formData, onProgress) {
  const xhr = new XMLHttpRequest();
  const promise = new Promise((resolve, reject) => {
    xhr.open('POST', `${BASE}${path}`);
    xhr.setRequestHeader('Authorization', `Bearer ${getToken()}`);
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) onProgress?.(e.loaded, e.total); };
    xhr.onload = () => {
      let body = null;
      try { body = xhr.responseText ? JSON.parse(xhr.responseText) : null; } catch { /* not JSON */ }
      if (xhr.status >= 200 && xhr.status < 300) { resolve(body); return; }
      if (xhr.status === 401) onUnauthorized();
      const e = body && body.error ? body.error : {};
      reject(new ApiError(xhr.status, e.code, e.message || xhr.statusText, e.field));
    };
    xhr.onerror = () => reject(new ApiError(0, 'network', 'network error'));
    xhr.onabort = () => reject(new ApiError(0, 'aborted', 'aborted'));
    xhr.send(formData);
  });
  return { promise, abort: () => xhr.abort() };
}
