// api.js -- every call the app makes, through the public REST API (v1)
// described at /v1/openapi.json. Nothing here knows about the page.
//
// Errors: the API answers {"error": {"code", "message"}} with a 4xx/5xx;
// those become ApiError (status, code, message), network failures an
// ApiError with status 0. A 401 also tells the app to show the sign-in
// form (onUnauthorized).
//
// Sign-in (when the server has keys): cookies scry_session (HttpOnly) and
// scry_csrf (readable); every state-changing request carries X-CSRF-Token
// equal to the scry_csrf cookie whenever that cookie exists. GET
// /v1/session says whether sign-in is needed; a server without that route
// (404) has no sign-in.

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

let unauthorized = () => {};
export function onUnauthorized(fn) { unauthorized = fn; }

export function csrfToken() {
  for (const part of document.cookie.split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === 'scry_csrf') return decodeURIComponent(v.join('='));
  }
  return '';
}

function headersFor(method, extra) {
  const h = { Accept: 'application/json', ...(extra || {}) };
  if (method !== 'GET' && method !== 'HEAD') {
    const t = csrfToken();
    if (t) h['X-CSRF-Token'] = t;
  }
  return h;
}

async function errorOf(res) {
  let code = 'http_' + res.status, message = res.statusText || 'request failed';
  try {
    const doc = await res.json();
    if (doc && doc.error) ({ code, message } = doc.error);
  } catch { /* not JSON: keep the status line */ }
  return new ApiError(res.status, code, message);
}

export async function request(method, path, { body, signal, quiet401 } = {}) {
  let res;
  const opts = { method, signal, headers: headersFor(method), credentials: 'same-origin' };
  if (body !== undefined) {
    opts.body = JSON.stringify(body);
    opts.headers['Content-Type'] = 'application/json';
  }
  try {
    res = await fetch(path, opts);
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, 'network', 'Scry is not reachable (' + e.message + ')');
  }
  if (!res.ok) {
    const err = await errorOf(res);
    if (res.status === 401 && !quiet401) unauthorized(err);
    throw err;
  }
  if (res.status === 204) return null;
  return res.json();
}

export const get = (path, opts) => request('GET', path, opts);
export const del = (path, opts) => request('DELETE', path, opts);

export const thumbUrl = (id) => `/v1/images/${encodeURIComponent(id)}/thumbnail`;
export const contentUrl = (id) => `/v1/images/${encodeURIComponent(id)}/content`;

// The session: {auth, signed_in, scopes}. No /v1/session -> no sign-in.
export async function session() {
  try {
    return await request('GET', '/v1/session', { quiet401: true });
  } catch (e) {
    if (e.status === 404 || e.status === 405) return { auth: false, signed_in: false, scopes: [] };
    if (e.status === 401) return { auth: true, signed_in: false, scopes: [] };
    throw e;
  }
}
export const signIn = (key) => request('POST', '/v1/session', { body: { key }, quiet401: true });
export const signOut = () => request('DELETE', '/v1/session', { quiet401: true });

// POST /v1/images as multipart/form-data, with upload progress (fetch has
// none, hence XMLHttpRequest). Resolves with the 202 document; rejects with
// an ApiError (415, 413, ...).
export function upload(files, onProgress) {
  return new Promise((resolve, reject) => {
    const form = new FormData();
    for (const f of files) form.append('file', f, f.name);
    const xhr = new XMLHttpRequest();
    xhr.open('POST', '/v1/images');
    xhr.setRequestHeader('Accept', 'application/json');
    const t = csrfToken();
    if (t) xhr.setRequestHeader('X-CSRF-Token', t);
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) onProgress(e.loaded, e.total); };
    xhr.onload = () => {
      let doc = null;
      try { doc = JSON.parse(xhr.responseText); } catch { /* keep null */ }
      if (xhr.status === 202 && doc) return resolve(doc);
      const e = doc && doc.error ? doc.error : { code: 'http_' + xhr.status, message: xhr.statusText || 'upload failed' };
      const err = new ApiError(xhr.status, e.code, e.message);
      if (xhr.status === 401) unauthorized(err);
      reject(err);
    };
    xhr.onerror = () => reject(new ApiError(0, 'network', 'the upload was cut off (network error)'));
    xhr.send(form);
  });
}
