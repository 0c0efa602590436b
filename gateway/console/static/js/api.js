// The console's API client. Every call is an ordinary Tencent Cloud API 3.0
// request signed in the browser with TC3-HMAC-SHA256 (WebCrypto), exactly
// as the SDKs sign it: POST / with Content-Type application/json, the
// X-TC-Action / X-TC-Version / X-TC-Timestamp headers and an Authorization
// over content-type;host. Scopes, rate limits, audit lines and errors are
// therefore the API's own. The secret key never leaves this module's caller
// except as an HMAC key.

export const SERVICE = 'dbbrain';
export const VERSION = '2021-05-27';
const CONTENT_TYPE = 'application/json';
const enc = new TextEncoder();

const hex = buf => Array.from(new Uint8Array(buf), b => b.toString(16).padStart(2, '0')).join('');

export async function sha256Hex(text) {
  return hex(await crypto.subtle.digest('SHA-256', enc.encode(text)));
}

export async function hmacSha256(key, msg) {
  const k = await crypto.subtle.importKey('raw', typeof key === 'string' ? enc.encode(key) : key, {name: 'HMAC', hash: 'SHA-256'}, false, ['sign']);
  return crypto.subtle.sign('HMAC', k, enc.encode(msg));
}

export {hex as toHex};

// tc3Sign returns the Authorization header for a POST / with the given
// payload. host must be exactly the Host header the browser sends
// (location.host); timestamp is Unix seconds.
export async function tc3Sign({secretId, secretKey, host, payload, timestamp, contentType = CONTENT_TYPE, service = SERVICE}) {
  const date = new Date(timestamp * 1000).toISOString().slice(0, 10);
  const canonical = ['POST', '/', '', `content-type:${contentType}`, `host:${host}`, '', 'content-type;host', await sha256Hex(payload)].join('\n');
  const scope = `${date}/${service}/tc3_request`;
  const toSign = ['TC3-HMAC-SHA256', String(timestamp), scope, await sha256Hex(canonical)].join('\n');
  const kDate = await hmacSha256('TC3' + secretKey, date);
  const kService = await hmacSha256(kDate, service);
  const kSigning = await hmacSha256(kService, 'tc3_request');
  const signature = hex(await hmacSha256(kSigning, toSign));
  return {
    authorization: `TC3-HMAC-SHA256 Credential=${secretId}/${scope}, SignedHeaders=content-type;host, Signature=${signature}`,
    signature,
  };
}

// ApiError is an error answer (or a failure to get one).
export class ApiError extends Error {
  constructor(code, message, requestId = '', status = 0) {
    super(message);
    this.code = code;
    this.requestId = requestId;
    this.status = status;
  }
}

// clock corrects for the difference between this browser's clock and
// killgate's, learnt from the Date header of every answer (signatures are
// only accepted within 300 s of the server's time).
export const clock = {
  skewMs: 0,
  now() { return Date.now() + this.skewMs; },
  // observe returns true when the estimate changed the correction.
  observe(res, sentAt, recvAt) {
    const d = res.headers.get('Date');
    const server = d ? Date.parse(d) : NaN;
    if (isNaN(server)) return false;
    // Date has one-second resolution: the server's clock read server..server+999.
    const est = server + 500 - (sentAt + recvAt) / 2;
    const next = Math.abs(est) < 2000 ? 0 : Math.round(est);
    const changed = Math.abs(next - this.skewMs) >= 2000;
    if (changed || next === 0) this.skewMs = next;
    return changed;
  },
};

// A token bucket per key keeps the console well under the API's default
// 20 calls per second per (SecretId, Action), whatever a page does.
export class Pacer {
  constructor(perSecond = 8, burst = 8) {
    this.rate = perSecond;
    this.burst = burst;
    this.buckets = new Map();
  }
  async take(key) {
    for (;;) {
      const now = performance.now();
      const b = this.buckets.get(key) || {tokens: this.burst, at: now};
      b.tokens = Math.min(this.burst, b.tokens + (now - b.at) * this.rate / 1000);
      b.at = now;
      this.buckets.set(key, b);
      if (b.tokens >= 1) { b.tokens -= 1; return; }
      await new Promise(r => setTimeout(r, Math.ceil((1 - b.tokens) * 1000 / this.rate)));
    }
  }
}

