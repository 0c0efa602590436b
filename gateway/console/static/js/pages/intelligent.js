// Intelligent kill (Huawei GaussDB door): the statistic groups with their
// sessions, Execute with confirm, past tasks with per-session results.

import {clock} from '../api.js';
import {download, stamp} from '../csv.js';
import {h, pageHead, panel, loading, empty, errorState, errText, table, select, confirmDialog, toast, badge, fmtSeconds, fmtTime, fmtClock, plural, clientHost, fill} from '../view.js';
import {currentInstance, nodesOf} from './common.js';

const STRATEGY = {top3_time: 'Longest execution', top3_count: 'Most sessions', top3_avg_time: 'Longest average'};
const HISTORY_DAYS = 7;
const PAGE = 10;

export async function render(ctx) {
  ctx.root.append(pageHead('Intelligent kill',
    'Groups the node\'s active sessions by SQL template and kills, in one shot, the group with the longest execution, the one with the most sessions and the one with the longest average (Huawei GaussDB\'s intelligent kill-session API).'));
  if (!ctx.hw) {
    ctx.root.append(addHuawei(ctx));
    return;
  }

  // --- target: instance and node -----------------------------------------------------------
  let instance = ctx.params.get('instance') || ctx.prefs.get('instance', '');
  let node = ctx.params.get('node') || ctx.prefs.get('node', '');
  const target = h('div', {class: 'filters'});
  const go = h('button', {type: 'button', class: 'primary', onclick: () => { readTarget(); loadAll(); }}, 'Show groups');
  let items = null;
  if (ctx.api) {
    try {
      items = await ctx.instances();
    } catch (e) {
      items = null; // fall back to typing the ids
    }
  }
  let instSel, nodeSel, instInput, nodeInput;
  if (items && items.length) {
    const inst = currentInstance(ctx, items);
    instance = inst.InstanceId;
    const nodes = nodesOf(inst);
    if (!nodes.includes(node)) node = nodes[0];
    instSel = select(items.map(i => [i.InstanceId, `${i.InstanceId} (${i.Product})`]), instance, {id: 'ik-instance'});
    nodeSel = select(nodes, node, {id: 'ik-node'});
    instSel.addEventListener('change', () => {
      const i = items.find(x => x.InstanceId === instSel.value);
      fill(nodeSel, ...nodesOf(i).map(n => h('option', {value: n}, n)));
      readTarget();
      loadAll();
    });
    nodeSel.addEventListener('change', () => { readTarget(); loadAll(); });
    target.append(h('div', {class: 'field'}, h('label', {for: 'ik-instance'}, 'Instance'), instSel),
      h('div', {class: 'field'}, h('label', {for: 'ik-node'}, 'Node'), nodeSel));
  } else {
    instInput = h('input', {id: 'ik-instance', value: instance, spellcheck: 'false', placeholder: 'instance id'});
    nodeInput = h('input', {id: 'ik-node', value: node, spellcheck: 'false', placeholder: 'node id (the instance id for a single-DSN instance)'});
    target.append(h('div', {class: 'field'}, h('label', {for: 'ik-instance'}, 'Instance id'), instInput),
      h('div', {class: 'field'}, h('label', {for: 'ik-node'}, 'Node id'), nodeInput));
  }
  target.append(h('div', {class: 'field'}, h('span', {}, '\u00a0'), go));
  ctx.root.append(panel(null, target));

  function readTarget() {
    instance = (instSel ? instSel.value : instInput.value).trim();
    node = (nodeSel ? nodeSel.value : nodeInput.value).trim() || instance;
    ctx.prefs.set('node', node);
    if (instance) ctx.prefs.set('instance', instance);
    ctx.setParams({instance, node});
  }

  // --- groups -----------------------------------------------------------------------------------
  const checked = h('span', {class: 'faint', role: 'status'});
  const execBtn = h('button', {type: 'button', class: 'danger', disabled: true, onclick: execute}, 'Execute…');
  const groupsBox = h('div', {});
  ctx.root.append(panel('Groups that would be killed now', groupsBox, {tools: [checked, h('button', {type: 'button', class: 'small', onclick: () => loadGroups()}, 'Refresh'), execBtn]}));
  const resultBox = h('div', {});
  ctx.root.append(resultBox);
  const histBox = h('div', {});
  const histFoot = h('div', {class: 'table-foot'});
  ctx.root.append(h('section', {class: 'panel'}, h('div', {class: 'panel-head'}, h('h2', {}, 'Past intelligent kills'), h('span', {class: 'faint'}, `last ${HISTORY_DAYS} days`)), histBox, histFoot));
  let groups = [];
  let histOffset = 0;

  async function loadGroups() {
    if (!instance) { fill(groupsBox, empty('Enter the instance and node', 'The node id of an instance configured with one DSN is the instance id.')); return; }
    if (!groups.length) fill(groupsBox, loading('Reading the node…'));
    let stat, procs = null;
    try {
      stat = await ctx.hw.statistic(instance, node);
      if (ctx.api) {
        try {
          const r = await ctx.api.call('DescribeMySqlProcessList', {InstanceId: instance, Limit: 10000, Product: productOf(instance)});
          procs = new Map(r.ProcessList.map(p => [Number(p.ID), p]));
        } catch { procs = null; }
      }
    } catch (e) {
      groups = [];
      execBtn.disabled = true;
      fill(groupsBox, errorState(e, loadGroups));
      return;
    }
    ctx.dataShown();
    groups = stat.statistics || [];
    checked.textContent = 'Checked ' + fmtClock(Date.now());
    const n = countIDs(groups);
    execBtn.disabled = n === 0;
    execBtn.textContent = n ? `Execute: kill ${plural(n, 'session')}…` : 'Execute…';
    if (!groups.length) {
      fill(groupsBox, empty('No active statement on this node', 'Intelligent kill considers running (non-Sleep) sessions with a statement; protected and system sessions are never chosen.'));
      return;
    }
    fill(groupsBox, h('div', {class: 'groups'}, groups.map(g => h('article', {class: 'group', dataset: {strategy: g.strategy}},
      h('div', {class: 'strategy'}, STRATEGY[g.strategy] || g.strategy),
      h('div', {class: 'nums'},
        h('div', {}, h('b', {}, String(g.count)), 'sessions'),
        h('div', {}, h('b', {}, fmtSeconds(g.max_time)), 'max'),
        h('div', {}, h('b', {}, g.avg_time.toFixed(1) + 's'), 'average'),
        h('div', {}, h('b', {}, fmtSeconds(g.total_time)), 'total')),
      h('div', {}, h('h3', {}, 'Template'), h('pre', {class: 'mono'}, g.keyword)),
      h('div', {}, h('h3', {}, 'Example'), h('pre', {class: 'mono'}, g.example_sql_text)),
      h('div', {}, h('h3', {}, 'Sessions'), procs ? sessionTable(g.ids, procs) : h('div', {class: 'ids', dataset: {role: 'ids'}}, g.ids.join(', ')))))));
  }

  function sessionTable(ids, procs) {
    const rows = ids.map(id => procs.get(id) || {ID: String(id), User: '', Host: '', Time: '', _gone: true});
    return h('div', {dataset: {role: 'ids', ids: ids.join(',')}}, table({
      rows, rowKey: r => r.ID, caption: 'Sessions of the group',
      columns: [{key: 'ID', label: 'ID', cls: 'id'}, {key: 'User', label: 'User', cls: 'wrap'}, {key: 'Host', label: 'Client', cls: 'mono', cell: r => clientHost(r.Host)},
        {key: 'Time', label: 'Time', num: true, cell: r => r._gone ? h('span', {class: 'faint'}, 'ended') : fmtSeconds(r.Time)}],
    }));
  }

  function productOf(id) {
    const i = items && items.find(x => x.InstanceId === id);
    return i ? i.Product : 'mysql';
  }

  async function execute() {
    const n = countIDs(groups);
    const ok = await confirmDialog({
      title: `Kill ${plural(n, 'session')} on ${node}?`,
      body: [
        h('p', {}, `Intelligent kill ends the sessions of the ${plural(groups.length, 'group')} shown — ${plural(n, 'session')} now — with KILL CONNECTION.`),
        h('ul', {}, groups.map(g => h('li', {}, h('b', {}, STRATEGY[g.strategy] || g.strategy), `: ${plural(g.count, 'session')} — `, h('span', {class: 'mono'}, g.keyword.length > 90 ? g.keyword.slice(0, 90) + '…' : g.keyword)))),
        h('p', {class: 'faint'}, 'Execute reads the node again and kills the groups chosen at that moment; each session is re-checked just before its KILL.'),
      ],
      confirmLabel: `Kill ${plural(n, 'session')}`,
    });
    if (!ok) return;
    execBtn.disabled = true;
    fill(resultBox, panel('Result', loading('Killing…')));
    let task;
    try {
      task = await ctx.hw.execute(instance, node);
    } catch (e) {
      fill(resultBox, panel('Result', errorState(e)));
      execBtn.disabled = false;
      return;
    }
    let res;
    try {
      res = await ctx.hw.download(instance, task.task_id);
    } catch (e) {
      fill(resultBox, panel('Result', errorState(e)));
      return;
    }
    toast(`Intelligent kill ${task.task_id}: ${res.killed} killed`, 'ok');
    fill(resultBox, panel(`Result of ${task.task_id}`, results(instance, res), {tools: [csvButton(instance, task.task_id)]}));
    loadGroups();
    loadHistory();
  }

  function results(inst, res) {
    return h('div', {class: 'stack', dataset: {role: 'results', task: res.task_id}},
      h('div', {class: 'outcomes'}, ['killed', 'gone', 'changed', 'skipped', 'failed'].map(k => badge(`${k} ${res[k]}`, k))),
      res.sessions && res.sessions.length ? table({
        rows: res.sessions, rowKey: s => String(s.thread_id), caption: 'Per-session results',
        columns: [
          {key: 'thread_id', label: 'Thread', cls: 'id', cell: s => h('span', {dataset: {thread: String(s.thread_id), outcome: s.outcome}}, String(s.thread_id))},
          {key: 'user', label: 'User', cls: 'wrap'}, {key: 'host', label: 'Host', cls: 'mono'}, {key: 'db', label: 'DB', cls: 'wrap'},
          {key: 'time', label: 'Time', num: true, cell: s => fmtSeconds(s.time)},
          {key: 'strategy', label: 'Group', cell: s => STRATEGY[s.strategy] || s.strategy},
          {key: 'outcome', label: 'Outcome', cell: s => h('div', {}, badge(s.outcome, s.outcome), s.error ? h('div', {class: 'faint'}, s.error) : null)},
          {key: 'sql_text', label: 'Statement', cls: 'info', cell: s => h('div', {class: 'clip', title: s.sql_text}, s.sql_text)},
        ],
      }) : empty('No session was chosen', 'The node had no active statement when the task ran.'));
  }

  function csvButton(inst, taskId) {
    return h('button', {type: 'button', class: 'small', onclick: async () => {
      try {
        download(`intelligent-kill-${taskId}-${stamp()}.csv`, await ctx.hw.download(inst, taskId, 'csv'));
      } catch (e) { toast(errText(e), 'bad'); }
    }}, 'CSV');
  }

  async function loadHistory() {
    if (!instance) { fill(histBox); return; }
    const end = clock.now() + 60000;
    let r;
    try {
      r = await ctx.hw.history(instance, node, end - HISTORY_DAYS * 86400000, end, PAGE, histOffset);
    } catch (e) {
      fill(histBox, errorState(e, loadHistory));
      fill(histFoot);
      return;
    }
    const rows = r.intelligent_kill_session_histories || [];
    fill(histBox, table({
      rows, rowKey: t => t.task_id, caption: 'Past intelligent kills',
      empty: empty('No intelligent kill yet', `None on this node in the last ${HISTORY_DAYS} days.`),
      columns: [
        {key: 'task_id', label: 'Task', cls: 'id'},
        {key: 'start_time', label: 'Started', cell: t => fmtTime(new Date(t.start_time * 1000).toISOString())},
        {key: 'end_time', label: 'Ended', cell: t => t.end_time ? fmtTime(new Date(t.end_time * 1000).toISOString()) : badge('running', 'warn')},
        {key: 'act', label: '', cell: t => h('div', {class: 'row'},
          h('button', {type: 'button', class: 'small', dataset: {results: t.task_id}, 'aria-expanded': 'false', onclick: e => toggle(e.currentTarget, t)}, 'Results'),
          csvButton(instance, t.task_id))},
      ],
    }));
    const last = histOffset + rows.length;
    fill(histFoot, h('span', {}, r.total_count ? `${histOffset + 1}–${last} of ${r.total_count}` : ''),
      h('div', {class: 'row'},
        h('button', {type: 'button', class: 'small', disabled: histOffset === 0, onclick: () => { histOffset = Math.max(0, histOffset - PAGE); loadHistory(); }}, 'Previous'),
        h('button', {type: 'button', class: 'small', disabled: last >= r.total_count, onclick: () => { histOffset += PAGE; loadHistory(); }}, 'Next')));
  }

  async function toggle(btn, t) {
    const tr = btn.closest('tr');
    const open = tr.nextElementSibling && tr.nextElementSibling.classList.contains('detail');
    if (open) { tr.nextElementSibling.remove(); btn.setAttribute('aria-expanded', 'false'); return; }
    const cell = h('td', {colspan: 4}, loading('Loading results…'));
    tr.after(h('tr', {class: 'detail'}, cell));
    btn.setAttribute('aria-expanded', 'true');
    try {
      fill(cell, results(instance, await ctx.hw.download(instance, t.task_id)));
    } catch (e) {
      fill(cell, errorState(e));
    }
  }

  async function loadAll() {
    groups = [];
    histOffset = 0;
    fill(resultBox);
    await Promise.all([loadGroups(), loadHistory()]);
  }

  if (instance) await loadAll();
  else fill(groupsBox, empty('Enter the instance and node', 'The node id of an instance configured with one DSN is the instance id.'));
}

