#!/usr/bin/env node
// bench/prefill.mjs: projection prefill of ZITADEL's instances, orgs1 and users14 from
// ZITADEL-shaped events (scripts/zitadel-events.mjs), side by side in one run:
// - reference: ZITADEL's loop, one event at a time, an event's statements under one savepoint (never released, as ZITADEL's executeStatement), plain INSERT ... VALUES / UPDATE statements,
//   BulkLimit 1000, one worker (the oracle and the baseline);
// - folded, 1 worker and N workers: zsetup's batches (fold.ts), adaptive batch size.
// Every variant starts from empty projections on the same events; the projections are
// compared by an ordered md5 of every table. Projections run one after another, as ZITADEL
// runs them; instances are shared among the workers.
//
// Options: --events N (default 320000), --instances N (100), --seed N (1), --workers N (4),
// --keep (do not drop the database), --db NAME (reuse a kept database's events). Bars (issue 9): folded 1 worker >= 30x the reference's
// events/s; folded N workers >= 100,000 events/s; identical projections.
import pg from 'pg';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { ROOT, SERVER, admin, arg, load, machine, revision, requireBuild, serverVersion, table } from './lib/common.mjs';

const EVENTS = Number(arg('--events', 320_000));
const INSTANCES = Number(arg('--instances', 100));
const SEED = Number(arg('--seed', 1));
const WORKERS = Number(arg('--workers', 4));
/** --db NAME: an existing database with the events (from a --keep run): no generation, kept at the end. */
const REUSE = arg('--db', undefined);
const KEEP = process.argv.includes('--keep') || REUSE !== undefined;
/** --no-reference: the folded variants only (profiling); no bars. */
const NO_REF = process.argv.includes('--no-reference');

requireBuild();
const { generateEvents, events2Ddl } = await import(join(ROOT, 'scripts/zitadel-events.mjs'));
const { Prefill, STATE_TABLES_DDL, tablesDdl, drain } = await import(join(ROOT, 'dist/plugins/projections/prefill.js'));
const zitadel = await import(join(ROOT, 'dist/plugins/zitadel/projections.js'));
const PROJECTIONS = [zitadel.instances, zitadel.orgs1, zitadel.users14];

const db = REUSE ?? `zs_bench_prefill_${Math.random().toString(16).slice(2, 10)}`;
const url = `${SERVER}/${db}`;
if (!REUSE) await admin(`CREATE DATABASE ${db}`);

/** CPU time of the whole machine (every process: zsetup's and PostgreSQL's), in seconds, from /proc/stat. */
function machineCpu() {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal: busy = all but idle and iowait.
  return (f[0] + f[1] + f[2] + f[5] + f[6] + f[7]) / 100;
}
const pool = new pg.Pool({ connectionString: url, max: WORKERS + 2 });
const session = (c) => ({
  query: async (sql, params) => (await c.query(params ? { text: sql, values: params } : sql)).rows,
  exec: async (sql) => {
    await c.query(sql);
  },
});

async function transaction(fn) {
  const c = await pool.connect();
  try {
    await c.query('BEGIN');
    const r = await fn(session(c));
    await c.query('COMMIT');
    return r;
  } catch (err) {
    await c.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    c.release();
  }
}

/** One projection caught up as the step does it (drain(): `workers` loops over the instances). */
async function prefillOne(projection, { mode, workers, adaptive }) {
  const p = new Prefill(projection, { mode });
  await transaction(async (tx) => {
    await tx.exec(STATE_TABLES_DDL);
    await tx.exec(tablesDdl(projection.tables));
  });
  const bound = await transaction((tx) => p.bound(tx));
  const instances = await transaction((tx) => Prefill.instances(tx, bound));
  const remaining = await transaction((tx) => p.remaining(tx, instances, bound));
  let events = 0;
  const host = { transaction, stopped: () => false, batchDone: (n) => void (events += n) };
  // The reference: ZITADEL's BulkLimit 1000, one unit at a time (drain does not pack units in per-event mode).
  await drain(p, instances, remaining, bound, workers, host, adaptive ? undefined : 1000);
  return events;
}

