// API explorer: pick an action, edit its JSON parameters (pre-filled with the
// example of docs/actions/<Action>.md), send it signed, see the request
// (signature redacted) and the response, copy the call as docs/tc3curl,
// killgatectl or Go SDK code.

import {examples} from '../examples.js';
import {h, pageHead, panel, select, setFieldError, toast, plural, fill} from '../view.js';

export async function render(ctx) {
  const actions = Object.keys(examples).sort();
  let action = actions.includes(ctx.params.get('action')) ? ctx.params.get('action') : (ctx.prefs.get('explorerAction') || 'DescribeMySqlProcessList');
  if (!actions.includes(action)) action = actions[0];
  const sel = select(actions, action, {id: 'x-action'});
  const text = h('textarea', {id: 'x-params', rows: 10, spellcheck: 'false', 'aria-describedby': 'x-params-err'});
  const err = h('div', {class: 'err', id: 'x-params-err', role: 'alert', hidden: true});
  const send = h('button', {type: 'submit', class: 'primary'}, 'Send');
  const reset = h('button', {type: 'button', onclick: () => { text.value = pretty(examples[action]); update(); }}, 'Reset to the docs example');
  const useInst = h('button', {type: 'button', onclick: useInstance}, 'Use my instance');
  const docRef = h('span', {class: 'faint'});
  const form = h('form', {novalidate: true, class: 'explorer'},
    h('div', {class: 'field'}, h('label', {for: 'x-action'}, 'Action'), sel),
    h('div', {class: 'spacer'}),
    h('div', {class: 'field'}, h('label', {for: 'x-params'}, 'Parameters (JSON, sent byte for byte)'), text, err),
    h('div', {class: 'form-actions'}, send, reset, useInst, docRef));

  const reqBox = h('div', {}, h('p', {class: 'faint'}, 'Send a request to see it here.'));
  const respBox = h('div', {}, h('p', {class: 'faint'}, 'The answer appears here.'));
  const snippets = h('div', {});
  ctx.root.append(pageHead('API explorer', 'Any action, signed in this browser with your key, exactly as the SDKs sign it. Scopes, rate limits and errors are the API\'s own.'));
  ctx.root.append(h('div', {class: 'grid two'},
    h('div', {}, panel('Request', form), panel('Copy as', snippets)),
    h('div', {}, panel('Sent', reqBox), panel('Response', respBox))));

  function load(a) {
    action = a;
    ctx.prefs.set('explorerAction', a);
    ctx.setParams({action: a});
    text.value = pretty(examples[a]);
    docRef.textContent = `Example from docs/actions/${a}.md`;
    update();
  }
  sel.addEventListener('change', () => load(sel.value));
  text.addEventListener('input', update);

  function parsed() {
    try { return {value: JSON.parse(text.value)}; } catch (e) { return {error: e.message}; }
  }

  function update() {
    const p = parsed();
    setFieldError(text, '');
    err.hidden = true;
    const json = p.error ? text.value : JSON.stringify(p.value);
    fill(snippets, 
      snippet('docs/tc3curl', tc3curl(ctx.api.secretId, action, json)),
      snippet('killgatectl', killgatectl(ctx.api.secretId, action, json)),
      snippet('Go SDK', goSDK(action, json)));
  }

  function snippet(title, code) {
    const pre = h('pre', {class: 'code', dataset: {snippet: title}}, code);
    const copy = h('button', {type: 'button', class: 'small', 'aria-label': 'Copy ' + title, onclick: async () => {
      try {
        await navigator.clipboard.writeText(code);
        toast(`Copied the ${title} call`, 'ok');
      } catch {
        getSelection().selectAllChildren(pre);
        toast('Selected: press Ctrl+C to copy');
      }
    }}, 'Copy');
    return h('div', {class: 'snippet'}, h('div', {class: 'row'}, h('h3', {}, title), copy), pre);
  }

  async function useInstance() {
    const p = parsed();
    if (p.error || typeof p.value !== 'object' || !p.value) return;
    try {
      const items = await ctx.instances();
      const want = ctx.prefs.get('instance', '');
      const inst = items.find(i => i.InstanceId === want) || items[0];
      if (!inst) { toast('This key may not use any instance', 'bad'); return; }
      if ('InstanceId' in p.value || examples[action].InstanceId !== undefined) p.value.InstanceId = inst.InstanceId;
      if ('Product' in p.value && p.value.Product !== inst.Product) p.value.Product = inst.Product;
      text.value = pretty(p.value);
      update();
    } catch (e) {
      toast(`${e.code}: ${e.message}`, 'bad');
    }
  }

  form.addEventListener('submit', async e => {
    e.preventDefault();
    const p = parsed();
    if (p.error) {
      setFieldError(text, 'Not valid JSON: ' + p.error);
      return;
    }
    send.disabled = true;
    fill(respBox, h('div', {class: 'state loading'}, h('span', {class: 'spinner'}), 'Sending…'));
    const r = await ctx.api.send(action, text.value);
    send.disabled = false;
    fill(reqBox, 
      h('dl', {class: 'kv'},
        h('dt', {}, 'Method'), h('dd', {}, r.request.method + ' ' + r.request.url),
        Object.entries(r.request.headers).flatMap(([k, v]) => [h('dt', {}, k), h('dd', {dataset: {header: k}}, v)])),
      h('div', {class: 'spacer'}),
      h('h3', {}, 'Body'), h('pre', {class: 'code', dataset: {role: 'request-body'}}, r.request.body));
    let body = r.text;
    try { body = JSON.stringify(JSON.parse(r.text), null, 2); } catch { /* raw */ }
    const head = r.error
      ? h('p', {class: 'notice bad', dataset: {role: 'response-error'}}, h('b', {class: 'mono'}, r.error.code), ': ', r.error.message)
      : h('p', {class: 'notice ok', dataset: {role: 'response-ok'}}, 'OK', r.response.TotalCount !== undefined ? ` · TotalCount ${r.response.TotalCount}` : '');
    fill(respBox, head,
      h('p', {class: 'faint'}, `HTTP ${r.status || '—'} · ${r.ms} ms · ${plural(r.text.length, 'byte')}`),
      h('pre', {class: 'code', dataset: {role: 'response-body'}}, body));
    ctx.dataShown();
  });

  load(action);
}

