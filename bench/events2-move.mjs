#!/usr/bin/env node
// bench/events2-move.mjs: ZITADEL's step 14_events_push against zsetup's events2.move, side by
// side in one run, on copies of the same legacy table (scripts/zitadel-legacy-events.mjs).
//
// - ZITADEL's way: its five statements (rename, CREATE TABLE AS, key, NOT NULL, indexes), each
//   timed, as cmd/setup/14/*.sql;
// - zsetup: `zsetup apply` of a config with the events2 plugin's move step (copy in page
//   ranges with checkpoints, key and indexes at once, switch);
// then: the two events2 equal (schema description, and an ordered md5 over all columns).
// Rounds alternate the order. Options: --events N (2000000), --instances N (100), --rounds N
// (2), --keep, --base DB (an existing legacy database to copy, instead of generating one),
// --pods N (1): with 2 or more, each round also runs zsetup as N processes on a third copy: the
// first `zsetup apply`, and once it has saved its first checkpoint (zsetup.checkpoints, polled)
// N - 1 more, which wait for the run lock and join the copy (the step kind's `join`: "joining
// the run of ...", "joined the copy: N pages"); timed until all have exited, every one exit 0,
// its events2 compared too; --lock-timeout D (ZSETUP_LOCK_TIMEOUT for those applies).
// Never part of the test run.
import pg from 'pg';
import { join } from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { ROOT, SERVER, WORK, admin, arg, load, machine, revision, requireBuild, table, median, writeMoveConfig } from './lib/common.mjs';

const EVENTS = Number(arg('--events', 2_000_000));
const INSTANCES = Number(arg('--instances', 100));
const ROUNDS = Number(arg('--rounds', 2));
const KEEP = process.argv.includes('--keep');
/** An existing database with a legacy eventstore.events to copy instead of generating one (kept). */
const BASE = arg('--base', '');
/** zsetup also as this many processes (2: the second joins the first's copy). */
const PODS = Number(arg('--pods', 1));
/** ZSETUP_LOCK_TIMEOUT for the applies of --pods (default: zsetup's own). */
const LOCK_TIMEOUT = arg('--lock-timeout', undefined);

requireBuild();
const { generateLegacyEvents } = await import(join(ROOT, 'scripts/zitadel-legacy-events.mjs'));
const { describeSchema } = await import(join(ROOT, 'scripts/schema.mjs'));
const id = Math.random().toString(16).slice(2, 8);
const base = `zs_bench_mv_${id}`;
const dbs = [base];
const url = (db) => `${SERVER}/${db}`;

const ZITADEL = [
  ['rename', 'ALTER TABLE eventstore.events RENAME TO events_old'],
  ['CREATE TABLE AS', `CREATE TABLE eventstore.events2 (instance_id, aggregate_type, aggregate_id, event_type, "sequence", revision, created_at, payload, creator, "owner", "position", in_tx_order)
    AS SELECT instance_id, aggregate_type, aggregate_id, event_type, event_sequence, substr(aggregate_version, 2)::SMALLINT, creation_date, event_data, editor_user, resource_owner,
              EXTRACT(EPOCH FROM creation_date), event_sequence FROM eventstore.events_old`],
  ['primary key', `BEGIN; ALTER TABLE eventstore.events2 DROP CONSTRAINT IF EXISTS events2_pkey; ALTER TABLE eventstore.events2 ADD PRIMARY KEY (instance_id, aggregate_type, aggregate_id, "sequence"); COMMIT`],
  ['NOT NULL', `ALTER TABLE eventstore.events2 ALTER COLUMN event_type SET NOT NULL, ALTER COLUMN revision SET NOT NULL, ALTER COLUMN created_at SET NOT NULL,
    ALTER COLUMN creator SET NOT NULL, ALTER COLUMN "owner" SET NOT NULL, ALTER COLUMN "position" SET NOT NULL, ALTER COLUMN in_tx_order SET NOT NULL`],
  ['es_active_instances', 'CREATE INDEX IF NOT EXISTS es_active_instances ON eventstore.events2 (created_at DESC, instance_id)'],
  ['es_wm', 'CREATE INDEX IF NOT EXISTS es_wm ON eventstore.events2 (aggregate_id, instance_id, aggregate_type, event_type)'],
  ['es_projection', 'CREATE INDEX IF NOT EXISTS es_projection ON eventstore.events2 (instance_id, aggregate_type, event_type, "position")'],
];

