// Requests to this node's API. Everything goes through `request` (or
// `readEvents`, which asks `credentials()` too): with auth enabled they
// carry an `Authorization: Bearer` header, never a token in a URL.

// The signed-in user's token, in this page's memory only: never in a URL,
// a cookie or storage, so closing the tab forgets it.
let token = null;

/** Headers every request carries: the token once the user signed in. */
export function credentials() {
  return token ? { authorization: `Bearer ${token}` } : {};
}

/** Signs in with `name` and `password`; later requests carry the token. */
export async function signIn(name, password) {
  const response = await fetch('/v1/auth/authenticate', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name, password }),
    cache: 'no-store',
  });
  if (!response.ok) {
    let message = `HTTP ${response.status}`;
    try {
      const body = await response.json();
      message = body.message || body.error || message;
    } catch (_) {
      // Not the API's JSON error: the status says enough.
    }
    throw new ApiError(response.status, 'unauthenticated', message);
  }
  token = (await response.json()).token;
}

/** An answer the API refused: its status and the API's error code. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || code || `HTTP ${status}`);
    this.status = status;
    this.code = code;
  }
}

/** `fetch` with the credentials; throws ApiError unless the answer is 2xx. */
export async function request(path, options = {}) {
  const headers = { ...credentials(), ...(options.headers || {}) };
  const response = await fetch(path, { ...options, headers, cache: 'no-store' });
  if (!response.ok) {
    let code = '';
    let message = '';
    try {
      const body = await response.json();
      code = body.error || '';
      message = body.message || '';
    } catch (_) {
      // Not the API's JSON error: the status says enough.
    }
    throw new ApiError(response.status, code, message);
  }
  return response;
}

/** The JSON answer of a request. */
export async function requestJson(path, options = {}) {
  const response = await request(path, options);
  return response.json();
}

/** A JSON body for POST or PUT. */
export function jsonBody(method, value) {
  return { method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(value) };
}

/** A key as one path segment of /v1/kv/{key} (as the CLI spells it). */
export function keyPath(key) {
  if (key === '.') return '%2E';
  if (key === '..') return '%2E%2E';
  return encodeURIComponent(key);
}

/** `name=value` pairs as a query string, skipping absent values. */
export function query(params) {
  const parts = [];
  for (const [name, value] of Object.entries(params)) {
    if (value === undefined || value === null) continue;
    parts.push(`${name}=${encodeURIComponent(String(value))}`);
  }
  return parts.length ? `?${parts.join('&')}` : '';
}
