// Charts drawn as inline SVG: a sparkline, a horizontal bar list and a
// stacked bar chart over time. Colours come from CSS classes (app.css).

import {h} from './view.js';

// sparkline of values (oldest first); title is its accessible description.
export function sparkline(values, {title = '', w = 120, ht = 30} = {}) {
  const max = Math.max(1, ...values);
  const n = values.length;
  const x = i => n <= 1 ? 0 : (i * (w - 2)) / (n - 1) + 1;
  const y = v => ht - 2 - (v / max) * (ht - 5);
  const pts = values.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`);
  return h('svg:svg', {class: 'spark', viewBox: `0 0 ${w} ${ht}`, role: 'img', 'aria-label': title, preserveAspectRatio: 'none'},
    h('svg:title', {}, title),
    h('svg:line', {class: 'base', x1: 0, x2: w, y1: ht - 1.5, y2: ht - 1.5}),
    n > 1 ? h('svg:polygon', {class: 'area', points: `${x(0)},${ht - 2} ${pts.join(' ')} ${x(n - 1)},${ht - 2}`}) : null,
    n > 1 ? h('svg:polyline', {class: 'line', points: pts.join(' ')}) : null);
}

// barList: one button per item ({key, label, value, title}), a bar scaled
// to the largest value; onPick(item) when clicked (filtering).
export function barList(items, {onPick, active, limit = 8, unit = ''} = {}) {
  const shown = items.slice(0, limit);
  const max = Math.max(1, ...shown.map(i => i.value));
  const list = h('ul', {class: 'bars'}, shown.map(it => h('li', {},
    h('button', {type: 'button', 'aria-pressed': active === it.key ? 'true' : 'false', title: it.title || `${it.label}: ${it.value}${unit}`, onclick: () => onPick && onPick(it)},
      h('span', {class: 'label'}, it.label),
      h('span', {class: 'value'}, String(it.value)),
      h('svg:svg', {viewBox: '0 0 100 8', preserveAspectRatio: 'none', 'aria-hidden': 'true'},
        h('svg:rect', {class: 'track', x: 0, y: 0, width: 100, height: 8, rx: 2}),
        h('svg:rect', {class: 'fill', x: 0, y: 0, width: Math.max(1.5, (it.value / max) * 100).toFixed(2), height: 8, rx: 2}))))));
  const more = items.length > limit ? h('div', {class: 'chart-note'}, `+ ${items.length - limit} more`) : null;
  return h('div', {}, list, more);
}

// stackedBars draws buckets [{start, end, counts: {series: n}}] stacked by
// series [{key, label}] (class s-<key>), with a y axis and time labels.
export function stackedBars(buckets, series, {fmtTick, title = '', width = 900} = {}) {
  const W = Math.max(300, Math.round(width)), H = 200, L = 38, R = 8, T = 10, B = 24;
  const totals = buckets.map(b => series.reduce((s, sr) => s + (b.counts[sr.key] || 0), 0));
  const max = niceMax(Math.max(1, ...totals));
  const bw = (W - L - R) / Math.max(1, buckets.length);
  const y = v => T + (H - T - B) * (1 - v / max);
  const kids = [h('svg:title', {}, title)];
  for (const t of [0, max / 2, max]) {
    kids.push(h('svg:line', {class: t === 0 ? 'axis' : 'grid', x1: L, x2: W - R, y1: y(t), y2: y(t)}));
    kids.push(h('svg:text', {x: L - 6, y: y(t) + 4, 'text-anchor': 'end'}, String(Math.round(t))));
  }
  buckets.forEach((b, i) => {
    let acc = 0;
    const x = L + i * bw + Math.min(2, bw * 0.15);
    const w = Math.max(1, bw - 2 * Math.min(2, bw * 0.15));
    for (const sr of series) {
      const v = b.counts[sr.key] || 0;
      if (!v) continue;
      const y0 = y(acc), y1 = y(acc + v);
      kids.push(h('svg:rect', {class: 's-' + sr.key, x: x.toFixed(1), y: y1.toFixed(1), width: w.toFixed(1), height: Math.max(0.5, y0 - y1).toFixed(1)},
        h('svg:title', {}, `${fmtTick ? fmtTick(b.start) : ''}: ${v} ${sr.label}`)));
      acc += v;
    }
  });
  const ticks = buckets.length ? [0, Math.floor(buckets.length / 2), buckets.length - 1] : [];
  for (const i of new Set(ticks)) {
    const anchor = i === 0 ? 'start' : i === buckets.length - 1 ? 'end' : 'middle';
    const x = i === buckets.length - 1 ? L + (i + 1) * bw : i === 0 ? L + i * bw : L + (i + 0.5) * bw;
    kids.push(h('svg:text', {x: x.toFixed(1), y: H - 6, 'text-anchor': anchor}, fmtTick ? fmtTick(i === buckets.length - 1 ? buckets[i].end : buckets[i].start) : ''));
  }
  const svg = h('svg:svg', {class: 'chart', viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: 'none', role: 'img', 'aria-label': title}, kids);
  const legend = h('div', {class: 'legend'}, series.map(sr => h('span', {},
    h('svg:svg', {viewBox: '0 0 10 10', 'aria-hidden': 'true'}, h('svg:rect', {class: 's-' + sr.key, width: 10, height: 10, rx: 2})),
    `${sr.label} ${buckets.reduce((s, b) => s + (b.counts[sr.key] || 0), 0)}`)));
  return h('div', {}, svg, legend);
}

function niceMax(v) {
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return Math.max(2, m * p);
  return v;
}

// buckets splits [from, to) into n equal buckets and counts items by
// time(item) and key(item).
export function bucketize(items, from, to, n, time, key) {
  const span = Math.max(1, to - from);
  const out = Array.from({length: n}, (_, i) => ({start: from + (span * i) / n, end: from + (span * (i + 1)) / n, counts: {}}));
  for (const it of items) {
    const t = time(it);
    if (t < from || t > to) continue;
    const i = Math.min(n - 1, Math.floor(((t - from) / span) * n));
    const k = key(it);
    out[i].counts[k] = (out[i].counts[k] || 0) + 1;
  }
  return out;
}
