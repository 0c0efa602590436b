// Kill history: DescribeKillRecords as a paged, filterable table, kills over
// time by outcome, CSV download of every matching record.

import {clock, listAll} from '../api.js';
import {bucketize, stackedBars} from '../charts.js';
import {download, toCSV, stamp} from '../csv.js';
import {href} from '../route.js';
import {h, pageHead, panel, loading, empty, errorState, errText, table, select, toast, badge, fmtTime, plural, apiTime, debounce, fill} from '../view.js';

const OUTCOMES = [
  {key: 'killed', label: 'killed'}, {key: 'gone', label: 'gone'}, {key: 'changed', label: 'changed'},
  {key: 'skipped', label: 'skipped'}, {key: 'failed', label: 'failed'}, {key: 'observed', label: 'observed'},
];
const CHART_MAX = 1000;
const CSV_MAX = 10000;


// clip80 shortens a text shown in a cell (its title keeps it whole).
const clip80 = t => t.length > 80 ? t.slice(0, 80) + '…' : t;
export async function render(ctx) {
  let items = [];
  try {
    items = await ctx.instances();
  } catch (e) {
    ctx.root.append(pageHead('Kill history'), errorState(e, () => location.reload()));
    return;
  }
  const p = ctx.params;
  const f = {
    instance: select([['', 'All instances'], ...items.map(i => [i.InstanceId, i.InstanceId])], p.get('instance') || '', {id: 'h-instance'}),
    source: select([['', 'Any source'], ['task', 'Kill task'], ['manual', 'Manual (KillMySqlThreads)'], ['intelligent', 'Intelligent kill']], p.get('source') || '', {id: 'h-source'}),
    task: h('input', {id: 'h-task', type: 'search', placeholder: 'task id or SqlExecId', spellcheck: 'false', value: p.get('task') || ''}),
    from: h('input', {id: 'h-from', type: 'datetime-local', step: 1, value: p.get('from') || ''}),
    until: h('input', {id: 'h-until', type: 'datetime-local', step: 1, value: p.get('until') || ''}),
    size: select([[20, '20 per page'], [50, '50 per page'], [100, '100 per page']], p.get('size') || 20, {id: 'h-size'}),
  };
  const csvBtn = h('button', {type: 'button', onclick: csv}, 'Download CSV');
  const refresh = h('button', {type: 'button', onclick: () => reload()}, 'Refresh');
  ctx.root.append(pageHead('Kill history', 'Every kill attempt — by kill tasks, manual kills and intelligent kills — newest first. Times are this browser\'s local time.', [csvBtn, refresh]));
  const lab = (id, text) => h('label', {for: id}, text);
  ctx.root.append(panel(null, h('div', {class: 'filters'},
    h('div', {class: 'field'}, lab('h-instance', 'Instance'), f.instance),
    h('div', {class: 'field'}, lab('h-source', 'Source'), f.source),
    h('div', {class: 'field'}, lab('h-task', 'Task'), f.task),
    h('div', {class: 'field'}, lab('h-from', 'From'), f.from),
    h('div', {class: 'field'}, lab('h-until', 'Until'), f.until),
    h('div', {class: 'field'}, lab('h-size', 'Page size'), f.size),
    h('div', {class: 'field'}, h('span', {}, '\u00a0'), h('button', {type: 'button', class: 'small', onclick: clear}, 'Clear filters')))));

  const chartBox = h('div', {}, loading('Loading…'));
  const chartNote = h('div', {class: 'chart-note'});
  ctx.root.append(panel('Kills over time by outcome', h('div', {}, chartBox, chartNote)));
  const tableBox = h('div', {}, loading('Loading kill history…'));
  const foot = h('div', {class: 'table-foot'});
  ctx.root.append(h('section', {class: 'panel'}, tableBox, foot));

  let offset = 0;
  let drawChart = null;
  const onChange = () => { offset = 0; reload(); };
  for (const el of [f.instance, f.source, f.from, f.until, f.size]) el.addEventListener('change', onChange);
  f.task.addEventListener('input', debounce(onChange, 400));

  function localToMs(v) { return v ? new Date(v).getTime() : NaN; }

  // query builds DescribeKillRecords' filters; a bad range is shown as the API's own error.
  function query() {
    const q = {};
    if (f.instance.value) q.InstanceId = f.instance.value;
    if (f.source.value) q.Source = f.source.value;
    if (f.task.value.trim()) q.TaskId = f.task.value.trim();
    const from = localToMs(f.from.value), until = localToMs(f.until.value);
    if (!isNaN(from)) q.StartTime = apiTime(from);
    if (!isNaN(until)) q.EndTime = apiTime(until);
    return q;
  }

  function clear() {
    f.instance.value = f.source.value = f.task.value = f.from.value = f.until.value = '';
    onChange();
  }

  function syncParams() {
    ctx.setParams({instance: f.instance.value, source: f.source.value, task: f.task.value.trim(), from: f.from.value, until: f.until.value, size: f.size.value === '20' ? '' : f.size.value});
  }

  async function reload() {
    syncParams();
    await Promise.all([loadTable(), loadChart()]);
  }

  async function loadTable() {
    const limit = Number(f.size.value);
    tableBox.classList.add('busy');
    let r;
    try {
      r = await ctx.api.call('DescribeKillRecords', {...query(), Offset: offset, Limit: limit});
    } catch (e) {
      tableBox.classList.remove('busy');
      fill(tableBox, errorState(e, loadTable));
      fill(foot);
      return;
    }
    tableBox.classList.remove('busy');
    ctx.dataShown();
    const filtered = Object.keys(query()).length > 0;
    fill(tableBox, table({
      rows: r.Records, rowKey: k => String(k.RecordId), caption: 'Kill records',
      empty: empty('No kills recorded', filtered ? 'Nothing matches these filters.' : 'Kills by tasks, manual kills and intelligent kills appear here.'),
      columns: [
        {key: 'KillTime', label: 'Time', cell: k => h('span', {class: 'nowrap', title: k.KillTime}, fmtTime(k.KillTime))},
        {key: 'InstanceId', label: 'Instance', cls: 'mono', cell: k => k.NodeId && k.NodeId !== k.InstanceId ? h('span', {title: 'node ' + k.NodeId}, k.InstanceId, h('br'), h('span', {class: 'faint'}, k.NodeId)) : k.InstanceId},
        {key: 'ThreadId', label: 'Thread', cls: 'id', cell: k => h('span', {dataset: {thread: String(k.ThreadId)}}, String(k.ThreadId))},
        {key: 'User', label: 'User', cls: 'wrap'},
        {key: 'Host', label: 'Host', cls: 'mono'},
        {key: 'DB', label: 'DB', cls: 'wrap'},
        {key: 'Info', label: 'Statement', cls: 'info', cell: k => k.Info ? h('div', {class: 'clip', title: k.Info}, k.Info) : h('span', {class: 'faint'}, k.Command || '—')},
        {key: 'Outcome', label: 'Outcome', cell: k => h('div', {}, badge(k.Outcome, k.Outcome), k.KillMode === 'QUERY' ? h('div', {class: 'faint', dataset: {role: 'kill-mode'}}, 'KILL QUERY') : null)},
        {key: 'Source', label: 'Reason', cell: k => h('div', {}, sourceLabel(k.Source),
          k.Error ? h('div', {class: 'faint', title: k.Error}, clip80(k.Error)) : null,
          k.MatchedFilter ? h('div', {class: 'faint', title: k.MatchedFilter, dataset: {role: 'matched-filter'}}, 'matched ' + clip80(k.MatchedFilter)) : null)},
        {key: 'TaskId', label: 'Task', cls: 'id', cell: k => k.Source === 'task' ? h('a', {href: href('tasks', {task: k.TaskId})}, k.TaskId) : k.TaskId},
      ],
    }));
    const end = offset + r.Records.length;
    fill(foot, h('span', {}, r.TotalCount ? `${offset + 1}–${end} of ${r.TotalCount}` : ''),
      h('div', {class: 'row'},
        h('button', {type: 'button', class: 'small', disabled: offset === 0, onclick: () => { offset = Math.max(0, offset - limit); loadTable(); }}, 'Previous'),
        h('button', {type: 'button', class: 'small', disabled: end >= r.TotalCount, onclick: () => { offset += limit; loadTable(); }}, 'Next')));
  }

  async function loadChart() {
    let res;
    try {
      res = await listAll(ctx.api, 'DescribeKillRecords', query(), 'Records', CHART_MAX);
    } catch (e) {
      drawChart = null;
      fill(chartBox, errorState(e, loadChart));
      chartNote.textContent = '';
      return;
    }
    const recs = res.items;
    if (!recs.length) {
      drawChart = null;
      fill(chartBox, empty('No kills in this range'));
      chartNote.textContent = '';
      return;
    }
    const times = recs.map(r => Date.parse(r.KillTime));
    const q = query();
    let to = q.EndTime ? localToMs(f.until.value) : clock.now();
    let from = q.StartTime ? localToMs(f.from.value) : Math.min(...times);
    if (to - from < 10 * 60 * 1000) from = to - 10 * 60 * 1000;
    const n = 30;
    const buckets = bucketize(recs, from, to, n, r => Date.parse(r.KillTime), r => r.Outcome);
    const longSpan = to - from > 86400000;
    const tick = ms => {
      const d = new Date(ms), p2 = x => String(x).padStart(2, '0');
      return (longSpan ? `${p2(d.getMonth() + 1)}-${p2(d.getDate())} ` : '') + `${p2(d.getHours())}:${p2(d.getMinutes())}`;
    };
    drawChart = () => fill(chartBox, stackedBars(buckets, OUTCOMES, {fmtTick: tick, width: chartBox.clientWidth || 900, title: `Kill attempts per ${Math.round((to - from) / n / 60000) || 1} minutes, by outcome`}));
    drawChart();
    chartNote.textContent = res.total > recs.length ? `The newest ${recs.length} of ${res.total} matching records; narrow the time range to chart older ones.` : `${plural(res.total, 'record')}.`;
  }

  async function csv() {
    csvBtn.disabled = true;
    const label = csvBtn.textContent;
    csvBtn.textContent = 'Preparing CSV…';
    try {
      const res = await listAll(ctx.api, 'DescribeKillRecords', query(), 'Records', CSV_MAX);
      const cols = ['KillTime', 'InstanceId', 'NodeId', 'ThreadId', 'User', 'Host', 'DB', 'Command', 'Time', 'State', 'Info', 'Outcome', 'Error', 'Source', 'TaskId', 'RecordId', 'Replica', 'KillMode', 'MatchedFilter'];
      download(`kill-history-${stamp()}.csv`, toCSV(cols, res.items.map(r => cols.map(c => r[c]))));
      if (res.total > res.items.length) toast(`The CSV holds the newest ${res.items.length} of ${res.total} records; narrow the filters for the rest.`);
    } catch (e) {
      toast(errText(e), 'bad');
    } finally {
      csvBtn.disabled = false;
      csvBtn.textContent = label;
    }
  }

  const timer = setInterval(() => { if (!document.hidden && offset === 0) reload(); }, 30000);
  // The chart is drawn at the panel's width: draw it again when that changes.
  const redraw = debounce(() => drawChart && drawChart(), 150);
  window.addEventListener('resize', redraw);
  ctx.onLeave(() => { clearInterval(timer); window.removeEventListener('resize', redraw); });
  await reload();
}

function sourceLabel(s) {
  return {task: 'kill task', manual: 'manual kill', intelligent: 'intelligent kill'}[s] || s;
}
