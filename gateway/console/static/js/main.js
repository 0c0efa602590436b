// killgate console: sign-in, shell and hash router. Pages live in pages/*.js
// and get a context with the signed-in API clients.

import {TencentClient, listAll} from './api.js';
import {HuaweiClient} from './huawei.js';
import {h, errCode, errMessage, fill} from './view.js';
import {href} from './route.js';
import * as instances from './pages/instances.js';
import * as sessions from './pages/sessions.js';
import * as tasks from './pages/tasks.js';
import * as history from './pages/history.js';
import * as intelligent from './pages/intelligent.js';
import * as explorer from './pages/explorer.js';

const SESSION_KEY = 'kg.session';
const PREFS_KEY = 'kg.prefs';

// Pages in nav order. tencent: needs a Tencent key; huawei: needs Huawei credentials.
const PAGES = [
  {name: 'instances', label: 'Instances', mod: instances, tencent: true},
  {name: 'sessions', label: 'Live sessions', mod: sessions, tencent: true},
  {name: 'tasks', label: 'Kill tasks', mod: tasks, tencent: true},
  {name: 'history', label: 'Kill history', mod: history, tencent: true},
  {name: 'intelligent', label: 'Intelligent kill', mod: intelligent},
  {name: 'explorer', label: 'API explorer', mod: explorer, tencent: true},
];

// --- session: kept in sessionStorage only (this tab, cleared on sign-out) ---

function loadSession() {
  try {
    const s = JSON.parse(sessionStorage.getItem(SESSION_KEY) || 'null');
    return s && (s.secretId || (s.hw && (s.hw.token || s.hw.ak))) ? s : null;
  } catch { return null; }
}

function saveSession(s) { sessionStorage.setItem(SESSION_KEY, JSON.stringify(s)); }

function signOut() {
  sessionStorage.clear();
  state.session = null;
  state.api = state.hw = null;
  state.instanceCache = null;
  location.hash = '#/';
  render();
}

const prefs = {
  all() { try { return JSON.parse(sessionStorage.getItem(PREFS_KEY) || '{}'); } catch { return {}; } },
  get(k, d) { const v = this.all()[k]; return v === undefined ? d : v; },
  set(k, v) { const a = this.all(); a[k] = v; sessionStorage.setItem(PREFS_KEY, JSON.stringify(a)); },
};

const state = {session: null, api: null, hw: null, instanceCache: null, leave: [], firstData: false};

function clients(s) {
  state.session = s;
  state.api = s.secretId ? new TencentClient({secretId: s.secretId, secretKey: s.secretKey}) : null;
  state.hw = s.hw && (s.hw.token || (s.hw.ak && s.hw.sk)) && s.hw.projectId ? new HuaweiClient(s.hw) : null;
}

// instances lists every instance this credential may use (mysql and
// cynosdb), cached for 20 s.
async function loadInstances(force = false) {
  const c = state.instanceCache;
  if (!force && c && Date.now() - c.at < 20000) return c.items;
  const out = [];
  for (const product of ['mysql', 'cynosdb']) {
    const r = await listAll(state.api, 'DescribeDiagDBInstances', {IsSupported: true, Product: product}, 'Items', 10000);
    out.push(...r.items);
  }
  out.sort((a, b) => a.InstanceId.localeCompare(b.InstanceId));
  state.instanceCache = {at: Date.now(), items: out};
  return out;
}

// --- routing -------------------------------------------------------------------

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, '');
  const q = raw.indexOf('?');
  return {name: q < 0 ? raw : raw.slice(0, q), params: new URLSearchParams(q < 0 ? '' : raw.slice(q + 1))};
}


function runLeave() {
  for (const f of state.leave.splice(0)) { try { f(); } catch { /* ignore */ } }
}

function render() {
  runLeave();
  const app = document.getElementById('app');
  if (!state.session) {
    fill(app, signInView());
    document.title = 'Sign in · killgate console';
    const first = app.querySelector('input');
    if (first) first.focus();
    return;
  }
  const allowed = PAGES.filter(p => p.tencent ? state.api : true);
  let {name, params} = parseHash();
  let page = allowed.find(p => p.name === name);
  if (!page) {
    page = allowed[0];
    history_replace(href(page.name));
    params = new URLSearchParams();
  }
  const main = h('main', {id: 'main', tabindex: '-1'});
  const nav = h('nav', {class: 'nav', 'aria-label': 'Pages'}, allowed.map(p =>
    h('a', {href: href(p.name, p.name === page.name ? {} : carry(p)), 'aria-current': p.name === page.name ? 'page' : null}, p.label)));
  const who = state.session.secretId || (state.session.hw && (state.session.hw.ak || 'Huawei token'));
  fill(app, 
    h('a', {class: 'skip', href: '#main', onclick: e => { e.preventDefault(); main.focus(); }}, 'Skip to content'),
    h('header', {class: 'topbar'},
      h('div', {class: 'brand'}, h('img', {src: 'favicon.svg', alt: ''}), 'killgate', h('small', {}, 'console')),
      nav,
      h('div', {class: 'who'}, h('span', {class: 'id', title: 'Signed in as ' + who}, who),
        h('button', {type: 'button', class: 'small', onclick: signOut}, 'Sign out'))),
    main);
  document.title = page.label + ' · killgate console';
  const ctx = {
    root: main, api: state.api, hw: state.hw, session: state.session, params, prefs,
    instances: loadInstances,
    go: (n, p) => { location.hash = href(n, p); },
    setParams: p => history_replace(href(page.name, p)),
    onLeave: f => state.leave.push(f),
    setHuawei: hw => {
      const s = {...state.session, hw};
      saveSession(s);
      clients(s);
      render();
    },
    dataShown: () => {
      if (!state.firstData) { state.firstData = true; performance.mark('kg-first-data'); }
    },
  };
  Promise.resolve(page.mod.render(ctx)).catch(e => {
    main.append(h('div', {class: 'state error', role: 'alert'}, h('span', {class: 'code'}, errCode(e)), ': ', errMessage(e)));
  });
}

