// Helpers shared by the pages.

import {h, select} from '../view.js';

// currentInstance picks the instance a page works on: the one in the URL,
// else the last one used, else the first listed.
export function currentInstance(ctx, items) {
  const want = ctx.params.get('instance') || ctx.prefs.get('instance', '');
  const found = items.find(i => i.InstanceId === want) || items[0];
  if (found) ctx.prefs.set('instance', found.InstanceId);
  return found || null;
}

export function instanceSelect(items, current, onChange, {label = 'Instance', id = 'instance', all = false} = {}) {
  const opts = items.map(i => [i.InstanceId, `${i.InstanceId} (${i.Product})`]);
  if (all) opts.unshift(['', 'All instances']);
  const sel = select(opts, current ? current.InstanceId || current : '', {id, onchange: e => onChange(e.target.value)});
  return h('div', {class: 'field'}, h('label', {for: id}, label), sel);
}

// nodesOf lists an instance's node ids (a single-DSN instance's node id is
// the instance id itself).
export function nodesOf(inst) {
  const n = (inst.Nodes || []).map(x => x.NodeId);
  return n.length ? n : [inst.InstanceId];
}

// filterChips shows a task's filters compactly.
export function filterChips(t) {
  const chips = [];
  const add = (k, v) => chips.push(h('span', {class: 'chip'}, h('b', {}, k), ' ', v));
  if (t.User) add('User', t.User);
  if (t.Host) add('Host', t.Host);
  if (t.DB) add('DB', t.DB);
  if (t.Command) add('Command', t.Command);
  for (const p of t.Infos && t.Infos.length ? t.Infos : t.Info ? [t.Info] : []) add('Info^', p);
  if (t.Time) add('Time≥', t.Time + 's');
  if (t.TrxTime) add('Trx≥', t.TrxTime + 's');
  if (t.BlockingCount) add('Blocking≥', String(t.BlockingCount));
  if (t.BlockingTime) add('Blocking for≥', t.BlockingTime + 's');
  if (!chips.length) chips.push(h('span', {class: 'chip'}, 'every user session'));
  if (t.KillMode === 'QUERY') chips.push(h('span', {class: 'chip'}, 'KILL QUERY'));
  if (t.Observe) chips.push(h('span', {class: 'chip'}, 'observe only'));
  return chips;
}