async function zitadelWay(db) {
  const c = new pg.Client({ connectionString: url(db) });
  await c.connect();
  const parts = {};
  const t0 = performance.now();
  for (const [name, sql] of ZITADEL) {
    const t = performance.now();
    await c.query(sql);
    parts[name] = (performance.now() - t) / 1000;
  }
  await c.end();
  return { s: (performance.now() - t0) / 1000, parts };
}

const configDir = () => writeMoveConfig(join(WORK, `mv-${id}`));
/** The step's own phase times ("copied ... in 2.61 s", ...). */
const phasesOf = (out) => out.split('\n').filter((l) => / in \d+\.\d\d s$/.test(l)).map((l) => l.replace(/^.*?(?:14_events_push|events2)[^:]*:\s*/, '').trim());

function zsetupWay(db) {
  const dir = configDir();
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [join(ROOT, 'dist/cli.js'), 'apply'], { cwd: dir, env: { ...process.env, ZSETUP_DATABASE_URL: url(db) }, encoding: 'utf8' });
  const s = (performance.now() - t0) / 1000;
  if (r.status !== 0) throw new Error(`zsetup apply failed:\n${r.stdout}\n${r.stderr}`);
  return { s, phases: phasesOf(r.stdout + r.stderr) };
}

/**
 * zsetup as `n` processes: the first apply, then, once it has saved its first checkpoint of
 * the move (the bound of the copy, which a joiner needs), n - 1 more; timed until all exit.
 */
async function zsetupPods(db, n) {
  const dir = configDir();
  const env = { ...process.env, ZSETUP_DATABASE_URL: url(db), ...(LOCK_TIMEOUT ? { ZSETUP_LOCK_TIMEOUT: LOCK_TIMEOUT } : {}) };
  const start = () => {
    const t = performance.now();
    const child = spawn(process.execPath, [join(ROOT, 'dist/cli.js'), 'apply'], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const p = { child, out: '', startedAt: t - t0 };
    child.stdout.setEncoding('utf8').on('data', (d) => (p.out += d));
    child.stderr.setEncoding('utf8').on('data', (d) => (p.out += d));
    p.done = new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal, at: performance.now() - t0 })));
    return p;
  };
  const t0 = performance.now();
  const procs = [start()];
  // Poll the holder's first checkpoint (its table may not exist yet).
  const c = new pg.Client({ connectionString: url(db) });
  await c.connect();
  let exited = false;
  procs[0].done.then(() => (exited = true));
  let seen = false;
  while (!exited && !seen) {
    const r = await c.query(`SELECT done, total FROM zsetup.checkpoints WHERE step = '14_events_push'`).catch(() => ({ rows: [] }));
    seen = r.rows.length > 0;
    if (!seen) await new Promise((res) => setTimeout(res, 20));
  }
  await c.end();
  for (let i = 1; i < n; i++) procs.push(start());
  const ends = await Promise.all(procs.map((p) => p.done));
  const s = (performance.now() - t0) / 1000;
  const each = procs.map((p, i) => {
    const joined = /joined the copy: (\d+) pages/.exec(p.out);
    return {
      code: ends[i].code ?? ends[i].signal,
      startedS: p.startedAt / 1000,
      exitS: ends[i].at / 1000,
      joining: /joining the run of/.test(p.out),
      joinedPages: joined ? Number(joined[1]) : 0,
      phases: phasesOf(p.out),
      out: p.out,
    };
  });
  if (each.some((e) => e.code !== 0)) throw new Error(`zsetup apply (${n} processes) failed:\n${each.map((e, i) => `--- process ${i + 1}, exit ${e.code}:\n${e.out}`).join('\n')}`);
  const pages = Number((/copied ([\d,]+) pages/.exec(each[0].out)?.[1] ?? '0').replace(/,/g, ''));
  return { s, each, pages };
}

