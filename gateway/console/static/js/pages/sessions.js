// Live sessions of an instance (every node, or one node of an instance of
// several: the NodeId extension of DescribeMySqlProcessList): auto-refresh, filters, sorting,
// statistics by user / host / db and by SQL template, selection and the
// two-stage KillMySqlThreads (Prepare shows what will die, Commit on
// confirm), CSV download.

import {barList} from '../charts.js';
import {download, toCSV, stamp} from '../csv.js';
import {sqlTemplate} from '../sqltemplate.js';
import {href} from '../route.js';
import {h, pageHead, panel, loading, empty, errorState, table, select, openDialog, toast, fmtSeconds, fmtClock, plural, clientHost, fill} from '../view.js';
import {currentInstance, instanceSelect} from './common.js';

const REFRESH = [[0, 'Off'], [5, 'Every 5 s'], [15, 'Every 15 s'], [30, 'Every 30 s']];
const FILTERS = [['user', 'User'], ['host', 'Host'], ['db', 'DB'], ['command', 'Command'], ['time', 'Time ≥ (s)'], ['info', 'Info contains']];
const PREPARE_TTL = 10000; // KillMySqlThreads SqlExecId lifetime (docs/actions/KillMySqlThreads.md)

const COLUMNS = [
  {key: 'ID', label: 'ID', value: r => r._id, cls: 'id'},
  {key: 'User', label: 'User', cls: 'wrap'},
  {key: 'Host', label: 'Host', cls: 'mono'},
  {key: 'DB', label: 'DB', cls: 'wrap'},
  {key: 'Command', label: 'Command'},
  {key: 'Time', label: 'Time', value: r => r._time, num: true, cell: r => h('span', {title: r.Time + ' s'}, fmtSeconds(r._time))},
  {key: 'State', label: 'State'},
  {key: 'Info', label: 'Info', cls: 'info', cell: r => r.Info ? h('div', {class: 'clip', title: r.Info}, r.Info) : h('span', {class: 'faint'}, '—')},
];