const pacer = new Pacer();

// redactAuthorization hides the signature (a replayable credential for
// five minutes) in a copy of the request headers.
export function redactAuthorization(auth) {
  return auth.replace(/Signature=[0-9a-f]+/, 'Signature=[redacted]');
}

export class TencentClient {
  constructor({secretId, secretKey, host = location.host, endpoint = '/'}) {
    this.secretId = secretId;
    // Not enumerable: the key never shows up when the client is logged or serialised.
    Object.defineProperty(this, 'secretKey', {value: secretKey, enumerable: false});
    this.host = host;
    this.endpoint = endpoint;
  }

  // call sends action with params and returns the Response object (without
  // its RequestId wrapper); an error answer throws ApiError.
  async call(action, params = {}) {
    const r = await this.send(action, JSON.stringify(params));
    if (r.error) throw r.error;
    return r.response;
  }

  // send posts payload (JSON text, sent byte for byte) and returns
  // {response | error, request, status, text, ms}.
  async send(action, payload, retried = false) {
    await pacer.take(action);
    const timestamp = Math.floor(clock.now() / 1000);
    const {authorization} = await tc3Sign({secretId: this.secretId, secretKey: this.secretKey, host: this.host, payload, timestamp});
    const headers = {
      'Content-Type': CONTENT_TYPE,
      'X-TC-Action': action,
      'X-TC-Version': VERSION,
      'X-TC-Timestamp': String(timestamp),
      'Authorization': authorization,
    };
    const request = {
      method: 'POST', url: location.protocol + '//' + this.host + this.endpoint,
      headers: {Host: this.host, ...headers, Authorization: redactAuthorization(authorization)}, body: payload,
    };
    const sentAt = Date.now();
    let res;
    try {
      res = await fetch(this.endpoint, {method: 'POST', headers, body: payload, credentials: 'omit', cache: 'no-store', redirect: 'error'});
    } catch (e) {
      return {error: new ApiError('NetworkError', 'killgate could not be reached (' + e.message + ').'), request, status: 0, text: '', ms: Date.now() - sentAt};
    }
    const recvAt = Date.now();
    const skewChanged = clock.observe(res, sentAt, recvAt);
    const text = await res.text();
    const out = {request, status: res.status, text, ms: recvAt - sentAt};
    let body;
    try { body = JSON.parse(text); } catch { /* handled below */ }
    const resp = body && body.Response;
    if (!resp || typeof resp !== 'object') {
      out.error = new ApiError('BadResponse', `killgate answered HTTP ${res.status} without a Response object.`, '', res.status);
      return out;
    }
    if (resp.Error) {
      out.error = new ApiError(resp.Error.Code || 'Error', resp.Error.Message || '', resp.RequestId || '', res.status);
      // The browser's clock is off: sign again with the corrected time, once.
      if (out.error.code === 'AuthFailure.SignatureExpire' && skewChanged && !retried) return this.send(action, payload, true);
      return out;
    }
    out.response = resp;
    return out;
  }
}

// listAll pages through a Describe* action that takes Offset/Limit and
// answers TotalCount, up to max items. key names the list field.
export async function listAll(api, action, params, key, max = 1000) {
  const items = [];
  let total = 0;
  for (let offset = 0; offset < max; offset += 100) {
    const r = await api.call(action, {...params, Offset: offset, Limit: 100});
    total = r.TotalCount;
    items.push(...(r[key] || []));
    if (items.length >= total || !(r[key] || []).length) break;
  }
  return {items: items.slice(0, max), total};
}