function pretty(v) { return JSON.stringify(v, null, 2); }

function shq(s) { return "'" + s.replace(/'/g, "'\\''") + "'"; }

function envLines(secretId) {
  return `# Your SecretKey is not copied: set it yourself.\nexport TENCENTCLOUD_SECRET_ID=${shq(secretId)} TENCENTCLOUD_SECRET_KEY='…'\n`;
}

function tc3curl(secretId, action, json) {
  return envLines(secretId) + `docs/tc3curl ${action} ${shq(json)} ${location.host}`;
}

function killgatectl(secretId, action, json) {
  return envLines(secretId) + `bin/killgatectl --endpoint ${location.host} ${action} --cli-input-json ${shq(json)}`;
}

function goSDK(action, json) {
  const lit = json.includes('`') ? JSON.stringify(json) : '`' + json + '`';
  return `cpf := profile.NewClientProfile()
cpf.HttpProfile.Endpoint = "${location.host}" // host:port, no scheme
cpf.HttpProfile.Scheme = "HTTP"
cred := common.NewCredential(os.Getenv("TENCENTCLOUD_SECRET_ID"), os.Getenv("TENCENTCLOUD_SECRET_KEY"))
client := common.NewCommonClient(cred, "ap-guangzhou", cpf)
req := tchttp.NewCommonRequest("dbbrain", "2021-05-27", "${action}")
if err := req.SetActionParameters(${lit}); err != nil {
	log.Fatal(err)
}
resp := tchttp.NewCommonResponse()
if err := client.Send(req, resp); err != nil {
	log.Fatal(err) // *errors.TencentCloudSDKError: GetCode(), GetMessage(), GetRequestId()
}
fmt.Println(string(resp.GetBody()))`;
}