export async function render(ctx) {
  let items;
  try {
    items = await ctx.instances();
  } catch (e) {
    ctx.root.append(pageHead('Live sessions'), errorState(e, () => location.reload()));
    return;
  }
  if (!items.length) {
    ctx.root.append(pageHead('Live sessions'), empty('No instances', 'This key may not use any instance.'));
    return;
  }
  const inst = currentInstance(ctx, items);
  // An instance of several nodes (TDSQL-C): thread ids are per node, so the
  // node is a column and the page can list one node.
  const nodeIds = (inst.Nodes || []).map(n => n.NodeId);
  const multi = nodeIds.length > 1;
  const node = multi && nodeIds.includes(ctx.params.get('node')) ? ctx.params.get('node') : '';
  const columns = multi ? [COLUMNS[0], {key: 'NodeId', label: 'Node', cls: 'mono'}, ...COLUMNS.slice(1)] : COLUMNS;
  // A session's key: its thread id, with its node where ids are per node.
  const keyOf = r => multi ? r.NodeId + '/' + r.ID : r.ID;
  const st = {
    rows: [], loadedAt: 0, error: null, busy: false, paused: false,
    filters: Object.fromEntries(FILTERS.map(([k]) => [k, ctx.params.get(k) || ''])),
    template: '',
    hideSleep: ctx.prefs.get('hideSleep', true),
    sort: ctx.prefs.get('sessionSort', {key: 'Time', dir: 'desc'}),
    tmplSort: {key: 'total', dir: 'desc'},
    selected: new Set(),
    refresh: ctx.prefs.get('refresh', 0),
  };

  // --- header -------------------------------------------------------------
  const status = h('span', {class: 'faint', role: 'status'});
  const refreshSel = select(REFRESH, st.refresh, {id: 'auto-refresh', class: 'compact', 'aria-label': 'Auto-refresh'});
  refreshSel.addEventListener('change', () => { st.refresh = Number(refreshSel.value); ctx.prefs.set('refresh', st.refresh); schedule(); });
  const refreshBtn = h('button', {type: 'button', onclick: () => load()}, 'Refresh');
  ctx.root.append(pageHead('Live sessions',
    'Every session of the instance (all nodes), as DescribeMySqlProcessList reads it; killgate\'s own connections are not listed.',
    [instanceSelect(items, inst, id => ctx.go('sessions', {instance: id}), {label: 'Instance'}),
      multi ? nodeSelect() : null,
      h('div', {class: 'field'}, h('label', {for: 'auto-refresh'}, 'Auto-refresh'), refreshSel),
      refreshBtn]));

  function nodeSelect() {
    const sel = select([['', 'All nodes'], ...nodeIds.map(n => [n, n])], node, {id: 'node', class: 'compact'});
    sel.addEventListener('change', () => ctx.go('sessions', {instance: inst.InstanceId, node: sel.value, ...st.filters}));
    return h('div', {class: 'field'}, h('label', {for: 'node'}, 'Node'), sel);
  }

  // --- filters --------------------------------------------------------------
  const inputs = {};
  const filterBox = h('div', {class: 'filters'});
  for (const [k, label] of FILTERS) {
    const inp = h('input', {id: 'f-' + k, type: k === 'time' ? 'number' : 'search', min: k === 'time' ? 0 : null, value: st.filters[k], placeholder: k === 'time' ? 'seconds' : 'any', autocomplete: 'off', spellcheck: 'false'});
    inp.addEventListener('input', () => { st.filters[k] = inp.value.trim(); syncParams(); draw(); });
    inputs[k] = inp;
    filterBox.append(h('div', {class: 'field'}, h('label', {for: inp.id}, label), inp));
  }
  const hideSleep = h('input', {type: 'checkbox', id: 'hide-sleep', checked: st.hideSleep});
  hideSleep.addEventListener('change', () => { st.hideSleep = hideSleep.checked; ctx.prefs.set('hideSleep', st.hideSleep); draw(); });
  filterBox.append(h('div', {class: 'field'},
    h('label', {class: 'check', for: 'hide-sleep'}, hideSleep, 'Hide Sleep'),
    h('button', {type: 'button', class: 'small', onclick: clearFilters}, 'Clear filters')));
  // On a phone the filters and statistics start folded so that the sessions come first.
  const narrow = window.matchMedia('(max-width: 720px)').matches;
  const filterSummary = h('summary', {}, 'Filters');
  ctx.root.append(h('details', {class: 'stats-box', open: !narrow}, filterSummary, panel(null, filterBox)));

  // --- statistics and table -----------------------------------------------------
  const statUser = h('div'), statHost = h('div'), statDB = h('div'), statTmpl = h('div');
  ctx.root.append(h('details', {class: 'stats-box', open: !narrow},
    h('summary', {}, 'Statistics of the sessions shown'),
    h('div', {class: 'grid stats'},
      panel('By user', statUser), panel('By host', statHost), panel('By DB', statDB),
      panel('By SQL template', statTmpl, {flush: true}))));
  const countLabel = h('span', {class: 'count'});
  const killBtn = h('button', {type: 'button', class: 'danger', disabled: true, onclick: killSelected}, 'Kill selected');
  const clearSel = h('button', {type: 'button', class: 'ghost', disabled: true, onclick: () => { st.selected.clear(); draw(); }}, 'Clear selection');
  const csvBtn = h('button', {type: 'button', onclick: csv}, 'Download CSV');
  const tableBox = h('div', {}, loading('Reading the processlist…'));
  ctx.root.append(h('section', {class: 'panel'},
    h('div', {class: 'toolbar'}, countLabel, status, h('span', {class: 'grow'}), clearSel, csvBtn, killBtn),
    tableBox));

  // --- data ---------------------------------------------------------------------
  let timer = null;
  function schedule() {
    clearInterval(timer);
    if (st.refresh > 0) timer = setInterval(() => { if (!st.paused && !st.busy && !document.hidden) load(); }, st.refresh * 1000);
  }
  ctx.onLeave(() => clearInterval(timer));

  async function load() {
    st.busy = true;
    refreshBtn.disabled = true;
    status.textContent = 'Refreshing…';
    try {
      const params = {InstanceId: inst.InstanceId, Product: inst.Product, Limit: 10000};
      if (node) params.NodeId = node;
      const r = await ctx.api.call('DescribeMySqlProcessList', params);
      st.rows = r.ProcessList.map(p => ({...p, _id: Number(p.ID), _time: Number(p.Time), _tmpl: sqlTemplate(p.Info)}));
      st.loadedAt = Date.now();
      st.error = null;
      const live = new Set(st.rows.map(keyOf));
      for (const id of st.selected) if (!live.has(id)) st.selected.delete(id);
    } catch (e) {
      st.error = e;
    } finally {
      st.busy = false;
      refreshBtn.disabled = false;
    }
    draw();
    if (!st.error) ctx.dataShown();
  }

  function visible() {
    const f = st.filters;
    const has = (v, want) => !want || String(v || '').toLowerCase().includes(want.toLowerCase());
    const minTime = f.time === '' ? null : Number(f.time);
    return st.rows.filter(r =>
      (!st.hideSleep || r.Command !== 'Sleep') &&
      has(r.User, f.user) && has(r.Host, f.host) && has(r.DB, f.db) && has(r.Command, f.command) && has(r.Info, f.info) &&
      (minTime == null || isNaN(minTime) || r._time >= minTime) &&
      (!st.template || r._tmpl === st.template));
  }

  function draw() {
    const active = Object.values(st.filters).filter(Boolean).length + (st.template ? 1 : 0);
    filterSummary.textContent = 'Filters' + (active ? ` · ${active} active` : '') + (st.hideSleep ? ' · Sleep hidden' : '');
    status.textContent = st.loadedAt ? 'Updated ' + fmtClock(st.loadedAt) : '';
    if (st.error) {
      fill(tableBox, errorState(st.error, load));
      if (!st.rows.length) { for (const b of [statUser, statHost, statDB, statTmpl]) fill(b); }
    }
    const rows = visible();
    const sleeping = st.hideSleep ? st.rows.filter(r => r.Command === 'Sleep').length : 0;
    countLabel.textContent = `${plural(rows.length, 'session')} shown of ${st.rows.length}` + (sleeping ? ` · ${sleeping} sleeping hidden` : '') +
      (st.selected.size ? ` · ${st.selected.size} selected` : '');
    killBtn.disabled = st.selected.size === 0;
    killBtn.textContent = st.selected.size ? `Kill ${plural(st.selected.size, 'session')}…` : 'Kill selected';
    clearSel.disabled = st.selected.size === 0;
    drawStats(rows);
    if (st.error) return;
    if (!st.loadedAt) return;
    fill(tableBox, table({
      columns, rows, sort: st.sort, rowKey: keyOf, caption: 'Sessions',
      selectLabel: r => multi ? `session ${r.ID} on ${r.NodeId}` : `session ${r.ID}`,
      onSort: s => { st.sort = s; ctx.prefs.set('sessionSort', s); draw(); },
      select: {
        has: k => st.selected.has(k),
        toggle: (k, on) => { if (on) st.selected.add(k); else st.selected.delete(k); draw(); },
        all: (on, keys) => { for (const k of keys) { if (on) st.selected.add(k); else st.selected.delete(k); } draw(); },
      },
      empty: st.rows.length ? empty('No session matches the filters', 'Clear a filter, or untick Hide Sleep.') : empty('No sessions', 'The instance has no session besides killgate\'s own.'),
    }));
  }

  function drawStats(rows) {
    const group = key => {
      const m = new Map();
      for (const r of rows) { const k = key(r); m.set(k, (m.get(k) || 0) + 1); }
      return [...m].map(([k, v]) => ({key: k, label: k || '(none)', value: v})).sort((a, b) => b.value - a.value || a.label.localeCompare(b.label));
    };
    const bars = (box, key, fkey) => {
      const data = group(key);
      fill(box, data.length ? barList(data, {
        active: st.filters[fkey] || null,
        onPick: it => { const v = st.filters[fkey] === it.key ? '' : it.key; st.filters[fkey] = v; inputs[fkey].value = v; syncParams(); draw(); },
      }) : h('div', {class: 'faint'}, 'No sessions'));
    };
    bars(statUser, r => r.User, 'user');
    bars(statHost, r => clientHost(r.Host), 'host');
    bars(statDB, r => r.DB, 'db');
    const m = new Map();
    for (const r of rows) {
      if (!r._tmpl) continue;
      const g = m.get(r._tmpl) || {tmpl: r._tmpl, count: 0, total: 0, max: 0};
      g.count++; g.total += r._time; g.max = Math.max(g.max, r._time);
      m.set(r._tmpl, g);
    }
    const groups = [...m.values()].map(g => ({...g, avg: g.total / g.count}));
    if (!groups.length) { fill(statTmpl, h('div', {class: 'state empty'}, 'No statements running')); return; }
    const t = table({
      cls: 'templates', rows: groups, sort: st.tmplSort, rowKey: g => g.tmpl, caption: 'Sessions by SQL template',
      onSort: s => { st.tmplSort = s; draw(); },
      onRow: g => { st.template = st.template === g.tmpl ? '' : g.tmpl; draw(); },
      columns: [
        {key: 'tmpl', label: 'Template', cell: g => h('div', {class: 'tmpl', title: g.tmpl}, g.tmpl.length > 120 ? g.tmpl.slice(0, 120) + '…' : g.tmpl)},
        {key: 'count', label: 'Count', num: true},
        {key: 'total', label: 'Total', num: true, cell: g => fmtSeconds(g.total)},
        {key: 'max', label: 'Max', num: true, cell: g => fmtSeconds(g.max)},
        {key: 'avg', label: 'Avg', num: true, cell: g => g.avg.toFixed(1) + 's'},
      ],
    });
    for (const tr of t.querySelectorAll('tbody tr')) {
      const on = tr.dataset.key === st.template;
      tr.setAttribute('aria-selected', on ? 'true' : 'false');
      tr.tabIndex = 0;
      tr.addEventListener('keydown', e => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); tr.click(); } });
    }
    fill(statTmpl, t, st.template ? h('div', {class: 'table-foot'}, 'Filtered by this template', h('button', {type: 'button', class: 'ghost', onclick: () => { st.template = ''; draw(); }}, 'Show all')) : null);
  }

  function clearFilters() {
    for (const [k] of FILTERS) { st.filters[k] = ''; inputs[k].value = ''; }
    st.template = '';
    syncParams();
    draw();
  }

  function syncParams() {
    ctx.setParams({instance: inst.InstanceId, ...(node ? {node} : {}), ...st.filters});
  }

  function csv() {
    const rows = visible();
    const cols = [...(multi ? ['NodeId'] : []), 'ID', 'User', 'Host', 'DB', 'Command', 'Time', 'State', 'Info'];
    download(`sessions-${inst.InstanceId}-${stamp()}.csv`, toCSV([...cols, 'Template'], rows.map(r => [...cols.map(c => r[c]), r._tmpl])));
  }

  // --- kill: Prepare shows exactly what will die; Commit on confirm -----------------
  async function killSelected() {
    // KillMySqlThreads takes thread ids; on an instance of several nodes it
    // finds each id's node itself (and refuses an id present on two).
    const ids = [...new Set([...st.selected].map(k => Number(String(k).split('/').pop())))];
    if (!ids.length) return;
    st.paused = true;
    const d = openDialog({title: `Kill ${plural(ids.length, 'session')}?`});
    d.closed.then(() => { st.paused = false; clearInterval(tick); });
    let tick = null, prep = null;
    const title = d.el.querySelector('h2');
    const closeBtn = () => h('button', {type: 'button', onclick: () => d.close()}, 'Close');

    async function prepare() {
      clearInterval(tick);
      fill(d.body, loading('Preparing (KillMySqlThreads Prepare)…'));
      fill(d.foot, closeBtn());
      try {
        const p = await ctx.api.call('KillMySqlThreads', {InstanceId: inst.InstanceId, Product: inst.Product, Stage: 'Prepare', Threads: ids});
        const at = Date.now();
        const list = await ctx.api.call('DescribeMySqlProcessList', {InstanceId: inst.InstanceId, Product: inst.Product, Limit: 10000});
        const want = new Set(ids);
        prep = {id: p.SqlExecId, at, rows: list.ProcessList.filter(r => want.has(Number(r.ID)))};
      } catch (e) {
        title.textContent = 'The kill could not be prepared';
        fill(d.body, errorState(e));
        return;
      }
      showPrepared();
    }

    function showPrepared() {
      const n = prep.rows.length;
      const found = new Set(prep.rows.map(r => Number(r.ID)));
      const gone = ids.filter(id => !found.has(id));
      title.textContent = n ? `Kill ${plural(n, 'session')}?` : 'Nothing to kill';
      fill(d.body, 
        n ? h('p', {}, `These ${plural(n, 'session')} on `, h('b', {}, inst.InstanceId), ' will be ended with KILL CONNECTION (their transactions roll back):') : null,
        n ? table({columns: columns.filter(c => c.key !== 'State'), rows: prep.rows, rowKey: keyOf, caption: 'Sessions to kill'}) : null,
        gone.length ? h('p', {class: 'notice warn'}, `${plural(gone.length, 'selected session')} already ended and will not be killed: ${gone.join(', ')}.`) : null,
        h('p', {class: 'faint'}, `Prepared kill ${prep.id}. killgate kills each thread only if it is still the same connection at Commit.`));
      const left = h('span', {class: 'note'});
      const confirm = h('button', {type: 'button', class: 'danger', disabled: !n, onclick: commit}, `Kill ${plural(n, 'session')}`);
      const again = h('button', {type: 'button', class: 'primary', hidden: true, onclick: prepare}, 'Prepare again');
      const cancel = h('button', {type: 'button', onclick: () => d.close()}, 'Cancel');
      fill(d.foot, left, cancel, again, confirm);
      cancel.focus();
      const update = () => {
        const ms = PREPARE_TTL - (Date.now() - prep.at);
        if (ms > 500) {
          left.textContent = `Confirm within ${Math.ceil(ms / 1000)} s`;
        } else {
          left.textContent = 'The prepared kill expired; prepare it again to see the sessions as they are now.';
          confirm.hidden = true;
          again.hidden = false;
          clearInterval(tick);
        }
      };
      update();
      tick = setInterval(update, 250);
    }

    async function commit() {
      clearInterval(tick);
      fill(d.body, loading('Killing (KillMySqlThreads Commit)…'));
      fill(d.foot);
      let r;
      try {
        r = await ctx.api.call('KillMySqlThreads', {InstanceId: inst.InstanceId, Product: inst.Product, Stage: 'Commit', SqlExecId: prep.id});
      } catch (e) {
        title.textContent = 'The kill failed';
        fill(d.body, errorState(e));
        fill(d.foot, closeBtn(), e.code === 'ResourceNotFound' ? h('button', {type: 'button', class: 'primary', onclick: prepare}, 'Prepare again') : '');
        return;
      }
      const killed = r.Threads || [];
      const missed = prep.rows.map(x => Number(x.ID)).filter(id => !killed.includes(id));
      title.textContent = `Killed ${killed.length} of ${plural(prep.rows.length, 'session')}`;
      fill(d.body, 
        h('p', {class: 'notice ok', dataset: {role: 'killed'}}, killed.length ? `Killed: ${killed.join(', ')}.` : 'No session was killed.'),
        missed.length ? h('p', {class: 'notice warn'}, `Not killed (ended, changed or protected meanwhile): ${missed.join(', ')}. Kill history shows why.`) : null);
      fill(d.foot, h('a', {class: 'btn', href: href('history', {instance: inst.InstanceId, task: prep.id}), onclick: () => d.close()}, 'See in Kill history'), closeBtn());
      toast(`Killed ${plural(killed.length, 'session')} on ${inst.InstanceId}`, 'ok');
      for (const id of killed) st.selected.delete(String(id));
      load();
    }

    await prepare();
  }

  schedule();
  await load();
}
