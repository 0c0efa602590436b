// Tiny view helpers: h() builds DOM nodes (text is always set as text, never
// parsed as HTML, so statement text and account names cannot inject markup),
// plus shared states, tables, dialogs, toasts and formatters.

const SVG_NS = 'http://www.w3.org/2000/svg';
const PROPS = new Set(['value', 'checked', 'disabled', 'selected', 'hidden', 'indeterminate', 'open', 'multiple', 'readOnly', 'required']);

// h('div', {class: 'x', onclick: fn}, 'text', child, [more]) → Element.
// A tag 'svg:rect' makes an SVG element.
export function h(tag, props, ...kids) {
  const svg = tag.startsWith('svg:');
  const el = svg ? document.createElementNS(SVG_NS, tag.slice(4)) : document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v == null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'text') el.textContent = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (PROPS.has(k) && !svg) el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, kids);
  return el;
}

// fill replaces el's children (null, false and nested arrays allowed, as in h()).
export function fill(el, ...kids) {
  el.replaceChildren();
  append(el, kids);
  return el;
}

function append(el, kids) {
  for (const k of kids) {
    if (k == null || k === false) continue;
    if (Array.isArray(k)) append(el, k);
    else el.append(k instanceof Node ? k : String(k));
  }
}

// --- states -----------------------------------------------------------------

export function loading(text = 'Loading…') {
  return h('div', {class: 'state loading', role: 'status'}, h('span', {class: 'spinner', 'aria-hidden': 'true'}), text);
}

export function empty(title, hint) {
  return h('div', {class: 'state empty'}, h('div', {class: 'title'}, title), hint ? h('div', {}, hint) : null);
}

// errorState shows an API error with its code, message and request id.
export function errorState(err, retry) {
  return h('div', {class: 'state error', role: 'alert'},
    h('div', {}, h('span', {class: 'code'}, errCode(err)), ': ', h('span', {class: 'msg'}, errMessage(err))),
    err && err.requestId ? h('div', {class: 'rid'}, 'RequestId ' + err.requestId) : null,
    retry ? h('button', {type: 'button', class: 'small', onclick: retry}, 'Retry') : null);
}

export function errCode(err) { return (err && err.code) || 'Error'; }
export function errMessage(err) { return (err && err.message) || String(err); }
export function errText(err) { return errCode(err) + ': ' + errMessage(err); }

// --- page furniture -----------------------------------------------------------

export function pageHead(title, sub, tools) {
  return h('div', {class: 'page-head'},
    h('div', {}, h('h1', {}, title), sub ? h('div', {class: 'sub'}, sub) : null),
    h('div', {class: 'tools'}, tools || []));
}

export function panel(title, body, {tools, flush, cls} = {}) {
  return h('section', {class: 'panel' + (cls ? ' ' + cls : '')},
    title != null ? h('div', {class: 'panel-head'}, typeof title === 'string' ? h('h2', {}, title) : title, tools ? h('div', {class: 'inline-tools'}, tools) : null) : null,
    h('div', {class: 'panel-body' + (flush ? ' flush' : '')}, body));
}

export function field(label, input, {hint, id, error} = {}) {
  const fid = id || (input.id ||= 'f-' + Math.random().toString(36).slice(2, 9));
  const err = h('div', {class: 'err', id: fid + '-err', role: 'alert', hidden: !error}, error || '');
  input.setAttribute('aria-describedby', fid + '-err');
  return h('div', {class: 'field'}, h('label', {for: fid}, label, hint ? h('span', {class: 'hint'}, ' · ', hint) : null), input, err);
}

// setFieldError shows (or clears) the inline error under an input made by field().
export function setFieldError(input, msg) {
  const err = document.getElementById(input.id + '-err');
  if (msg) input.setAttribute('aria-invalid', 'true'); else input.removeAttribute('aria-invalid');
  if (err) { err.textContent = msg || ''; err.hidden = !msg; }
}

