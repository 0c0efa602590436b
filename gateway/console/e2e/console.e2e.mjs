// Browser scenarios of the killgate console, run one per process by
// gateway/console_browser_test.go against a real killgate and real MariaDB
// sessions:   node console.e2e.mjs <scenario>
// The Go test sets up the sessions, passes ids in KG_* variables, reads the
// RESULT line and checks MariaDB itself. Every scenario fails on any browser
// console error, page error, CSP violation or request to another origin.

import fs from 'node:fs';
import {env, launch, newPage, signIn, shot, assertClean, expect, result, failureShots, PHONE, DESKTOP} from './lib.mjs';

const URL_ = env('KG_URL');
const INSTANCE = process.env.KG_INSTANCE || '';
const KEY = env('KG_KEY');
const ids = name => (process.env[name] || '').split(',').filter(Boolean);
const sorted = a => [...a].map(String).sort((x, y) => Number(x) - Number(y));
const same = (a, b) => JSON.stringify(sorted(a)) === JSON.stringify(sorted(b));

const scenarios = {
  // Sign-in: security headers, a wrong key's AuthFailure, where the key is
  // kept, CSP enforcement, sign-out, first-load time.
  async signin(browser) {
    const page = await newPage(browser);
    const resp = await page.goto(URL_.replace(/\/$/, ''));
    expect(page.url() === URL_, `/console did not redirect to /console/: ${page.url()}`);
    const hd = resp.headers();
    expect(hd['content-security-policy'] && !hd['content-security-policy'].includes('unsafe') && hd['content-security-policy'].includes("script-src 'self'"), 'CSP header: ' + hd['content-security-policy']);
    expect(hd['x-frame-options'] === 'DENY' && hd['x-content-type-options'] === 'nosniff', 'security headers: ' + JSON.stringify(hd));
    await page.getByLabel('SecretId').waitFor();
    await shot(page, 'signin');

    await signIn(page, {key: 'not-the-key', expectError: 'AuthFailure'});
    const wrongKey = await page.getByRole('alert').innerText();
    expect(/AuthFailure\.SignatureFailure/.test(wrongKey), 'wrong key answer: ' + wrongKey);
    await signIn(page, {id: 'AKIDnobody', expectError: 'AuthFailure'});
    const wrongID = await page.getByRole('alert').innerText();
    expect(/AuthFailure\.SecretIdNotFound/.test(wrongID), 'unknown id answer: ' + wrongID);
    await shot(page, 'signin-error');

    // Keyboard only: the SecretId field has the focus; Tab to the key, Enter signs in.
    await page.goto(URL_);
    await page.getByLabel('SecretId').waitFor();
    await page.keyboard.press('Control+A');
    await page.keyboard.type(env('KG_ID'));
    await page.keyboard.press('Tab');
    await page.keyboard.type(KEY);
    await page.keyboard.press('Enter');
    await page.getByRole('navigation', {name: 'Pages'}).waitFor();
    for (const id of ids('KG_INSTANCES')) await page.locator(`section[data-instance="${id}"] [data-role="kills-hour"]`).waitFor();
    const shown = await page.locator('section[data-instance]').evaluateAll(els => els.map(e => e.dataset.instance));
    expect(same(shown, ids('KG_INSTANCES')) || JSON.stringify(shown) === JSON.stringify(ids('KG_INSTANCES')), 'instances shown: ' + shown);
    await shot(page, 'instances');

    // The key lives in sessionStorage only: not in a URL, localStorage or a cookie.
    const store = await page.evaluate(() => ({ss: JSON.stringify(sessionStorage), ls: localStorage.length, cookie: document.cookie, url: location.href}));
    expect(store.ss.includes(KEY), 'key not in sessionStorage');
    expect(store.ls === 0 && store.cookie === '' && !store.url.includes(KEY), 'key leaked: ' + JSON.stringify({...store, ss: '…'}));

    // The CSP is enforced: an injected inline script does not run.
    // (The blocked attempt is reported as a violation: allowed from here on, for this page only.)
    page.allowed.push(/CSP violation: script-src(-elem)? blocked inline/, /^Executing inline script violates the following Content Security Policy/);
    const ran = await page.evaluate(() => {
      const s = document.createElement('script');
      s.textContent = 'window.__kgInline = 1';
      document.body.append(s);
      return window.__kgInline === 1;
    });
    expect(!ran, 'an inline script ran despite the CSP');

    // Phone width.
    await page.setViewportSize(PHONE);
    await page.waitForTimeout(100);
    await shot(page, 'instances-phone');
    await page.setViewportSize(DESKTOP);

    await page.getByRole('button', {name: 'Sign out'}).click();
    await page.getByLabel('SecretId').waitFor();
    const after = await page.evaluate(() => sessionStorage.length);
    expect(after === 0, 'sessionStorage not cleared on sign-out');
    assertClean(page);

    // First load, signed in (the key already in this tab's sessionStorage):
    // navigation start → load event, and → first API data on screen.
    const p2 = await newPage(browser);
    await signIn(p2);
    const loads = [], firsts = [];
    for (let i = 0; i < 5; i++) {
      await p2.goto('about:blank');
      await p2.goto(URL_ + '#/instances');
      await p2.waitForFunction(() => performance.getEntriesByName('kg-first-data').length > 0);
      const t = await p2.evaluate(() => ({
        load: performance.getEntriesByType('navigation')[0].loadEventEnd,
        first: performance.getEntriesByName('kg-first-data')[0].startTime,
      }));
      loads.push(t.load);
      firsts.push(t.first);
    }
    assertClean(p2);
    const median = a => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
    result({wrongKey, wrongID, loadMs: median(loads), firstDataMs: median(firsts), loads, firsts});
  },

  // A browser clock an hour behind: the first call is refused with
  // SignatureExpire, the console learns the offset from Date and signs again.
  async skew(browser) {
    const page = await newPage(browser, {clock: p => p.clock.setFixedTime(Date.now() - 3600 * 1000)});
    await signIn(page);
    await page.locator('section[data-instance]').first().waitFor();
    assertClean(page);
    result({ok: true});
  },

  // A scoped, read-only key: only its instance; a kill attempt shows the
  // API's UnauthorizedOperation with its message.
  async scoped(browser) {
    const page = await newPage(browser);
    await signIn(page, {id: env('KG_SCOPED_ID'), key: env('KG_SCOPED_KEY')});
    await page.locator('section[data-instance]').first().waitFor();
    const shown = await page.locator('section[data-instance]').evaluateAll(els => els.map(e => e.dataset.instance));
    await page.goto(`${URL_}#/sessions?user=${env('KG_USER')}`);
    const row = page.locator(`tr[data-key="${ids('KG_VICTIMS')[0]}"]`);
    await row.waitFor();
    const options = await page.locator('#instance option').evaluateAll(els => els.map(e => e.value));
    await row.getByRole('checkbox').check();
    await page.getByRole('button', {name: /^Kill 1 session/}).click();
    const alert = page.getByRole('dialog').getByRole('alert');
    await alert.waitFor();
    const text = await alert.innerText();
    await shot(page, 'unauthorized', {full: false});
    assertClean(page);
    result({shown, options, text});
  },

  // Live sessions: the victims appear (with statistics), two are selected and
  // killed through Prepare/Commit, the kill shows in History; CSV download.
  async sessions(browser) {
    const page = await newPage(browser);
    await signIn(page);
    const user = env('KG_USER');
    await page.goto(`${URL_}#/sessions?instance=${INSTANCE}&user=${user}`);
    const kill = ids('KG_KILL'), keep = ids('KG_KEEP');
    for (const id of [...kill, ...keep]) await page.locator(`tr[data-key="${id}"]`).waitFor();
    // Statistics: the test user with all its sessions, one template.
    const userBar = page.locator('.panel', {hasText: 'By user'}).getByRole('button', {name: new RegExp(user)});
    const userCount = (await userBar.innerText()).trim().split(/\s+/).pop();
    const templates = await page.locator('table.templates tbody tr').count();
    // Statement text is shown as text, never parsed as markup.
    expect(await page.locator('img[src="x"]').count() === 0, 'statement text became markup');
    expect(await page.getByText('<img src=x', {exact: false}).count() > 0, 'statement text not shown');
    await shot(page, 'sessions');
    // Phone width, as a phone would load it (filters and statistics folded).
    await page.setViewportSize(PHONE);
    await page.reload();
    await page.locator(`tr[data-key="${kill[0]}"]`).waitFor();
    await shot(page, 'sessions-phone');
    await page.setViewportSize(DESKTOP);
    await page.reload();
    for (const id of [...kill, ...keep]) await page.locator(`tr[data-key="${id}"]`).waitFor();

    // Sorting: the ID header (a button) sorts descending, then ascending.
    const idOrder = () => page.locator('table.data:not(.templates) tbody tr').evaluateAll(els => els.map(e => Number(e.dataset.key)));
    await page.getByRole('button', {name: 'ID', exact: true}).click();
    await page.getByRole('button', {name: 'ID', exact: true}).press('Enter');
    const asc = await idOrder();
    expect(JSON.stringify(asc) === JSON.stringify([...asc].sort((a, b) => a - b)) && asc.length === kill.length + keep.length, 'ID sort ascending: ' + asc);
    // Auto-refresh: every 5 s the list is read again without a click.
    const before = await page.getByText(/^Updated /).innerText();
    await page.getByLabel('Auto-refresh').selectOption('5');
    await page.waitForFunction(b => { const e = [...document.querySelectorAll('span[role="status"]')].find(x => x.textContent.startsWith('Updated ')); return e && e.textContent !== b; }, before, {timeout: 12000});
    await page.getByLabel('Auto-refresh').selectOption('0');

    // CSV of the rows shown.
    const [dl] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', {name: 'Download CSV'}).click()]);
    const csv = fs.readFileSync(await dl.path(), 'utf8');
    expect(csv.startsWith('ID,User,Host,DB,Command,Time,State,Info,Template'), 'CSV header: ' + csv.slice(0, 80));
    for (const id of [...kill, ...keep]) expect(csv.includes('\r\n' + id + ','), `CSV lacks ${id}`);

    for (const id of kill) await page.getByRole('checkbox', {name: `Select session ${id}`}).check();
    await page.getByRole('button', {name: `Kill ${kill.length} sessions…`}).click();
    const dlg = page.getByRole('dialog');
    for (const id of kill) await dlg.locator(`tr[data-key="${id}"]`).waitFor();
    const listed = await dlg.locator('tbody tr').evaluateAll(els => els.map(e => e.dataset.key));
    const title = await dlg.getByRole('heading').innerText();
    await shot(page, 'sessions-kill-dialog', {full: false});
    await dlg.getByRole('button', {name: `Kill ${kill.length} sessions`, exact: true}).click();
    const done = dlg.locator('[data-role="killed"]');
    await done.waitFor();
    const killedText = await done.innerText();
    await dlg.getByRole('link', {name: 'See in Kill history'}).click();

    // History: both kills, outcome killed, under the prepared kill's id.
    for (const id of kill) await page.locator(`[data-thread="${id}"]`).waitFor();
    const outcomes = await page.locator('tbody tr').evaluateAll(rows => rows.map(r => [r.querySelector('[data-thread]')?.dataset.thread, r.querySelector('.badge')?.textContent]));
    await shot(page, 'history-manual-kill');
    assertClean(page);
    result({userCount, templates, listed, title, killedText, outcomes});
  },

  // An instance of several nodes: the Node column (thread ids are per node)
  // and one node at a time (DescribeMySqlProcessList's NodeId extension).
  async nodes(browser) {
    const page = await newPage(browser);
    await signIn(page);
    const inst = env('KG_NODES_INSTANCE'), v = ids('KG_VICTIMS')[0];
    await page.goto(`${URL_}#/sessions?instance=${inst}&user=${env('KG_USER')}`);
    const rows = () => page.locator(`table.data:not(.templates) tbody tr[data-key$="/${v}"]`).evaluateAll(els => els.map(e => e.dataset.key));
    await page.locator(`tr[data-key="node-b/${v}"]`).waitFor();
    await page.locator(`tr[data-key="node-a/${v}"]`).waitFor();
    const all = await rows();
    await shot(page, 'sessions-nodes');
    await page.getByLabel('Node', {exact: true}).selectOption('node-b');
    await page.waitForFunction(() => location.hash.includes('node=node-b'));
    await page.locator(`tr[data-key="node-b/${v}"]`).waitFor();
    await page.waitForFunction(() => !document.querySelector('tr[data-key^="node-a/"]'));
    const one = await rows();
    assertClean(page);
    result({all, one});
  },

  // Kill tasks: the preview count while the filter is edited, an inline
  // validation error, create (the Go test checks that exactly the previewed
  // sessions die), then cancel.
  async tasks(browser) {
    const page = await newPage(browser);
    await signIn(page);
    await page.goto(`${URL_}#/tasks?instance=${INSTANCE}`);
    const user = env('KG_USER');
    const want = ids('KG_VICTIMS');
    await page.locator('#task-user').fill(user);
    const count = page.locator('[data-role="preview-count"]');
    await page.waitForFunction(n => document.querySelector('[data-role="preview-count"]')?.textContent === n, String(want.length));
    const previewIds = await page.locator('.preview-list tbody tr').evaluateAll(els => els.map(e => e.dataset.key));
    // A port in Host: the API's InvalidParameterValue under the Host field.
    await page.locator('#task-host').fill('127.0.0.1:3306');
    const hostErr = page.locator('#task-host-err');
    await hostErr.waitFor({state: 'visible'});
    const hostError = await hostErr.innerText();
    await shot(page, 'tasks-validation');
    await page.locator('#task-host').fill('');
    await page.waitForFunction(n => document.querySelector('[data-role="preview-count"]')?.textContent === n, String(want.length));
    await page.locator('#task-command').fill('Query');
    await page.locator('#task-info').fill('select get_lock');
    // The preview of these exact filters (not a stale one): checked after the last edit.
    await page.waitForFunction(n => document.querySelector('[data-role="preview-count"]')?.textContent === n && !document.querySelector('[aria-invalid="true"]') &&
      document.querySelector('[data-role="preview-status"]')?.textContent.startsWith('Checked'), String(want.length));
    const previewCount = await count.innerText();
    await shot(page, 'tasks');

    await page.getByRole('button', {name: 'Create task…'}).click();
    const dlg = page.getByRole('dialog');
    const confirm = dlg.getByRole('button', {name: `Create and kill ${want.length} sessions`});
    await confirm.waitFor();
    await shot(page, 'tasks-confirm', {full: false});
    await confirm.click();
    const row = page.locator('tbody tr', {has: page.locator('.badge', {hasText: 'Running'})}).first();
    await row.waitFor();
    const taskId = await row.getAttribute('data-key');
    // The task's kill count reaches the preview count.
    for (let i = 0; i < 60; i++) {
      const k = await page.locator(`tr[data-key="${taskId}"] [data-role="kill-count"]`).innerText();
      if (k === previewCount) break;
      await page.waitForTimeout(500);
      await page.locator('.panel', {hasText: 'Tasks'}).getByRole('button', {name: 'Refresh'}).click();
    }
    const kills = await page.locator(`tr[data-key="${taskId}"] [data-role="kill-count"]`).innerText();
    await shot(page, 'tasks-running');

    await page.locator(`tr[data-key="${taskId}"]`).getByRole('button', {name: 'Cancel…'}).click();
    const cancelBtn = page.getByRole('dialog').getByRole('button', {name: 'Cancel 1 task'});
    await cancelBtn.waitFor();
    const cancelTitle = await page.getByRole('dialog').getByRole('heading').innerText();
    await cancelBtn.click();
    await page.locator(`tr[data-key="${taskId}"] .badge`, {hasText: 'Cancelled'}).waitFor();
    await page.setViewportSize(PHONE);
    await page.waitForTimeout(100);
    await shot(page, 'tasks-phone');
    assertClean(page);
    result({previewCount, previewIds, hostError, taskId, kills, cancelTitle});
  },

  // An observe-only task from the form (killgate extension): the confirm
  // says it never kills, the list shows what it recorded; the Go test checks
  // that every session survives. Cancelled at the end.
  async observe(browser) {
    const page = await newPage(browser);
    await signIn(page);
    await page.goto(`${URL_}#/tasks?instance=${INSTANCE}`);
    const want = ids('KG_VICTIMS');
    await page.locator('#task-user').fill(env('KG_USER'));
    await page.locator('#task-killmode').selectOption('QUERY');
    await page.locator('#task-observe').check();
    await page.waitForFunction(n => document.querySelector('[data-role="preview-count"]')?.textContent === n &&
      document.querySelector('[data-role="preview-status"]')?.textContent.startsWith('Checked'), String(want.length));
    await page.getByRole('button', {name: 'Create task…'}).click();
    const dlg = page.getByRole('dialog');
    const confirm = dlg.getByRole('button', {name: 'Create observe-only task'});
    await confirm.waitFor();
    const title = await dlg.getByRole('heading').innerText();
    await confirm.click();
    const row = page.locator('tbody tr', {has: page.locator('.chip', {hasText: 'observe only'})}).first();
    await row.waitFor();
    const taskId = await row.getAttribute('data-key');
    const chips = await row.locator('.chip').allInnerTexts();
    let observed = '';
    for (let i = 0; i < 60; i++) {
      observed = await page.locator(`tr[data-key="${taskId}"] [data-role="kill-count"]`).innerText();
      if (observed === `${want.length} observed`) break;
      await page.waitForTimeout(500);
      await page.locator('.panel', {hasText: 'Tasks'}).getByRole('button', {name: 'Refresh'}).click();
    }
    await shot(page, 'tasks-observe');
    await page.locator(`tr[data-key="${taskId}"]`).getByRole('button', {name: 'Cancel…'}).click();
    await page.getByRole('dialog').getByRole('button', {name: 'Cancel 1 task'}).click();
    await page.locator(`tr[data-key="${taskId}"] .badge`, {hasText: 'Cancelled'}).waitFor();
    assertClean(page);
    result({title, taskId, chips, observed});
  },

  // A Huawei-only user: token sign-in, only the Intelligent kill page, typed ids.
  async huaweiOnly(browser) {
    const page = await newPage(browser);
    await page.goto(URL_);
    await page.getByText('Huawei intelligent kill (optional)').click();
    await page.getByLabel('Token').fill(env('KG_HW_TOKEN'));
    await page.getByRole('button', {name: 'Sign in'}).click();
    await page.getByRole('heading', {name: 'Intelligent kill', exact: true}).waitFor();
    const nav = await page.getByRole('navigation', {name: 'Pages'}).getByRole('link').allInnerTexts();
    await page.getByLabel('Instance id').fill(INSTANCE);
    await page.getByLabel('Node id').fill(INSTANCE);
    await page.getByRole('button', {name: 'Show groups'}).click();
    await page.locator('.panel', {hasText: 'Past intelligent kills'}).locator('table').waitFor();
    // A wrong token: the door's 401 and its code, shown as such.
    page.allowed.push(/status of 401/);
    await page.evaluate(() => {
      const s = JSON.parse(sessionStorage.getItem('kg.session'));
      s.hw.token = 'wrong-token-000';
      sessionStorage.setItem('kg.session', JSON.stringify(s));
    });
    await page.reload();
    await page.getByRole('button', {name: 'Show groups'}).click();
    const alert = page.getByRole('alert').filter({hasText: 'APIGW.0301'}).first();
    await alert.waitFor();
    const wrong = await alert.innerText();
    assertClean(page);
    result({nav, wrong});
  },

  // Intelligent kill: the groups shown are exactly what Execute kills. The
  // Huawei calls are signed in the browser with an AK/SK (SDK-HMAC-SHA256).
  async intelligent(browser) {
    const page = await newPage(browser);
    await signIn(page, {hwAK: env('KG_HW_AK'), hwSK: env('KG_HW_SK')});
    await page.goto(`${URL_}#/intelligent?instance=${INSTANCE}&node=${INSTANCE}`);
    await page.waitForFunction(() => document.querySelectorAll('article.group').length === 3);
    const groups = await page.locator('article.group').evaluateAll(els => els.map(e => ({
      strategy: e.dataset.strategy, ids: e.querySelector('[data-role="ids"]').dataset.ids,
    })));
    const shownIds = groups.flatMap(g => g.ids.split(','));
    await shot(page, 'intelligent');
    await page.getByRole('button', {name: /^Execute: kill \d+ sessions/}).click();
    const dlg = page.getByRole('dialog');
    const confirm = dlg.getByRole('button', {name: `Kill ${shownIds.length} sessions`});
    await confirm.waitFor();
    await shot(page, 'intelligent-confirm', {full: false});
    await confirm.click();
    const res = page.locator('[data-role="results"]').first();
    await res.waitFor();
    const taskId = await res.getAttribute('data-task');
    const outcomes = await res.locator('[data-thread]').evaluateAll(els => els.map(e => [e.dataset.thread, e.dataset.outcome]));
    // Past tasks list it; its results open from the download endpoint.
    const pastBtn = page.locator(`button[data-results="${taskId}"]`);
    await pastBtn.waitFor();
    await pastBtn.click();
    await page.locator('tr.detail [data-role="results"]').waitFor();
    await page.locator('[data-role="results"]').first().scrollIntoViewIfNeeded();
    await shot(page, 'intelligent-result');
    assertClean(page);
    result({groups, shownIds, taskId, outcomes});
  },

  // API explorer: docs example pre-filled, a signed round trip, the request
  // with its signature redacted, snippets without the key, error answers.
  async explorer(browser) {
    const page = await newPage(browser, {permissions: ['clipboard-read', 'clipboard-write']});
    await signIn(page);
    await page.goto(`${URL_}#/explorer?action=DescribeKillTasks`);
    const {examples} = await import('../static/js/examples.js');
    const prefilled = JSON.parse(await page.getByLabel(/^Parameters/).inputValue());
    expect(JSON.stringify(prefilled) === JSON.stringify(examples.DescribeKillTasks), 'not the docs example: ' + JSON.stringify(prefilled));
    await page.getByRole('button', {name: 'Use my instance'}).click();
    await page.waitForFunction(id => JSON.parse(document.getElementById('x-params').value).InstanceId === id, INSTANCE);
    await page.getByRole('button', {name: 'Send', exact: true}).click();
    await page.locator('[data-role="response-ok"]').waitFor();
    const body = await page.locator('[data-role="response-body"]').innerText();
    const sent = await page.locator('[data-role="request-body"]').innerText();
    const auth = await page.locator('[data-header="Authorization"]').innerText();
    const params = await page.getByLabel(/^Parameters/).inputValue();
    await page.getByRole('button', {name: 'Copy docs/tc3curl'}).click();
    const clip = await page.evaluate(() => navigator.clipboard.readText());
    const ctl = await page.locator('[data-snippet="killgatectl"]').innerText();
    const goSnippet = await page.locator('[data-snippet="Go SDK"]').innerText();
    await shot(page, 'explorer');
    const pageText = await page.evaluate(() => document.body.innerText);
    const leaked = pageText.includes(KEY) || clip.includes(KEY);

    // Errors: bad JSON is caught before sending; an unknown parameter is the API's answer.
    await page.getByLabel(/^Parameters/).fill('{"InstanceId": ');
    await page.getByRole('button', {name: 'Send', exact: true}).click();
    const jsonErr = await page.locator('#x-params-err').innerText();
    await page.getByLabel(/^Parameters/).fill(`{"InstanceId":"${INSTANCE}","Bogus":1}`);
    await page.getByRole('button', {name: 'Send', exact: true}).click();
    await page.locator('[data-role="response-error"]').waitFor();
    const apiErr = await page.locator('[data-role="response-error"]').innerText();
    assertClean(page);
    result({prefilled, body, sent, params, auth, clip, ctl, goSnippet, leaked, jsonErr, apiErr});
  },

  // The overview pages once the other scenarios have killed sessions (the
  // screenshots of docs/console.md).
  async tour(browser) {
    const page = await newPage(browser);
    await signIn(page);
    for (const id of ids('KG_INSTANCES')) await page.locator(`section[data-instance="${id}"] [data-role="kills-hour"]`).waitFor();
    const kills = await page.locator(`section[data-instance="${INSTANCE}"] [data-role="kills-hour"]`).innerText();
    await shot(page, 'instances');
    await page.setViewportSize(PHONE);
    await page.waitForTimeout(100);
    await shot(page, 'instances-phone');
    await page.setViewportSize(DESKTOP);
    await page.goto(`${URL_}#/history?instance=${INSTANCE}`);
    await page.locator('svg.chart').waitFor();
    await page.locator('[data-thread]').first().waitFor();
    // Task kills name the filter that matched them.
    const matched = await page.locator('[data-role="matched-filter"]').allInnerTexts();
    await shot(page, 'history');
    await page.setViewportSize(PHONE);
    await page.reload();
    await page.locator('svg.chart').waitFor();
    await page.locator('[data-thread]').first().waitFor();
    await shot(page, 'history-phone');
    assertClean(page);
    result({kills, matched});
  },

  // A rate-limited answer shows its code and message.
  async ratelimit(browser) {
    const page = await newPage(browser);
    await signIn(page);
    await page.goto(`${URL_}#/explorer?action=DescribeKillTasks`);
    const send = page.getByRole('button', {name: 'Send', exact: true});
    let text = '';
    for (let i = 0; i < 5 && !text.includes('RequestLimitExceeded'); i++) {
      await send.click();
      await page.locator('[data-role="response-ok"], [data-role="response-error"]').first().waitFor();
      text = await page.locator('[data-role="response-ok"], [data-role="response-error"]').first().innerText();
    }
    await shot(page, 'rate-limited');
    assertClean(page);
    result({text});
  },
};


const name = process.argv[2];
if (!scenarios[name]) {
  console.error('unknown scenario ' + name + '; one of ' + Object.keys(scenarios).join(', '));
  process.exit(2);
}
const browser = await launch();
try {
  await scenarios[name](browser);
} catch (e) {
  console.error(`scenario ${name} failed: ${e.stack || e}`);
  await failureShots(name);
  process.exitCode = 1;
} finally {
  await browser.close();
}
