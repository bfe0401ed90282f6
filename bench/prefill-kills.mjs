#!/usr/bin/env node
// bench/prefill-kills.mjs: SIGTERM and SIGKILL (every third) at random moments of the prefill of
// zitadel.setup.ts's projections, on ZITADEL-shaped events: SIGTERM -> exit latency, and the
// final projections after all kills against an uninterrupted run (ordered md5 per table).
// Usage: node bench/prefill-kills.mjs [events=200000] [kills=8]. Needs npm run build.
import pg from 'pg';
import { join } from 'node:path';
const ROOT = new URL('..', import.meta.url).pathname;
import { spawn } from 'node:child_process';
const { generateEvents, events2Ddl } = await import(join(ROOT, 'scripts/zitadel-events.mjs'));
const SERVER = (process.env.ZS_BENCH_PG ?? 'postgres://root@127.0.0.1:5432').replace(/\/+$/, '');
const admin = async (sql) => { const c = new pg.Client({ connectionString: SERVER + '/postgres' }); await c.connect(); await c.query(sql); await c.end(); };
const N = Number(process.argv[2] ?? 200000), KILLS = Number(process.argv[3] ?? 8);
async function prepare(db) {
  await admin(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`); await admin(`CREATE DATABASE ${db}`);
  const c = new pg.Client({ connectionString: `${SERVER}/${db}` }); await c.connect();
  await c.query(events2Ddl()); await generateEvents(c, { events: N, instances: 40, seed: 7 }); await c.end();
}
function apply(db) {
  const child = spawn(process.execPath, [join(ROOT, 'dist/cli.js'), 'apply', '--config', join(ROOT, 'zitadel.setup.ts')], { env: { ...process.env, ZSETUP_DATABASE_URL: `${SERVER}/${db}` }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = ''; child.stdout.on('data', (d) => (out += d)); child.stderr.on('data', (d) => (out += d));
  const done = new Promise((r) => child.on('exit', (code, sig) => r({ code, sig, out, at: performance.now() })));
  return { child, done, out: () => out };
}
async function md5(db) {
  const c = new pg.Client({ connectionString: `${SERVER}/${db}` }); await c.connect();
  const out = [];
  for (const t of ['instances', 'orgs1', 'users14', 'users14_humans', 'users14_machines', 'users14_notifications']) {
    const r = await c.query(`SELECT count(*)::int n, md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) h FROM projections.${t} x`);
    out.push(`${t}:${r.rows[0].n}:${r.rows[0].h.slice(0, 8)}`);
  }
  await c.end(); return out.join(' ');
}
await prepare('zs_kill_ref');
const ref = apply('zs_kill_ref'); const rr = await ref.done; if (rr.code !== 0) { console.log(rr.out); process.exit(1); }
const expected = await md5('zs_kill_ref');
console.log('uninterrupted:', expected);
await prepare('zs_kill');
const lat = [];
for (let k = 0; k < KILLS; k++) {
  const a = apply('zs_kill');
  // wait until a prefill step reports progress, then a random moment more
  while (!/… projections\.(users14|orgs1)/.test(a.out()) && a.child.exitCode === null) await new Promise((r) => setTimeout(r, 20));
  await new Promise((r) => setTimeout(r, Math.random() * 1500));
  if (a.child.exitCode !== null) { console.log('finished before the kill'); break; }
  const sig = k % 3 === 2 ? 'SIGKILL' : 'SIGTERM';
  const t = performance.now(); a.child.kill(sig); const r = await a.done;
  if (sig === 'SIGTERM') lat.push(r.at - t);
  console.log(`kill ${k + 1}: ${sig} -> exit ${r.code ?? r.sig} in ${(r.at - t).toFixed(0)} ms`);
}
const fin = apply('zs_kill'); const rf = await fin.done; console.log('final apply exit', rf.code);
const got = await md5('zs_kill');
console.log('after kills:  ', got, got === expected ? 'IDENTICAL' : 'DIFFERENT');
lat.sort((a, b) => a - b); console.log('SIGTERM -> exit ms:', lat.map((x) => x.toFixed(0)).join(' '), 'median', lat[lat.length >> 1]?.toFixed(0));
await admin('DROP DATABASE IF EXISTS zs_kill_ref WITH (FORCE)'); await admin('DROP DATABASE IF EXISTS zs_kill WITH (FORCE)');