// carry keeps the chosen instance when moving between pages.
function carry(p) {
  const inst = prefs.get('instance', '');
  return p.name === 'explorer' || p.name === 'instances' ? {} : {instance: inst};
}

function history_replace(hash) {
  window.history.replaceState(null, '', location.pathname + location.search + hash);
}

// --- sign-in ---------------------------------------------------------------------

function signInView() {
  const project = document.querySelector('meta[name="kg-huawei-project"]')?.content || '';
  const secretId = h('input', {id: 'secret-id', name: 'secret-id', autocomplete: 'username', spellcheck: 'false', autocapitalize: 'off', placeholder: 'AKID…'});
  const secretKey = h('input', {id: 'secret-key', name: 'secret-key', type: 'password', autocomplete: 'current-password'});
  const hwProject = h('input', {id: 'hw-project', spellcheck: 'false', value: project, placeholder: '32 letters or digits'});
  const hwMode = h('select', {id: 'hw-mode'}, h('option', {value: 'token'}, 'X-Auth-Token'), h('option', {value: 'aksk'}, 'AK / SK (SDK-HMAC-SHA256)'));
  const hwToken = h('input', {id: 'hw-token', type: 'password', autocomplete: 'off'});
  const hwAK = h('input', {id: 'hw-ak', spellcheck: 'false', autocomplete: 'off'});
  const hwSK = h('input', {id: 'hw-sk', type: 'password', autocomplete: 'off'});
  const tokenBox = h('div', {}, lbl('Token', hwToken));
  const akBox = h('div', {hidden: true}, lbl('AK', hwAK), h('div', {class: 'spacer'}), lbl('SK', hwSK));
  hwMode.addEventListener('change', () => { tokenBox.hidden = hwMode.value !== 'token'; akBox.hidden = hwMode.value === 'token'; });
  const err = h('div', {class: 'error-box', role: 'alert', hidden: true});
  const submit = h('button', {type: 'submit', class: 'primary'}, 'Sign in');
  const form = h('form', {method: 'post', novalidate: true, autocomplete: 'off'},
    lbl('SecretId', secretId),
    lbl('SecretKey', secretKey),
    h('details', {},
      h('summary', {}, 'Huawei intelligent kill (optional)'),
      h('p', {class: 'fine'}, 'For the Intelligent kill page (Huawei GaussDB door). Sign in with only these to use that page without a Tencent key.'),
      lbl('Project id', hwProject), lbl('Authentication', hwMode), tokenBox, akBox),
    err, submit,
    h('p', {class: 'fine'}, 'Your keys stay in this browser tab (sessionStorage) until you sign out. Every request is signed here and sent to this killgate only.'));
  form.addEventListener('submit', async e => {
    e.preventDefault();
    err.hidden = true;
    const s = {secretId: secretId.value.trim(), secretKey: secretKey.value, hw: null};
    const hwGiven = hwMode.value === 'token' ? hwToken.value !== '' : hwAK.value.trim() !== '' || hwSK.value !== '';
    if (hwGiven) {
      s.hw = {projectId: hwProject.value.trim(), token: hwMode.value === 'token' ? hwToken.value : '', ak: hwMode.value === 'aksk' ? hwAK.value.trim() : '', sk: hwMode.value === 'aksk' ? hwSK.value : ''};
      if (!s.hw.projectId) return showErr('MissingParameter', 'The Huawei project id is needed with a Huawei token or AK/SK.');
      if (hwMode.value === 'aksk' && !(s.hw.ak && s.hw.sk)) return showErr('MissingParameter', 'Give both the Huawei AK and SK.');
    }
    if (!s.secretId && !s.secretKey && !hwGiven) return showErr('MissingParameter', 'Enter a SecretId and SecretKey (or Huawei credentials).');
    if (!s.secretId !== !s.secretKey) return showErr('MissingParameter', 'Enter both the SecretId and the SecretKey.');
    if (s.secretId) {
      // Check the key with a harmless read before keeping it.
      submit.disabled = true;
      submit.textContent = 'Signing in…';
      try {
        await new TencentClient(s).call('DescribeDiagDBInstances', {IsSupported: true, Product: 'mysql', Limit: 1});
      } catch (ex) {
        submit.disabled = false;
        submit.textContent = 'Sign in';
        return showErr(errCode(ex), errMessage(ex));
      }
    }
    saveSession(s);
    clients(s);
    state.instanceCache = null;
    const {name} = parseHash();
    if (!name) history_replace(href(state.api ? 'instances' : 'intelligent'));
    render();
  });
  function showErr(code, msg) {
    fill(err, h('span', {class: 'code'}, code), ': ', msg);
    err.hidden = false;
  }
  return h('div', {class: 'signin-wrap'}, h('div', {class: 'signin'},
    h('div', {class: 'brand'}, h('img', {src: 'favicon.svg', alt: ''}), 'killgate', h('small', {}, 'console')),
    h('p', {class: 'tagline'}, 'Find and stop runaway database sessions.'),
    h('section', {class: 'panel'}, h('div', {class: 'panel-body'}, h('h1', {}, 'Sign in'), h('div', {class: 'spacer'}), form))));
}

function lbl(text, input) {
  return h('div', {class: 'field'}, h('label', {for: input.id}, text), input);
}

// --- boot ---------------------------------------------------------------------------

const saved = loadSession();
if (saved) clients(saved);
window.addEventListener('hashchange', () => {
  // The page's own quiet updates (replaceState) do not fire hashchange.
  render();
});
render();