export function select(options, value, props = {}) {
  return h('select', props, options.map(o => {
    const [v, label] = Array.isArray(o) ? o : [o, o];
    return h('option', {value: v, selected: String(v) === String(value)}, label);
  }));
}

export function badge(text, cls = '') {
  return h('span', {class: 'badge ' + cls}, text);
}

export function healthBadge(health) {
  if (health === 'ok') return badge('healthy', 'ok');
  return badge('unreachable', 'bad');
}

// --- sortable, selectable table ----------------------------------------------

// table({columns, rows, sort, onSort, select, rowKey, empty, rowClass, onRow})
// columns: [{key, label, value(row) (for sorting), cell(row) → node|string, num, cls}]
// sort: {key, dir}; select: {has(key), toggle(key, on), all(on)}
export function table(o) {
  const cols = o.columns;
  const sortCol = o.sort && cols.find(c => c.key === o.sort.key);
  let rows = o.rows;
  if (sortCol) {
    const val = sortCol.value || (r => r[sortCol.key]);
    const dir = o.sort.dir === 'asc' ? 1 : -1;
    rows = [...rows].sort((a, b) => dir * compare(val(a), val(b)));
  }
  const head = h('tr', {},
    o.select ? h('th', {class: 'sel', scope: 'col'}, selectAllBox(o.select, rows.map(o.rowKey))) : null,
    cols.map(c => {
      const sorted = o.sort && o.sort.key === c.key;
      const th = h('th', {scope: 'col', class: c.num ? 'num' : null, 'aria-sort': sorted ? (o.sort.dir === 'asc' ? 'ascending' : 'descending') : null});
      if (o.onSort && c.sortable !== false) {
        th.append(h('button', {type: 'button', class: 'sort', title: 'Sort by ' + c.label, onclick: () => o.onSort({key: c.key, dir: sorted && o.sort.dir === 'desc' ? 'asc' : 'desc'})},
          c.label, h('span', {class: 'arrow', 'aria-hidden': 'true'}, sorted ? (o.sort.dir === 'asc' ? '▲' : '▼') : '↕')));
      } else th.append(c.label);
      return th;
    }));
  const body = h('tbody', {}, rows.map(r => {
    const key = o.rowKey ? o.rowKey(r) : null;
    const sel = o.select && o.select.has(key);
    const tr = h('tr', {class: [sel ? 'selected' : '', o.rowClass ? o.rowClass(r) : ''].join(' ').trim() || null, dataset: key != null ? {key: String(key)} : undefined},
      o.select ? h('td', {class: 'sel'}, h('input', {type: 'checkbox', checked: sel, 'aria-label': 'Select ' + (o.selectLabel ? o.selectLabel(r) : key), onchange: e => o.select.toggle(key, e.target.checked)})) : null,
      cols.map(c => {
        const v = c.cell ? c.cell(r) : r[c.key];
        return h('td', {class: [c.num ? 'num' : '', c.cls || ''].join(' ').trim() || null}, v == null ? '' : v);
      }));
    if (o.onRow) { tr.classList.add('clickable'); tr.addEventListener('click', e => { if (!e.target.closest('button, a, input')) o.onRow(r, tr); }); }
    return tr;
  }));
  const t = h('table', {class: 'data' + (o.cls ? ' ' + o.cls : '')}, o.caption ? h('caption', {class: 'sr-only'}, o.caption) : null, h('thead', {}, head), body);
  if (!rows.length && o.empty) return h('div', {}, h('div', {class: 'table-wrap'}, t), o.empty);
  return h('div', {class: 'table-wrap'}, t);
}

function selectAllBox(sel, keys) {
  const n = keys.filter(k => sel.has(k)).length;
  const box = h('input', {type: 'checkbox', 'aria-label': 'Select all shown', checked: keys.length > 0 && n === keys.length, disabled: keys.length === 0, onchange: e => sel.all(e.target.checked, keys)});
  box.indeterminate = n > 0 && n < keys.length;
  return box;
}