async function fingerprint(db) {
  const c = new pg.Client({ connectionString: url(db) });
  await c.connect();
  const schema = (await describeSchema(async (sql) => (await c.query(sql)).rows)).filter((l) => /eventstore\.events2\b/.test(l)).join('\n');
  const [{ md5, n }] = (
    await c.query(`SELECT md5(string_agg(t::text, E'\\n' ORDER BY instance_id, aggregate_type, aggregate_id, "sequence")) AS md5, count(*) AS n FROM eventstore.events2 t`)
  ).rows;
  await c.end();
  return { schema, md5, n: Number(n) };
}

try {
  console.log(`events2-move: ${machine()}; ${revision()}; at start: ${load()}`);
  let source = base;
  if (BASE) {
    source = BASE;
    const c = new pg.Client({ connectionString: url(BASE) });
    await c.connect();
    const [{ n }] = (await c.query('SELECT count(*)::int AS n FROM eventstore.events')).rows;
    await c.end();
    console.log(`${n} legacy events in ${BASE} (--base: copied, not generated)\n`);
  } else {
    await admin(`CREATE DATABASE ${base}`);
    const c = new pg.Client({ connectionString: url(base) });
    await c.connect();
    const t0 = performance.now();
    const g = await generateLegacyEvents(c, { events: EVENTS, instances: INSTANCES, seed: 7 });
    await c.query('VACUUM ANALYZE eventstore.events');
    await c.end();
    console.log(`${g.events} legacy events over ${INSTANCES} instances in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
  }

  const times = { zitadel: [], zsetup: [], pods: [] };
  const joins = [];
  let parts;
  let same = true;
  for (let round = 1; round <= ROUNDS; round++) {
    const a = `${base}_z${round}`;
    const b = `${base}_s${round}`;
    const m = `${base}_p${round}`;
    const ways = PODS >= 2 ? ['zitadel', 'zsetup', 'pods'] : ['zitadel', 'zsetup'];
    for (const db of PODS >= 2 ? [a, b, m] : [a, b]) {
      await admin(`CREATE DATABASE ${db} TEMPLATE ${source} STRATEGY FILE_COPY`);
      dbs.push(db);
    }
    // Rounds alternate (two ways) or rotate (three) the order.
    const order = ways.length === 2 ? (round % 2 ? ways : [...ways].reverse()) : ways.map((_, k) => ways[(k + round - 1) % ways.length]);
    for (const w of order) {
      // Each way starts with the server's dirty pages written (the copies, the way before).
      await admin('CHECKPOINT');
      if (w === 'zitadel') {
        const r = await zitadelWay(a);
        times.zitadel.push(r.s);
        parts = r.parts;
      } else if (w === 'zsetup') {
        const r = zsetupWay(b);
        times.zsetup.push(r.s);
        console.log(`  zsetup phases: ${r.phases.join('; ')}`);
      } else {
        const r = await zsetupPods(m, PODS);
        times.pods.push(r.s);
        joins.push(r);
        console.log(`  zsetup, ${PODS} processes: ${r.each.map((e, i) => `process ${i + 1} started at ${e.startedS.toFixed(2)} s, exit ${e.code} at ${e.exitS.toFixed(2)} s${i > 0 ? `, ${e.joining ? `joined the copy: ${e.joinedPages} of ${r.pages} pages` : 'did not join'}` : ''}`).join('; ')}`);
        console.log(`  zsetup phases (the holder): ${r.each[0].phases.join('; ')}`);
        for (const [i, e] of r.each.entries()) {
          if (i === 0) continue;
          console.log(`  process ${i + 1}'s output:\n${e.out.trimEnd().split('\n').map((l) => `    | ${l}`).join('\n')}`);
        }
      }
    }
    const fa = await fingerprint(a);
    const fb = await fingerprint(b);
    const fm = PODS >= 2 ? await fingerprint(m) : undefined;
    const same1 = (f) => f.schema === fa.schema && f.md5 === fa.md5 && f.n === fa.n;
    const eq = same1(fb) && (!fm || same1(fm));
    same &&= eq;
    console.log(
      `round ${round} (${order.join(', ')}): ZITADEL ${times.zitadel.at(-1).toFixed(2)} s, zsetup ${times.zsetup.at(-1).toFixed(2)} s${fm ? `, zsetup ${PODS} processes ${times.pods.at(-1).toFixed(2)} s` : ''}; events2 ${eq ? 'identical' : 'DIFFERENT'} (${fa.n} rows, md5 ${fa.md5.slice(0, 12)})`,
    );
    if (!same1(fb)) console.log(`  schema ZITADEL:\n${fa.schema}\n  schema zsetup:\n${fb.schema}`);
    if (fm && !same1(fm)) console.log(`  schema ZITADEL:\n${fa.schema}\n  schema zsetup (${PODS} processes):\n${fm.schema}`);
    if (!KEEP) for (const db of PODS >= 2 ? [a, b, m] : [a, b]) await admin(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
  }
  const mz = median(times.zitadel);
  const ms = median(times.zsetup);
  console.log('');
  const rows = [
    ['variant', 'median s', 'vs ZITADEL'],
    ["ZITADEL's 14_events_push (rename, CTAS, key, NOT NULL, 3 indexes)", mz.toFixed(2), '1.00x'],
    ['zsetup events2.move, 1 process (page ranges + checkpoints, indexes at once, switch)', ms.toFixed(2), `${(ms / mz).toFixed(2)}x`],
  ];
  if (PODS >= 2) {
    const mp = median(times.pods);
    const jp = joins.map((j) => j.each.slice(1).reduce((x, e) => x + e.joinedPages, 0));
    rows.push([`zsetup events2.move, ${PODS} processes (the others join the copy; until all exit)`, mp.toFixed(2), `${(mp / mz).toFixed(2)}x`]);
    console.log(table(rows));
    console.log(`\npages copied by the joining process(es), per round: ${joins.map((j, i) => `${jp[i]} of ${j.pages} (${((100 * jp[i]) / Math.max(j.pages, 1)).toFixed(1)}%)`).join(', ')}`);
  } else console.log(table(rows));
  console.log(`\nZITADEL's parts (last round): ${Object.entries(parts).map(([k, v]) => `${k} ${v.toFixed(2)} s`).join(', ')}`);
  console.log(`\n${ms / mz <= 0.9 ? 'PASS' : 'FAIL'}  zsetup at most 0.9x ZITADEL's time (${(ms / mz).toFixed(2)}x)`);
  console.log(`${same ? 'PASS' : 'FAIL'}  events2 identical (schema and ordered md5 of all columns) in every round${PODS >= 2 ? `, ${PODS} processes included` : ''}`);
  if (PODS >= 2) {
    // zsetupPods throws when one exits non-zero: reaching here means every one exited 0.
    const joinedAll = joins.every((j) => j.each.slice(1).every((e) => e.joinedPages > 0));
    console.log(`PASS  every one of the ${PODS} processes exited 0, in every round`);
    console.log(`${joinedAll ? 'PASS' : 'FAIL'}  the joining process(es) copied pages in every round (${joins.map((j) => j.each.slice(1).map((e) => e.joinedPages).join('+')).join(', ')} pages)`);
  }
  console.log(`at end: ${load()}`);
} finally {
  if (!KEEP) for (const db of dbs) await admin(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`).catch(() => undefined);
  // The generated config's folder (bench/.work/mv-<id>), as the other benches do.
  if (!KEEP) rmSync(join(WORK, `mv-${id}`), { recursive: true, force: true });
}
