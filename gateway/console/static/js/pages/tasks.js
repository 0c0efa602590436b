// Kill tasks: the list (status, filters, kill count, last error, time left),
// the create form with PreviewKillTask's "would kill now" list live as the
// filter is edited, and cancel with confirm.

import {clock} from '../api.js';
import {href} from '../route.js';
import {h, pageHead, panel, loading, empty, errorState, errText, table, select, field, setFieldError, confirmDialog, toast, badge, fmtSeconds, fmtTime, fmtClock, plural, debounce, fill} from '../view.js';
import {currentInstance, filterChips} from './common.js';

const DURATIONS = [[60, '1 minute'], [300, '5 minutes'], [600, '10 minutes'], [1800, '30 minutes'], [3600, '1 hour'], [86400, '1 day'], [-1, 'Until cancelled'], ['custom', 'Custom (seconds)…']];
const PAGE = 20;

export async function render(ctx) {
  let items;
  try {
    items = await ctx.instances();
  } catch (e) {
    ctx.root.append(pageHead('Kill tasks'), errorState(e, () => location.reload()));
    return;
  }
  if (!items.length) {
    ctx.root.append(pageHead('Kill tasks'), empty('No instances', 'This key may not use any instance.'));
    return;
  }
  let inst = currentInstance(ctx, items);
  ctx.root.append(pageHead('Kill tasks', 'A kill task kills every session matching all its filters for its duration. The preview shows what it would kill right now.'));

  // --- create form ---------------------------------------------------------------------
  const f = {
    instance: select(items.map(i => [i.InstanceId, `${i.InstanceId} (${i.Product})`]), inst.InstanceId, {id: 'task-instance'}),
    duration: select(DURATIONS, 600, {id: 'task-duration'}),
    custom: h('input', {id: 'task-custom', type: 'number', step: 1, placeholder: 'seconds', hidden: true}),
    user: h('input', {id: 'task-user', autocomplete: 'off', spellcheck: 'false', placeholder: 'exact, e.g. app'}),
    host: h('input', {id: 'task-host', autocomplete: 'off', spellcheck: 'false', placeholder: 'client address, no port'}),
    db: h('input', {id: 'task-db', autocomplete: 'off', spellcheck: 'false', placeholder: 'shop,shop2'}),
    command: h('input', {id: 'task-command', autocomplete: 'off', spellcheck: 'false', placeholder: 'Query,Execute'}),
    info: h('input', {id: 'task-info', autocomplete: 'off', spellcheck: 'false', placeholder: 'statement prefix, e.g. select'}),
    infos: h('textarea', {id: 'task-infos', rows: 3, spellcheck: 'false', placeholder: 'one prefix per line'}),
    time: h('input', {id: 'task-time', type: 'number', step: 1, placeholder: 'seconds'}),
    // killgate extensions (docs/matching-and-safety.md#killgate-extensions)
    trxTime: h('input', {id: 'task-trxtime', type: 'number', step: 1, placeholder: 'seconds'}),
    blockingCount: h('input', {id: 'task-blockingcount', type: 'number', step: 1, placeholder: 'sessions'}),
    blockingTime: h('input', {id: 'task-blockingtime', type: 'number', step: 1, placeholder: 'seconds'}),
    killMode: select([['', 'Instance default'], ['CONNECTION', 'Connection (KILL)'], ['QUERY', 'Statement only (KILL QUERY)']], '', {id: 'task-killmode'}),
    observe: h('input', {id: 'task-observe', type: 'checkbox'}),
  };
  const product = h('span', {class: 'mono'}, inst.Product);
  const formErr = h('div', {role: 'alert'});
  const createBtn = h('button', {type: 'submit', class: 'danger'}, 'Create task…');
  const form = h('form', {novalidate: true, 'aria-label': 'New kill task'},
    h('div', {class: 'form-grid'},
      field('Instance', f.instance, {hint: h('span', {}, 'Product ', product)}),
      h('div', {class: 'field'}, h('label', {for: 'task-duration'}, 'Duration'), h('div', {class: 'row'}, f.duration, f.custom), h('div', {class: 'err', id: 'task-duration-err', hidden: true})),
      field('User', f.user, {hint: 'exact'}),
      field('Host', f.host, {hint: 'exact, without port'}),
      field('DB', f.db, {hint: 'comma list'}),
      field('Command', f.command, {hint: 'comma list'}),
      field('Info', f.info, {hint: 'statement prefix'}),
      field('Time ≥', f.time, {hint: 'seconds'}),
      h('div', {class: 'wide'}, field('Infos', f.infos, {hint: 'several prefixes, one per line (not with Info)'})),
      field('Transaction open ≥', f.trxTime, {hint: 'seconds (TrxTime)'}),
      field('Blocking ≥', f.blockingCount, {hint: 'waiting sessions, chain heads only (BlockingCount)'}),
      field('Blocking for ≥', f.blockingTime, {hint: 'seconds (BlockingTime)'}),
      field('Kill', f.killMode, {hint: 'KillMode'}),
      field('Observe only', f.observe, {hint: 'record what it would kill, never kill'})),
    formErr,
    h('div', {class: 'form-actions'}, createBtn, h('span', {class: 'faint'}, 'Every filter given must match (AND). No filter = every user session.')));
  f.duration.setAttribute('aria-describedby', 'task-duration-err');
  f.custom.setAttribute('aria-label', 'Duration in seconds');

  const previewHead = h('div', {class: 'preview-head'});
  const previewBody = h('div', {class: 'preview-list'});
  const previewStatus = h('span', {class: 'faint', role: 'status', dataset: {role: 'preview-status'}});
  ctx.root.append(h('div', {class: 'grid two'},
    panel('New kill task', form),
    panel(h('h2', {}, 'Would kill now'), h('div', {}, previewHead, previewBody), {tools: [previewStatus, h('button', {type: 'button', class: 'small', onclick: () => runPreview()}, 'Refresh')]})));
  ctx.root.append(h('div', {class: 'spacer'}));

  const filterFields = ['user', 'host', 'db', 'command', 'info', 'infos', 'time', 'trxTime', 'blockingCount', 'blockingTime', 'killMode', 'observe'];
  const paramField = {User: f.user, Host: f.host, DB: f.db, Command: f.command, Info: f.info, Infos: f.infos, Time: f.time, Duration: f.duration, InstanceId: f.instance,
    TrxTime: f.trxTime, BlockingCount: f.blockingCount, BlockingTime: f.blockingTime, KillMode: f.killMode, Observe: f.observe};

  function filterParams() {
    const p = {InstanceId: inst.InstanceId, Product: inst.Product};
    if (f.user.value.trim()) p.User = f.user.value.trim();
    if (f.host.value !== '') p.Host = f.host.value.trim() || f.host.value;
    if (f.db.value !== '') p.DB = f.db.value;
    if (f.command.value !== '') p.Command = f.command.value;
    if (f.info.value !== '') p.Info = f.info.value;
    const lines = f.infos.value.split('\n').filter(l => l.trim() !== '');
    if (lines.length) p.Infos = lines;
    if (f.time.value !== '') p.Time = Number(f.time.value);
    if (f.trxTime.value !== '') p.TrxTime = Number(f.trxTime.value);
    if (f.blockingCount.value !== '') p.BlockingCount = Number(f.blockingCount.value);
    if (f.blockingTime.value !== '') p.BlockingTime = Number(f.blockingTime.value);
    if (f.killMode.value) p.KillMode = f.killMode.value;
    if (f.observe.checked) p.Observe = true;
    return p;
  }

  function duration() {
    if (f.duration.value !== 'custom') return Number(f.duration.value);
    return f.custom.value === '' ? NaN : Number(f.custom.value);
  }

  // clearErrors clears the inline errors; the preview keeps a create
  // error (above the buttons) and the Duration's until the next edit.
  function clearErrors(all = true) {
    for (const [k, el] of Object.entries(paramField)) if (all || k !== 'Duration') setFieldError(el, '');
    if (all) fill(formErr);
  }

  // showError puts an API error under the field it names, else above the buttons.
  function showError(e) {
    const m = /`([A-Za-z]+)(?:\.\d+)*`/.exec(e.message || '');
    const el = m && paramField[m[1]];
    if (el && /^(InvalidParameter|InvalidParameterValue|MissingParameter|UnknownParameter)/.test(e.code)) {
      setFieldError(el, errText(e));
      return;
    }
    fill(formErr, errorState(e));
  }

  // --- live preview (debounced; one request at a time) ---------------------------------
  let seq = 0, inflight = false, again = false, last = null, validationError = false;
  async function runPreview() {
    if (inflight) { again = true; return; }
    inflight = true;
    const my = ++seq;
    previewStatus.textContent = 'Checking…';
    try {
      const r = await ctx.api.call('PreviewKillTask', filterParams());
      if (my === seq) showPreview(r);
    } catch (e) {
      if (my === seq) showPreviewError(e);
    } finally {
      inflight = false;
      if (again) { again = false; runPreview(); }
    }
  }
  const schedulePreview = debounce(runPreview, 400);

  function showPreview(r) {
    last = r;
    validationError = false;
    clearErrors(false);
    createBtn.disabled = false;
    previewStatus.textContent = 'Checked ' + fmtClock(Date.now());
    const n = r.TotalCount;
    fill(previewHead, 
      h('span', {class: 'preview-count ' + (n ? 'some' : 'zero'), dataset: {role: 'preview-count'}}, String(n)),
      h('span', {}, n === 1 ? 'session matches these filters now' : 'sessions match these filters now'));
    fill(previewBody, n ? table({
      rows: r.ProcessList.slice(0, 200), rowKey: p => p.ID, caption: 'Sessions the task would kill now',
      columns: [
        {key: 'ID', label: 'ID', cls: 'id'}, {key: 'User', label: 'User', cls: 'wrap'}, {key: 'Host', label: 'Host', cls: 'mono'},
        {key: 'DB', label: 'DB', cls: 'wrap'},
        {key: 'Time', label: 'Time', num: true, cell: p => fmtSeconds(p.Time)},
        {key: 'Info', label: 'Info', cls: 'info', cell: p => h('div', {class: 'clip', title: p.Info}, p.Info)},
      ],
    }) : empty('Nothing to kill right now', 'The task would still kill sessions that match later, while it runs.'));
  }

  function showPreviewError(e) {
    last = null;
    clearErrors(false);
    validationError = /^(InvalidParameter|MissingParameter|UnknownParameter)/.test(e.code);
    if (validationError) showError(e);
    createBtn.disabled = validationError;
    previewStatus.textContent = '';
    fill(previewHead, h('span', {class: 'preview-count zero'}, '—'), h('span', {}, validationError ? 'Fix the filter to see the preview.' : 'The preview failed.'));
    fill(previewBody, validationError ? '' : errorState(e, runPreview));
  }

  f.instance.addEventListener('change', () => {
    inst = items.find(i => i.InstanceId === f.instance.value);
    product.textContent = inst.Product;
    ctx.prefs.set('instance', inst.InstanceId);
    ctx.setParams({instance: inst.InstanceId});
    runPreview();
  });
  for (const k of filterFields) f[k].addEventListener(f[k].tagName === 'SELECT' || f[k].type === 'checkbox' ? 'change' : 'input', () => { fill(formErr); previewStatus.textContent = 'Editing…'; schedulePreview(); });
  f.custom.addEventListener('input', () => setFieldError(f.duration, ''));
  f.duration.addEventListener('change', () => { f.custom.hidden = f.duration.value !== 'custom'; if (!f.custom.hidden) f.custom.focus(); });
  const previewTimer = setInterval(() => { if (!document.hidden && !validationError) runPreview(); }, 5000);
  ctx.onLeave(() => { clearInterval(previewTimer); schedulePreview.cancel(); });

  form.addEventListener('submit', async e => {
    e.preventDefault();
    schedulePreview.cancel();
    clearErrors();
    const dur = duration();
    if (!Number.isFinite(dur)) { setFieldError(f.duration, 'MissingParameter: enter the duration in seconds.'); return; }
    const p = {...filterParams(), Duration: dur};
    createBtn.disabled = true;
    let n;
    try {
      // The exact count at the moment of the decision.
      const r = await ctx.api.call('PreviewKillTask', filterParams());
      showPreview(r);
      n = r.TotalCount;
    } catch (err) {
      showPreviewError(err);
      createBtn.disabled = validationError;
      return;
    }
    const noFilter = !['User', 'Host', 'DB', 'Command', 'Info', 'Infos', 'Time', 'TrxTime', 'BlockingCount', 'BlockingTime'].some(k => k in p);
    const until = dur === -1 ? 'until it is cancelled' : `for ${fmtSeconds(dur)}`;
    const verb = p.Observe ? 'records (never kills)' : 'kills';
    const ok = await confirmDialog({
      title: p.Observe ? `Create an observe-only task on ${inst.InstanceId}?` : `Create a kill task on ${inst.InstanceId}?`,
      body: [
        h('p', {}, n ? `It ${verb} the ${plural(n, 'session')} that match now, and every session that matches ${until}.` : `No session matches now; it ${verb} every session that matches ${until}.`),
        h('p', {}, filterChips(p)),
        noFilter && !p.Observe ? h('p', {class: 'notice bad'}, 'No filter: this task kills every user session on the instance.') : null,
      ],
      confirmLabel: p.Observe ? 'Create observe-only task' : n ? `Create and kill ${plural(n, 'session')}` : 'Create task',
    });
    if (!ok) { createBtn.disabled = false; return; }
    try {
      const r = await ctx.api.call('CreateKillTask', p);
      toast(`Task ${r.TaskId} created on ${inst.InstanceId}`, 'ok');
      loadList();
      runPreview();
    } catch (err) {
      showError(err);
    } finally {
      createBtn.disabled = false;
    }
  });

  // --- task list -------------------------------------------------------------------------------
  const lf = {
    instance: select([['', 'All instances'], ...items.map(i => [i.InstanceId, i.InstanceId])], ctx.params.get('list') || '', {id: 'list-instance'}),
    status: select([['', 'Any status'], ['Running', 'Running'], ['Finished', 'Finished'], ['Cancelled', 'Cancelled']], ctx.params.get('status') || '', {id: 'list-status'}),
    task: h('input', {id: 'list-task', type: 'search', placeholder: 'kt-…', spellcheck: 'false', value: ctx.params.get('task') || ''}),
  };
  let offset = 0;
  const listBody = h('div', {}, loading('Loading tasks…'));
  const listFoot = h('div', {class: 'table-foot'});
  ctx.root.append(h('section', {class: 'panel'},
    h('div', {class: 'panel-head'}, h('h2', {}, 'Tasks'),
      h('div', {class: 'inline-tools'},
        h('label', {class: 'sr-only', for: 'list-instance'}, 'Instance'), lf.instance,
        h('label', {class: 'sr-only', for: 'list-status'}, 'Status'), lf.status,
        h('label', {class: 'sr-only', for: 'list-task'}, 'Task id'), lf.task,
        h('button', {type: 'button', class: 'small', onclick: () => loadList()}, 'Refresh'))),
    listBody, listFoot));
  for (const el of [lf.instance, lf.status]) el.addEventListener('change', () => { offset = 0; loadList(); });
  lf.task.addEventListener('input', debounce(() => { offset = 0; loadList(); }, 400));

  const countdowns = [];
  async function loadList() {
    let r;
    try {
      const p = {Offset: offset, Limit: PAGE};
      if (lf.instance.value) p.InstanceId = lf.instance.value;
      if (lf.status.value) p.Status = lf.status.value;
      if (lf.task.value.trim()) p.TaskId = lf.task.value.trim();
      r = await ctx.api.call('DescribeKillTasks', p);
    } catch (e) {
      fill(listBody, errorState(e, loadList));
      fill(listFoot);
      return;
    }
    ctx.dataShown();
    countdowns.length = 0;
    fill(listBody, table({
      rows: r.Tasks, rowKey: t => t.TaskId, caption: 'Kill tasks',
      empty: empty('No kill tasks', lf.status.value || lf.task.value || lf.instance.value ? 'No task matches these filters.' : 'Create one with the form above.'),
      columns: [
        {key: 'TaskId', label: 'Task', cls: 'id'},
        {key: 'InstanceId', label: 'Instance', cls: 'mono'},
        {key: 'Filters', label: 'Filters', cell: t => h('div', {}, filterChips(t))},
        {key: 'Status', label: 'Status', cell: t => badge(t.Status, t.Status)},
        {key: 'KillCount', label: 'Kills', num: true, cell: t => h('span', {dataset: {role: 'kill-count'}}, t.Observe ? `${t.ObserveCount} observed` : String(t.KillCount))},
        {key: 'LastError', label: 'Last error', cell: t => t.LastError ? h('span', {class: 'badge bad plain', title: t.LastError}, t.LastError.length > 60 ? t.LastError.slice(0, 60) + '…' : t.LastError) : h('span', {class: 'faint'}, '—')},
        {key: 'CreateTime', label: 'Created', cell: t => h('span', {class: 'nowrap'}, fmtTime(t.CreateTime))},
        {key: 'Left', label: 'Time left', cell: t => timeLeft(t)},
        {key: 'Creator', label: 'Creator', cls: 'mono'},
        {key: 'act', label: '', cell: t => h('div', {class: 'row'},
          h('a', {class: 'btn small', href: href('history', {instance: t.InstanceId, task: t.TaskId})}, 'History'),
          t.Status === 'Running' ? h('button', {type: 'button', class: 'small danger', dataset: {cancel: t.TaskId}, onclick: () => cancel(t)}, 'Cancel…') : null)},
      ],
    }));
    const end = Math.min(r.TotalCount, offset + r.Tasks.length);
    fill(listFoot, h('span', {}, r.TotalCount ? `${offset + 1}–${end} of ${r.TotalCount}` : ''),
      h('div', {class: 'row'},
        h('button', {type: 'button', class: 'small', disabled: offset === 0, onclick: () => { offset = Math.max(0, offset - PAGE); loadList(); }}, 'Previous'),
        h('button', {type: 'button', class: 'small', disabled: end >= r.TotalCount, onclick: () => { offset += PAGE; loadList(); }}, 'Next')));
  }

  function timeLeft(t) {
    if (t.Status !== 'Running') return h('span', {class: 'faint nowrap'}, t.EndTime ? 'ended ' + fmtTime(t.EndTime) : '—');
    if (t.Duration === -1 || !t.ExpireTime) return h('span', {class: 'nowrap'}, 'until cancelled');
    const el = h('span', {class: 'nowrap'});
    const exp = Date.parse(t.ExpireTime);
    const upd = () => { el.textContent = fmtSeconds(Math.max(0, (exp - clock.now()) / 1000)); };
    upd();
    countdowns.push(upd);
    return el;
  }
  const tick = setInterval(() => countdowns.forEach(u => u()), 1000);
  const listTimer = setInterval(() => { if (!document.hidden) loadList(); }, 15000);
  ctx.onLeave(() => { clearInterval(tick); clearInterval(listTimer); });

  async function cancel(t) {
    let running;
    try {
      running = await ctx.api.call('DescribeKillTasks', {InstanceId: t.InstanceId, Status: 'Running', Limit: 100});
    } catch (e) {
      toast(errText(e), 'bad');
      return;
    }
    const n = running.TotalCount;
    if (!n) { toast(`No active task on ${t.InstanceId}`); loadList(); return; }
    const ok = await confirmDialog({
      title: `Cancel ${plural(n, 'active task')} on ${t.InstanceId}?`,
      body: [
        h('p', {}, 'CancelKillTask stops every active kill task of the instance (the API has no per-task cancel). These stop:'),
        h('ul', {}, running.Tasks.map(x => h('li', {}, h('span', {class: 'mono'}, x.TaskId), ' ', filterChips(x)))),
      ],
      confirmLabel: `Cancel ${plural(n, 'task')}`,
    });
    if (!ok) return;
    try {
      const r = await ctx.api.call('CancelKillTask', {InstanceId: t.InstanceId, Product: t.Product});
      toast(`Cancelled ${plural(r.TaskIds.length, 'task')} on ${t.InstanceId}`, 'ok');
    } catch (e) {
      toast(errText(e), 'bad');
    }
    loadList();
    runPreview();
  }

  runPreview();
  await loadList();
}
