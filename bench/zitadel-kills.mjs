#!/usr/bin/env node
// bench/zitadel-kills.mjs: zitadel.setup.ts on a database pre-filled with ZITADEL-shaped
// events (scripts/zitadel-events.mjs), interrupted during its longest steps: the
// CONCURRENTLY index builds on eventstore.events2 (19, 22, 35, 44) and whatever else runs
// longer than a moment. Each round starts `zsetup apply --no-init-projections`, waits until
// a statement of a step has run for --after ms (pg_stat_activity), then sends SIGKILL or
// SIGTERM (alternating) or terminates its backends; rounds go on until an apply exits 0.
// Then: no INVALID index, the schema equals test/fixtures/zitadel-schema.txt, ZITADEL's
// records say done for every step zsetup ran, and a last apply has nothing to do.
//
// Options: --events N (2000000), --instances N (100), --kills N (6), --after ms (300),
// --keep. Never part of the test run.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { ROOT, SERVER, admin, arg, load, machine, requireBuild, revision } from './lib/common.mjs';

const EVENTS = Number(arg('--events', 2_000_000));
const INSTANCES = Number(arg('--instances', 100));
const KILLS = Number(arg('--kills', 6));
const AFTER_MS = Number(arg('--after', 300));
const KEEP = process.argv.includes('--keep');

requireBuild();
const { generateEvents, events2Ddl } = await import(join(ROOT, 'scripts/zitadel-events.mjs'));
const { describeSchema, diffLines } = await import(join(ROOT, 'scripts/schema.mjs'));
const db = `zs_bench_zkills_${Math.random().toString(16).slice(2, 10)}`;
const url = `${SERVER}/${db}`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function apply() {
  const child = spawn(process.execPath, [join(ROOT, 'dist/cli.js'), 'apply', '--no-init-projections'], {
    cwd: ROOT,
    env: { ...process.env, ZSETUP_DATABASE_URL: url },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const done = new Promise((res) => child.on('exit', (code, signal) => res({ code, signal })));
  return { child, done, out: () => out };
}

const c = new pg.Client({ connectionString: `${SERVER}/postgres` });
try {
  console.log(`zitadel-kills: ${machine()}; ${revision()}; at start: ${load()}`);
  await admin(`CREATE DATABASE ${db}`);
  const d = new pg.Client({ connectionString: url });
  await d.connect();
  const t0 = performance.now();
  await d.query(events2Ddl());
  const gen = await generateEvents(d, { events: EVENTS, instances: INSTANCES, seed: 5 });
  console.log(`${gen.events} events over ${INSTANCES} instances in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
  await c.connect();

  const log = [];
  for (let round = 1; ; round++) {
    const a = apply();
    const how = ['SIGKILL', 'SIGTERM', 'terminate'][(round - 1) % 3];
    let hit;
    if (log.length < KILLS) {
      // The first statement of this apply's connections (made after it started: a build left
      // running by a killed one is not its) that has run for AFTER_MS.
      const since = new Date(Date.now() - 50).toISOString();
      while (a.child.exitCode === null && !hit) {
        const r = await d.query(
          `SELECT pid, left(regexp_replace(query, '\\s+', ' ', 'g'), 70) AS q, (extract(epoch FROM clock_timestamp() - query_start) * 1000)::int AS ms
             FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND state = 'active'
              AND backend_start > $2::timestamptz
              AND query NOT ILIKE '%pg_advisory%' AND clock_timestamp() - query_start > $1 * interval '1 millisecond'
              AND left(regexp_replace(query, '\\s+', ' ', 'g'), 70) <> ALL($3::text[])
            ORDER BY query_start LIMIT 1`,
          // Each round a statement not interrupted before: the kills walk through the long steps.
          [AFTER_MS, since, log.map((l) => l.during)],
        );
        if (r.rows[0]) hit = r.rows[0];
        else await sleep(20);
      }
      if (hit) {
        if (how === 'terminate') await d.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`);
        else a.child.kill(how);
      }
    }
    const end = await a.done;
    if (hit) log.push({ round, how, during: hit.q, ms: hit.ms, exit: end.signal ?? end.code });
    console.log(`round ${round}: ${hit ? `${how} during "${hit.q}" (running ${hit.ms} ms)` : 'left alone'} -> exit ${end.signal ?? end.code}`);
    // SIGTERM: the run stops itself (143); ending by the signal means it did not in time.
    if (hit && how === 'SIGTERM' && end.code !== 143) console.log(`  unexpected: ${a.out().split('\n').slice(-8).join('\n  ')}`);
    if (end.code === 0) break;
    if (round > KILLS + 5) throw new Error(`no apply succeeded after ${round} rounds:\n${a.out()}`);
  }

  const invalid = (await d.query(`SELECT coalesce(string_agg(c.relname, ', '), '') AS s FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE NOT i.indisvalid`)).rows[0].s;
  const want = readFileSync(join(ROOT, 'test/fixtures/zitadel-schema.txt'), 'utf8').split('\n').filter((l) => l.trim() && !l.startsWith('#'));
  const have = await describeSchema(async (sql) => (await d.query(sql)).rows);
  const { onlyA, onlyB } = diffLines(have, want);
  // ZITADEL's records (what its checkExec reads): done for every step zsetup's journal has done
  // and reproduces (it has a ZITADEL record), nothing left started, no migration_started without
  // a done or a start.
  const rec = (
    await d.query(`SELECT count(*) FILTER (WHERE z.t IS DISTINCT FROM 'system.migration.done' AND z.t IS DISTINCT FROM 'system.migration.repeatable.done')::int AS bad,
                          count(*)::int AS n
                     FROM (SELECT DISTINCT ON (payload->>'name') payload->>'name' AS name, event_type AS t FROM eventstore.events2
                            WHERE aggregate_type = 'system' AND event_type LIKE 'system.migration.%' ORDER BY payload->>'name', "position" DESC, in_tx_order DESC) z`)
  ).rows[0];
  const last = apply();
  const lastEnd = await last.done;
  const upToDate = lastEnd.code === 0 && /Everything is up to date/.test(last.out());
  const bars = [
    [log.length >= Math.min(KILLS, 1), `interruptions during the longest steps: ${log.length} (${[...new Set(log.map((l) => l.how))].join(', ')})`],
    [invalid === '', `no INVALID index left${invalid ? `: ${invalid}` : ''}`],
    [onlyA.length + onlyB.length === 0, `schema = ZITADEL's: ${onlyB.length} missing, ${onlyA.length} extra${onlyA.length + onlyB.length ? `\n${[...onlyB.map((l) => `- ${l}`), ...onlyA.map((l) => `+ ${l}`)].join('\n')}` : ''}`],
    [upToDate, `a last apply has nothing to do (exit ${lastEnd.code})`],
    [rec.bad === 0 && rec.n > 0, `ZITADEL's records: ${rec.n} steps, the latest record of each says done (${rec.bad} do not)`],
  ];
  console.log('');
  for (const [ok, text] of bars) console.log(`${ok ? 'PASS' : 'FAIL'}  ${text}`);
  console.log(`at end: ${load()}`);
  process.exitCode = bars.every(([ok]) => ok) ? 0 : 1;
  await d.end();
} finally {
  await c.end().catch(() => undefined);
  if (!KEEP) await admin(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
}
