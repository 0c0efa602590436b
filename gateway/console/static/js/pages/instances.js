// Instances: every instance and node with health, active tasks, kills in
// the last hour (sparkline) and the last error.

import {clock} from '../api.js';
import {sparkline} from '../charts.js';
import {h, pageHead, loading, empty, errorState, errText, healthBadge, badge, fmtTime, fmtClock, apiTime, fill} from '../view.js';
import {href} from '../route.js';
import {nodesOf} from './common.js';

const HOUR = 3600 * 1000;
const BUCKETS = 12; // 5-minute buckets

export async function render(ctx) {
  const refresh = h('button', {type: 'button', onclick: () => load(true)}, 'Refresh');
  const updated = h('span', {class: 'faint'});
  const body = h('div', {}, loading('Loading instances…'));
  ctx.root.append(pageHead('Instances', 'Every instance and node this key may use: connection health, active kill tasks, kills in the last hour and the last error.', [updated, refresh]), body);
  const timer = setInterval(() => load(false), 30000);
  ctx.onLeave(() => clearInterval(timer));
  let loaded = false;

  async function load(force) {
    if (!loaded) fill(body, loading('Loading instances…'));
    let items;
    try {
      items = await ctx.instances(force);
    } catch (e) {
      fill(body, errorState(e, () => load(true)));
      return;
    }
    loaded = true;
    updated.textContent = 'Updated ' + fmtClock(Date.now());
    if (!items.length) {
      fill(body, empty('No instances', 'This key may not use any configured instance (its instances scope), or none is configured.'));
      return;
    }
    const grid = h('div', {class: 'grid cards'});
    fill(body, grid);
    const cards = items.map(inst => {
      const c = card(inst);
      grid.append(c.el);
      return c;
    });
    ctx.dataShown();
    await Promise.all(cards.map(c => c.loadActivity()));
  }

  function card(inst) {
    const kills = h('div', {class: 'value'}, h('span', {class: 'spinner', 'aria-label': 'loading'}));
    const lastErr = h('div', {class: 'value text'}, '…');
    const el = h('section', {class: 'panel', dataset: {instance: inst.InstanceId}},
      h('div', {class: 'panel-head'},
        h('div', {class: 'inst-head'}, h('h2', {}, inst.InstanceId), badge(inst.Product, 'plain'), healthBadge(inst.Health))),
      h('div', {class: 'panel-body'},
        h('div', {class: 'metrics'},
          h('div', {class: 'metric'}, h('div', {class: 'label'}, 'Active tasks'), h('div', {class: 'value', dataset: {role: 'active-tasks'}}, String(inst.ActiveTaskCount))),
          h('div', {class: 'metric'}, h('div', {class: 'label'}, 'Kills, last hour'), kills),
          h('div', {class: 'metric wide'}, h('div', {class: 'label'}, 'Last error'), lastErr)),
        h('h3', {class: 'nodes-title'}, 'Nodes'),
        h('ul', {class: 'nodes', 'aria-label': 'Nodes'}, (inst.Nodes && inst.Nodes.length ? inst.Nodes : [{NodeId: inst.InstanceId, Health: inst.Health}]).map(n =>
          h('li', {}, healthBadge(n.Health), h('span', {class: 'mono'}, n.NodeId),
            n.CheckTime ? h('span', {class: 'faint'}, 'checked ' + fmtTime(n.CheckTime)) : null))),
        h('div', {class: 'card-actions'},
          h('a', {class: 'btn small primary-link', href: href('sessions', {instance: inst.InstanceId})}, 'Live sessions'),
          h('a', {class: 'btn small', href: href('tasks', {instance: inst.InstanceId})}, 'Kill tasks'),
          h('a', {class: 'btn small', href: href('history', {instance: inst.InstanceId})}, 'History'),
          h('a', {class: 'btn small', href: href('intelligent', {instance: inst.InstanceId, node: nodesOf(inst)[0]})}, 'Intelligent kill'))));

    async function loadActivity() {
      const now = clock.now();
      const since = now - HOUR;
      let recs = [], total = 0, taskErr = '';
      try {
        // Up to 500 of the hour's kill attempts draw the sparkline; the count is exact.
        for (let off = 0; off < 500; off += 100) {
          const r = await ctx.api.call('DescribeKillRecords', {InstanceId: inst.InstanceId, StartTime: apiTime(since), Offset: off, Limit: 100});
          total = r.TotalCount;
          recs.push(...r.Records);
          if (recs.length >= total || !r.Records.length) break;
        }
      } catch (e) {
        fill(kills, h('span', {class: 'badge bad', title: errText(e)}, e.code || 'error'));
        lastErr.textContent = errText(e);
        lastErr.classList.add('bad');
        return;
      }
      try {
        const t = await ctx.api.call('DescribeKillTasks', {InstanceId: inst.InstanceId, Status: 'Running', Limit: 100});
        const withErr = t.Tasks.find(x => x.LastError);
        if (withErr) taskErr = `task ${withErr.TaskId}: ${withErr.LastError}`;
      } catch (e) {
        taskErr = '';
      }
      const killed = recs.filter(r => r.Outcome === 'killed');
      const counts = new Array(BUCKETS).fill(0);
      for (const r of killed) {
        const i = Math.floor((Date.parse(r.KillTime) - since) / (HOUR / BUCKETS));
        if (i >= 0) counts[Math.min(BUCKETS - 1, i)]++;
      }
      const shown = recs.length < total ? `≥ ${killed.length}` : String(killed.length);
      fill(kills, h('span', {dataset: {role: 'kills-hour'}}, shown),
        sparkline(counts, {title: `${killed.length} sessions killed in the last hour, per 5 minutes (${total} kill attempts in all)`}));
      const failed = recs.find(r => r.Outcome === 'failed');
      const msg = inst.Health !== 'ok' ? inst.Health : taskErr || (failed ? `kill of thread ${failed.ThreadId} failed at ${fmtTime(failed.KillTime)}: ${failed.Error}` : '');
      lastErr.textContent = msg || 'none';
      lastErr.classList.toggle('bad', !!msg);
      if (!msg) lastErr.classList.add('muted');
    }
    return {el, loadActivity};
  }

  await load(false);
}
