// Client of killgate's Huawei GaussDB door (intelligent kill-session,
// docs/huawei.md): authenticated with an X-Auth-Token, or signed in the
// browser with SDK-HMAC-SHA256 when the user gave an AK/SK.

import {ApiError, clock, hmacSha256, sha256Hex, toHex} from './api.js';

// hwEscape percent-encodes everything but A-Z a-z 0-9 - _ . ~, as the
// Huawei SDK signer does.
export function hwEscape(s) {
  return Array.from(new TextEncoder().encode(s), b => {
    const c = String.fromCharCode(b);
    return /[A-Za-z0-9\-_.~]/.test(c) ? c : '%' + b.toString(16).toUpperCase().padStart(2, '0');
  }).join('');
}

export function sdkDate(ms) {
  return new Date(ms).toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
}

// huaweiSign returns the Authorization header value for a request.
// path is the decoded path; query an object of single values; headers the
// lower-case header names to sign with their values (host included).
export async function huaweiSign({ak, sk, method, path, query = {}, headers, body = ''}) {
  const segs = path.split('/').map(hwEscape);
  let uri = segs.join('/');
  if (!uri.endsWith('/')) uri += '/';
  const qs = Object.keys(query).sort().map(k => hwEscape(k) + '=' + hwEscape(String(query[k]))).join('&');
  const names = Object.keys(headers).sort();
  const canonical = [method, uri, qs, names.map(n => n + ':' + String(headers[n]).trim()).join('\n'), '', names.join(';'), await sha256Hex(body)].join('\n');
  const toSign = 'SDK-HMAC-SHA256\n' + headers['x-sdk-date'] + '\n' + await sha256Hex(canonical);
  const sig = toHex(await hmacSha256(sk, toSign));
  return `SDK-HMAC-SHA256 Access=${ak}, SignedHeaders=${names.join(';')}, Signature=${sig}`;
}

export class HuaweiClient {
  constructor({projectId, token, ak, sk, host = location.host}) {
    this.projectId = projectId;
    this.host = host;
    this.ak = ak || '';
    Object.defineProperty(this, 'token', {value: token || '', enumerable: false});
    Object.defineProperty(this, 'sk', {value: sk || '', enumerable: false});
  }

  base(instance) {
    return `/v3/${this.projectId}/instances/${instance}/intelligent-kill-session`;
  }

  // request returns the parsed JSON (or text for CSV); an error answer
  // throws ApiError with Huawei's error_code and error_msg.
  async request(method, instance, sub = '', query = {}, body) {
    const path = this.base(instance) + sub;
    const qs = new URLSearchParams(query).toString();
    const url = path.split('/').map(encodeURIComponent).join('/') + (qs ? '?' + qs : '');
    const payload = body === undefined ? '' : JSON.stringify(body);
    const headers = {};
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (this.token) {
      headers['X-Auth-Token'] = this.token;
    } else {
      const date = sdkDate(clock.now());
      headers['X-Sdk-Date'] = date;
      const signed = {'host': this.host, 'x-sdk-date': date};
      if (body !== undefined) signed['content-type'] = 'application/json';
      headers['Authorization'] = await huaweiSign({ak: this.ak, sk: this.sk, method, path, query, headers: signed, body: payload});
    }
    let res;
    const sentAt = Date.now();
    try {
      res = await fetch(url, {method, headers, body: body === undefined ? undefined : payload, credentials: 'omit', cache: 'no-store', redirect: 'error'});
    } catch (e) {
      throw new ApiError('NetworkError', 'killgate could not be reached (' + e.message + ').');
    }
    clock.observe(res, sentAt, Date.now());
    const rid = res.headers.get('X-Request-Id') || '';
    const text = await res.text();
    const ctype = res.headers.get('Content-Type') || '';
    if (!res.ok) {
      let e = {};
      try { e = JSON.parse(text); } catch { /* not JSON */ }
      throw new ApiError(e.error_code || 'HTTP ' + res.status, e.error_msg || text.slice(0, 200), rid, res.status);
    }
    if (ctype.startsWith('text/csv')) return text;
    try { return JSON.parse(text); } catch {
      throw new ApiError('BadResponse', 'killgate answered without JSON.', rid, res.status);
    }
  }

  statistic(instance, node) { return this.request('GET', instance, '/statistic', {node_id: node}); }
  execute(instance, node) { return this.request('POST', instance, '', {}, {node_id: node}); }
  history(instance, node, startMs, endMs, limit = 20, offset = 0) {
    return this.request('GET', instance, '/history', {node_id: node, start_time: String(startMs), end_time: String(endMs), limit: String(limit), offset: String(offset)});
  }
  download(instance, taskId, format = 'json') {
    return this.request('GET', instance, '/history/' + taskId + '/download', format === 'csv' ? {format: 'csv'} : {});
  }
}