function countIDs(groups) {
  return new Set(groups.flatMap(g => g.ids)).size;
}

// addHuawei lets a Tencent-signed-in user add Huawei credentials for this page.
function addHuawei(ctx) {
  const project = h('input', {id: 'ah-project', spellcheck: 'false', value: document.querySelector('meta[name="kg-huawei-project"]')?.content || ''});
  const token = h('input', {id: 'ah-token', type: 'password', autocomplete: 'off'});
  const err = h('div', {role: 'alert'});
  const form = h('form', {novalidate: true},
    h('p', {}, 'This page calls killgate\'s Huawei GaussDB door, which takes Huawei credentials: the project id and an X-Auth-Token (or sign in again with an AK/SK).'),
    h('div', {class: 'form-grid'},
      h('div', {class: 'field'}, h('label', {for: 'ah-project'}, 'Project id'), project),
      h('div', {class: 'field'}, h('label', {for: 'ah-token'}, 'Token'), token)),
    err,
    h('div', {class: 'form-actions'}, h('button', {type: 'submit', class: 'primary'}, 'Use these credentials')));
  form.addEventListener('submit', e => {
    e.preventDefault();
    if (!project.value.trim() || !token.value) {
      fill(err, h('p', {class: 'notice bad'}, 'MissingParameter: enter the project id and the token.'));
      return;
    }
    ctx.setHuawei({projectId: project.value.trim(), token: token.value, ak: '', sk: ''});
  });
  return panel('Huawei credentials needed', form);
}