async function md5s() {
  const out = {};
  for (const p of PROJECTIONS)
    for (const t of p.tables) {
      const key = t.primaryKey.map((k) => `"${k}"`).join(', ');
      const r = await pool.query(`SELECT md5(coalesce(string_agg(x::text, '|' ORDER BY ${key}), '')) AS h, count(*)::int AS n FROM ${t.name} x`);
      out[t.name] = `${r.rows[0].n}:${r.rows[0].h}`;
    }
  return out;
}

async function reset() {
  for (const p of [...PROJECTIONS].reverse()) for (const t of [...p.tables].reverse()) await pool.query(`DROP TABLE IF EXISTS ${t.name} CASCADE`);
  await pool.query('DROP SCHEMA IF EXISTS projections CASCADE');
}

async function variant(name, o) {
  await reset();
  const t0 = performance.now();
  const cpu0 = machineCpu();
  const node0 = process.cpuUsage();
  let events = 0;
  for (const p of PROJECTIONS) events += await prefillOne(p, o);
  const s = (performance.now() - t0) / 1000;
  const cpuUs = ((machineCpu() - cpu0) * 1e6) / events;
  const n = process.cpuUsage(node0);
  const nodeUs = (n.user + n.system) / events;
  return { name, events, s, rate: events / s, cpuUs, nodeUs, md5: await md5s() };
}

try {
  console.log(`prefill: ${machine()}, PostgreSQL ${await serverVersion()}`);
  console.log(`code: ${revision()}`);
  console.log(`database ${db}; at start: ${load()}\n`);
  if (!REUSE) {
    const c = await pool.connect();
    const t0 = performance.now();
    await c.query(events2Ddl());
    const gen = await generateEvents(c, { events: EVENTS, instances: INSTANCES, seed: SEED });
    await c.query('ANALYZE eventstore.events2');
    c.release();
    console.log(`generated ${gen.events} events over ${INSTANCES} instances (seed ${SEED}) in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
  } else console.log(`events of ${db}: ${(await pool.query('SELECT count(*)::int AS n FROM eventstore.events2')).rows[0].n}\n`);

  const results = [];
  if (!NO_REF) results.push(await variant('reference: per event, savepoint per event, BulkLimit 1000, 1 worker', { mode: 'per-event', workers: 1, adaptive: false }));
  results.push(await variant('zsetup folded, 1 worker', { mode: 'folded', workers: 1, adaptive: true }));
  results.push(await variant(`zsetup folded, ${WORKERS} workers`, { mode: 'folded', workers: WORKERS, adaptive: true }));
  if (NO_REF) results.unshift({ name: '(no reference)', events: 0, s: 1, rate: 1, md5: {} });
  const ref = results[0];
  console.log(
    table([
      ['variant', 'events reduced', 'seconds', 'events/s', 'vs reference', 'CPU µs/event: machine', 'of it zsetup (node)'],
      ...results.map((r) => [r.name, String(r.events), r.s.toFixed(2), String(Math.round(r.rate)), `${(r.rate / ref.rate).toFixed(1)}x`, r.cpuUs === undefined ? '' : r.cpuUs.toFixed(1), r.nodeUs === undefined ? '' : r.nodeUs.toFixed(1)]),
    ]),
  );
  const same = results.every((r) => JSON.stringify(r.md5) === JSON.stringify(ref.md5));
  console.log(`\nprojections (rows:md5 per table): ${JSON.stringify(ref.md5)}`);
  console.log(`at end: ${load()}`);
  const bars = [
    [results[1].rate >= 30 * ref.rate, `folded 1 worker >= 30x the reference: ${(results[1].rate / ref.rate).toFixed(1)}x`],
    [results[2].rate >= 100_000, `folded ${WORKERS} workers >= 100,000 events/s: ${Math.round(results[2].rate).toLocaleString('en')}`],
    [same, `identical projections in every variant${same ? '' : `: ${results.map((r) => JSON.stringify(r.md5)).join(' vs ')}`}`],
  ];
  for (const [ok, text] of bars) console.log(`${ok ? 'PASS' : 'FAIL'}  ${text}`);
  process.exitCode = bars.every(([ok]) => ok) ? 0 : 1;
} finally {
  await pool.end();
  if (!KEEP) await admin(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
}