export function compare(a, b) {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  return String(a ?? '').localeCompare(String(b ?? ''), undefined, {numeric: true, sensitivity: 'base'});
}

// --- dialogs -----------------------------------------------------------------

// openDialog builds a modal <dialog>; returns {el, body, foot, close}. It is
// removed from the page when closed (Escape included).
export function openDialog({title, labelledBy}) {
  const id = 'dlg-' + Math.random().toString(36).slice(2, 8);
  const body = h('div', {class: 'd-body'});
  const foot = h('div', {class: 'd-foot'});
  const el = h('dialog', {'aria-labelledby': labelledBy || id + '-t'}, h('div', {class: 'd-head'}, h('h2', {id: id + '-t'}, title)), body, foot);
  document.body.append(el);
  let done;
  const closed = new Promise(r => { done = r; });
  el.addEventListener('close', () => { el.remove(); done(el.returnValue); });
  el.showModal();
  return {el, body, foot, closed, close: (v = '') => { if (el.open) el.close(v); }};
}

// confirmDialog resolves true when the user presses the confirm button.
export function confirmDialog({title, body, confirmLabel, danger = true, note}) {
  const d = openDialog({title});
  append(d.body, [body]);
  const cancel = h('button', {type: 'button', onclick: () => d.close('cancel')}, 'Cancel');
  const ok = h('button', {type: 'button', class: danger ? 'danger' : 'primary', onclick: () => d.close('ok')}, confirmLabel);
  d.foot.append(note ? h('span', {class: 'note'}, note) : '', cancel, ok);
  cancel.focus();
  return d.closed.then(v => v === 'ok');
}

// --- toasts --------------------------------------------------------------------

export function toast(text, kind = '') {
  const box = document.getElementById('toasts');
  if (!box) return;
  const t = h('div', {class: 'toast ' + kind}, text);
  box.append(t);
  setTimeout(() => t.remove(), kind === 'bad' ? 9000 : 5000);
}

// --- formatters ------------------------------------------------------------------

export function fmtSeconds(s) {
  s = Math.max(0, Math.floor(Number(s) || 0));
  const d = Math.floor(s / 86400), hh = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60), sec = s % 60;
  if (d) return `${d}d ${hh}h`;
  if (hh) return `${hh}h ${String(m).padStart(2, '0')}m`;
  if (m) return `${m}m ${String(sec).padStart(2, '0')}s`;
  return `${sec}s`;
}

const pad = n => String(n).padStart(2, '0');

// fmtTime shows an API time (ISO 8601) in the browser's local time.
export function fmtTime(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  if (isNaN(d)) return iso;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function fmtClock(ms) {
  const d = new Date(ms);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

// apiTime formats an instant as the API's "YYYY-MM-DD HH:MM:SS" (UTC).
export function apiTime(ms) {
  return new Date(ms).toISOString().slice(0, 19).replace('T', ' ');
}

export function plural(n, one, many = one + 's') {
  return `${n} ${n === 1 ? one : many}`;
}

// debounce returns fn delayed until calls stop for ms.
export function debounce(fn, ms) {
  let t;
  const d = (...a) => { clearTimeout(t); t = setTimeout(() => fn(...a), ms); };
  d.cancel = () => clearTimeout(t);
  return d;
}

// clientHost strips the port from a processlist HOST value ("10.0.0.5:51234",
// "[::1]:5000", "localhost").
export function clientHost(host) {
  if (!host) return '';
  if (host.startsWith('[')) { const e = host.indexOf(']'); return e > 0 ? host.slice(1, e) : host; }
  const i = host.lastIndexOf(':');
  if (i > 0 && host.indexOf(':') === i && /^\d+$/.test(host.slice(i + 1))) return host.slice(0, i);
  return host;
}
