// Unit tests of the console's pure modules, run by node's test runner
// (node --test), no browser needed: TC3 signing against the documented
// vectors, Huawei escaping, the SQL template normaliser, CSV cells.

import test from 'node:test';
import assert from 'node:assert/strict';
import {tc3Sign} from '../static/js/api.js';
import {hwEscape, sdkDate} from '../static/js/huawei.js';
import {sqlTemplate} from '../static/js/sqltemplate.js';
import {csvCell, toCSV} from '../static/js/csv.js';

const ID = 'AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE', KEY = 'Gu5t9xGARNpq86cd98joQYCN3EXAMPLE';

test('TC3 signature: the documented vectors', async t => {
  for (const c of [
    {name: 'CVM doc example', host: 'cvm.tencentcloudapi.com', service: 'cvm', contentType: 'application/json; charset=utf-8',
      payload: '{"Limit": 1, "Filters": [{"Values": ["\\u672a\\u547d\\u540d"], "Name": "instance-name"}]}',
      want: '72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168'},
    {name: 'DBbrain on a public host', host: 'dbbrain.tencentcloudapi.com', payload: '{"InstanceId":"cdb-8jawylhf","Product":"mysql","Duration":-1}',
      want: '1f410e18cd7fd4226c50c96ba3e39640fcb2acf243bd7b919d14024968005a68'},
    {name: 'DBbrain on killgate host:port', host: '127.0.0.1:8080', payload: '{"InstanceId":"cdb-8jawylhf","Product":"mysql","Duration":-1}',
      want: '36e057dc788910bed70b299f10bd574dcbb21b19e1e2b8fb97677a4d771e8786'},
  ]) {
    await t.test(c.name, async () => {
      const r = await tc3Sign({secretId: ID, secretKey: KEY, host: c.host, payload: c.payload, timestamp: 1551113065, contentType: c.contentType, service: c.service});
      assert.equal(r.signature, c.want);
      assert.match(r.authorization, new RegExp(`^TC3-HMAC-SHA256 Credential=${ID}/2019-02-25/${c.service || 'dbbrain'}/tc3_request, SignedHeaders=content-type;host, Signature=${c.want}$`));
    });
  }
});

test('Huawei escaping and date', () => {
  assert.equal(hwEscape('a b/c~d_e.f-g'), 'a%20b%2Fc~d_e.f-g');
  assert.equal(hwEscape('é'), '%C3%A9');
  assert.equal(sdkDate(Date.UTC(2024, 4, 1, 8, 9, 10, 123)), '20240501T080910Z');
});

test('SQL templates', async t => {
  const same = [
    ['select * from t where id = 1', 'SELECT * FROM t WHERE id=2', 'select *  from `t` where id = 3 -- note'],
    ["select name from users where email = 'a@b.c'", 'SELECT name FROM users WHERE email = "x\\"y"', "/* app:web */ select name from users where email = N'z'"],
    ['select * from t where id in (1, 2, 3)', 'select * from t where id in (4)', "select * from t where id IN ('a','b')"],
    ['insert into t (a, b) values (1, 2), (3, 4)', 'INSERT INTO t(a,b) VALUES (5,6)'],
    ['select 0x1F, x\'ab\', b\'01\', 1.5e3, -7', 'select 12, \'s\', "q", 3, 4'],
    ["SELECT GET_LOCK('lock-1', 60)", "/* <img src=x onerror=alert(1)> */ SELECT GET_LOCK('lock-2', 61)"],
  ];
  for (const group of same) {
    await t.test(group[0], () => {
      const want = sqlTemplate(group[0]);
      for (const s of group.slice(1)) assert.equal(sqlTemplate(s), want, s);
    });
  }
  assert.equal(sqlTemplate('SELECT * FROM t WHERE id = 1'), 'select * from t where id = ?');
  assert.equal(sqlTemplate("select get_lock('x', 60) as alias"), 'select get_lock(?, ?) as alias');
  assert.equal(sqlTemplate('select * from t1 where c2 in (1,2)'), 'select * from t1 where c2 in(?)');
  assert.equal(sqlTemplate('update t set a = null where b is true'), 'update t set a = ? where b is ?');
  assert.notEqual(sqlTemplate('select a from t'), sqlTemplate('select b from t'));
  assert.equal(sqlTemplate(''), '');
});

test('CSV cells', () => {
  assert.equal(csvCell('plain'), 'plain');
  assert.equal(csvCell('a,b'), '"a,b"');
  assert.equal(csvCell('say "hi"'), '"say ""hi"""');
  assert.equal(csvCell('=SUM(A1)'), "'=SUM(A1)");
  assert.equal(csvCell('-1'), "'-1");
  assert.equal(csvCell(null), '');
  assert.equal(toCSV(['a', 'b'], [[1, 'x\ny']]), 'a,b\r\n1,"x\ny"\r\n');
});
