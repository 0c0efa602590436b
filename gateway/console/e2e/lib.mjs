// Shared helpers of the console's browser tests: Debian's Chromium driven by
// playwright-core (never a downloaded browser), console-error and CSP
// violation capture, sign-in, screenshots.

import {chromium} from 'playwright-core';
import fs from 'node:fs';
import path from 'node:path';

export const env = name => {
  const v = process.env[name];
  if (v === undefined) throw new Error(`missing env ${name}`);
  return v;
};

export const CHROMIUM = process.env.KILLGATE_CHROMIUM || '/usr/bin/chromium';
export const PHONE = {width: 390, height: 844};
export const DESKTOP = {width: 1280, height: 900};

// launch starts headless Chromium. playwright-core gives every launch a
// fresh, empty profile (its own temporary --user-data-dir).
export async function launch() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
}

// newPage opens a page that records every console error, page error, CSP
// violation and request to another origin in problems.
export async function newPage(browser, {viewport = DESKTOP, clock, permissions} = {}) {
  const context = await browser.newContext({viewport, permissions, deviceScaleFactor: 1});
  const page = await context.newPage();
  openPages.push(page);
  page.problems = [];
  page.allowed = []; // regexps of console errors a scenario provokes on purpose
  const origin = new URL(env('KG_URL')).origin;
  page.on('console', m => {
    if (m.type() === 'error' && !page.allowed.some(re => re.test(m.text()))) page.problems.push('console error: ' + m.text());
  });
  page.on('pageerror', e => page.problems.push('page error: ' + e.message));
  page.on('request', r => {
    const u = r.url();
    if (!u.startsWith(origin + '/') && !u.startsWith('blob:') && !u.startsWith('data:')) page.problems.push('request to another origin: ' + u);
  });
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', e => {
      console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || 'inline'}`);
    });
  });
  if (clock) await clock(page);
  page.setDefaultTimeout(15000);
  return page;
}

const openPages = [];

// failureShots saves every open page as FAIL-<scenario>-<n>.png.
export async function failureShots(scenario) {
  for (const [i, p] of openPages.entries()) {
    try { await shot(p, `FAIL-${scenario}-${i}`); } catch { /* closed */ }
  }
}

export function assertClean(page, what = 'page') {
  if (page.problems.length) throw new Error(`${what}: ${page.problems.join('\n')}`);
}

export async function signIn(page, {id = env('KG_ID'), key = env('KG_KEY'), expectError, hwToken, hwAK, hwSK} = {}) {
  await page.goto(env('KG_URL'));
  await page.getByLabel('SecretId').fill(id);
  await page.getByLabel('SecretKey').fill(key);
  if (hwToken || hwAK) {
    await page.getByText('Huawei intelligent kill (optional)').click();
    if (hwToken) {
      await page.getByLabel('Token').fill(hwToken);
    } else {
      await page.getByLabel('Authentication').selectOption('aksk');
      await page.getByLabel('AK', {exact: true}).fill(hwAK);
      await page.getByLabel('SK', {exact: true}).fill(hwSK);
    }
  }
  await page.getByRole('button', {name: 'Sign in'}).click();
  if (expectError) {
    await page.getByRole('alert').filter({hasText: expectError}).waitFor();
    return;
  }
  await page.getByRole('navigation', {name: 'Pages'}).waitFor();
}

// shot saves a screenshot; full (default: desktop widths) captures the whole page,
// which dialogs should not use (their backdrop covers the viewport only).
export async function shot(page, name, {full} = {}) {
  const dir = process.env.KG_SHOTS;
  if (!dir) return;
  fs.mkdirSync(dir, {recursive: true});
  // Desktop shots show the whole page; phone shots the first screen.
  // Transient toasts are hidden so that they cover nothing.
  await page.evaluate(() => { const t = document.getElementById('toasts'); if (t) t.hidden = true; });
  await page.screenshot({path: path.join(dir, name + '.png'), fullPage: full ?? page.viewportSize().width >= 1000});
  await page.evaluate(() => { const t = document.getElementById('toasts'); if (t) t.hidden = false; });
}

export function expect(cond, msg) {
  if (!cond) throw new Error(msg);
}

export function result(obj) {
  process.stdout.write('RESULT ' + JSON.stringify(obj) + '\n');
}
