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
// (2), --keep, --base DB (an existing legacy database to copy, instead of generating one).
// Never part of the test run.
import pg from 'pg';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { writeFileSync, mkdirSync } from 'node:fs';
import { ROOT, SERVER, WORK, admin, arg, load, machine, revision, requireBuild, table, median } from './lib/common.mjs';

const EVENTS = Number(arg('--events', 2_000_000));
const INSTANCES = Number(arg('--instances', 100));
const ROUNDS = Number(arg('--rounds', 2));
const KEEP = process.argv.includes('--keep');
/** An existing database with a legacy eventstore.events to copy instead of generating one (kept). */
const BASE = arg('--base', '');

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

function zsetupWay(db) {
  const dir = join(WORK, `mv-${id}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'zsetup.config.ts'), `import { defineConfig } from 'zsetup';
import { events2, eventsMove } from ${JSON.stringify(join(ROOT, 'plugins/events2/index.js'))};
export default defineConfig({ plugins: [events2()], steps: [eventsMove()] });
`);
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [join(ROOT, 'dist/cli.js'), 'apply'], { cwd: dir, env: { ...process.env, ZSETUP_DATABASE_URL: url(db) }, encoding: 'utf8' });
  const s = (performance.now() - t0) / 1000;
  if (r.status !== 0) throw new Error(`zsetup apply failed:\n${r.stdout}\n${r.stderr}`);
  // The step's own phase times ("copied ... in 2.61 s", ...).
  const phases = (r.stdout + r.stderr).split('\n').filter((l) => / in \d+\.\d\d s$/.test(l)).map((l) => l.replace(/^.*?(?:14_events_push|events2)[^:]*:\s*/, '').trim());
  return { s, phases };
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

  const times = { zitadel: [], zsetup: [] };
  let parts;
  let same = true;
  for (let round = 1; round <= ROUNDS; round++) {
    const a = `${base}_z${round}`;
    const b = `${base}_s${round}`;
    await admin(`CREATE DATABASE ${a} TEMPLATE ${source}`);
    await admin(`CREATE DATABASE ${b} TEMPLATE ${source}`);
    dbs.push(a, b);
    const order = round % 2 ? ['zitadel', 'zsetup'] : ['zsetup', 'zitadel'];
    for (const w of order) {
      if (w === 'zitadel') {
        const r = await zitadelWay(a);
        times.zitadel.push(r.s);
        parts = r.parts;
      } else {
        const r = zsetupWay(b);
        times.zsetup.push(r.s);
        console.log(`  zsetup phases: ${r.phases.join('; ')}`);
      }
    }
    const [fa, fb] = [await fingerprint(a), await fingerprint(b)];
    const eq = fa.schema === fb.schema && fa.md5 === fb.md5 && fa.n === fb.n;
    same &&= eq;
    console.log(`round ${round} (${order.join(' first, ')}): ZITADEL ${times.zitadel.at(-1).toFixed(2)} s, zsetup ${times.zsetup.at(-1).toFixed(2)} s; events2 ${eq ? 'identical' : 'DIFFERENT'} (${fa.n} rows, md5 ${fa.md5.slice(0, 12)})`);
    if (!eq) console.log(`  schema ZITADEL:\n${fa.schema}\n  schema zsetup:\n${fb.schema}`);
    if (!KEEP) {
      await admin(`DROP DATABASE IF EXISTS ${a} WITH (FORCE)`);
      await admin(`DROP DATABASE IF EXISTS ${b} WITH (FORCE)`);
    }
  }
  const mz = median(times.zitadel);
  const ms = median(times.zsetup);
  console.log('');
  console.log(table([
    ['variant', 'median s', 'vs ZITADEL'],
    ["ZITADEL's 14_events_push (rename, CTAS, key, NOT NULL, 3 indexes)", mz.toFixed(2), '1.00x'],
    ['zsetup events2.move (page ranges + checkpoints, indexes at once, switch)', ms.toFixed(2), `${(ms / mz).toFixed(2)}x`],
  ]));
  console.log(`\nZITADEL's parts (last round): ${Object.entries(parts).map(([k, v]) => `${k} ${v.toFixed(2)} s`).join(', ')}`);
  console.log(`\n${ms / mz <= 0.9 ? 'PASS' : 'FAIL'}  zsetup at most 0.9x ZITADEL's time (${(ms / mz).toFixed(2)}x)`);
  console.log(`${same ? 'PASS' : 'FAIL'}  events2 identical (schema and ordered md5 of all columns) in every round`);
  console.log(`at end: ${load()}`);
} finally {
  if (!KEEP) for (const db of dbs) await admin(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`).catch(() => undefined);
}
