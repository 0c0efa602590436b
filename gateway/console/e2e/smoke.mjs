import {launch, newPage, signIn, shot, assertClean} from './lib.mjs';
const b = await launch();
const p = await newPage(b);
await signIn(p);
await p.waitForTimeout(1500);
await shot(p, process.argv[2] || 'smoke');
for (const hash of (process.argv[3] || '').split(',').filter(Boolean)) {
  await p.goto(process.env.KG_URL + '#/' + hash);
  await p.waitForTimeout(2000);
  await shot(p, hash.replace(/[^a-z]/g, ''));
}
console.log(p.problems);
await b.close();
