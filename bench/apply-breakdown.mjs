#!/usr/bin/env node
// bench/apply-breakdown.mjs: the database side of applying N trivial steps, without any
// process start-up, config loading or engine: one pg connection replays the statement
// pattern each tool sends, on a fresh database per pattern and round, rounds alternating
// the order. Shows what the per-step bookkeeping of zsetup costs against knex's batch.
//
//   A  zsetup today: INSERT started (autocommit), then one round trip
//      BEGIN; SET LOCAL lock_timeout; <step>; INSERT done; COMMIT   -> 2 round trips, 2 commits per step
//   B  as A, the started INSERT with synchronous_commit = off       -> 2 round trips, 2 commits (1 not flushed)
//   C  started folded into the step's transaction                   -> 1 round trip, 1 commit per step
//   D  knex migrate:latest: BEGIN; per migration <step> + INSERT knex_migrations; COMMIT
//                                                                    -> 2 round trips per step, 1 commit in all
//
// Options: --steps N (500), --rounds N (4), --keep. No bar: this is for investigation.
import pg from 'pg';
import { admin, machine, revision, median, load, scratch, serverVersion, table, writeJson, arg } from './lib/common.mjs';

const N = Number(arg('--steps', 500));
const ROUNDS = Number(arg('--rounds', 4));

const JOURNAL = `CREATE SCHEMA zs; CREATE TABLE zs.journal (id bigserial PRIMARY KEY, step text NOT NULL, event text NOT NULL, owner text NOT NULL, checksum text, last_run jsonb, at timestamptz NOT NULL DEFAULT now())`;
const ins = (i, ev) => `INSERT INTO zs.journal (step, event, owner, checksum) VALUES ('s${i}', '${ev}', 'host:1234:abcdef', 'f00dfeedf00dfeed')`;
const step = (i) => `CREATE TABLE IF NOT EXISTS t_${i} (id int)`;
const patterns = [
  ['A', 'zsetup today: started autocommit + step tx', '2 / 2', async (c) => {
    for (let i = 0; i < N; i++) {
      await c.query(ins(i, 'started'));
      await c.query(`BEGIN; SET LOCAL lock_timeout = '10000ms'; ${step(i)}; ${ins(i, 'done')}; COMMIT;`);
    }
  }],
  ['B', 'A, started with synchronous_commit = off', '2 / 2', async (c) => {
    for (let i = 0; i < N; i++) {
      await c.query(`BEGIN; SET LOCAL synchronous_commit = off; ${ins(i, 'started')}; COMMIT;`);
      await c.query(`BEGIN; SET LOCAL lock_timeout = '10000ms'; ${step(i)}; ${ins(i, 'done')}; COMMIT;`);
    }
  }],
  ['C', 'started folded into the step tx', '1 / 1', async (c) => {
    for (let i = 0; i < N; i++) await c.query(`BEGIN; SET LOCAL lock_timeout = '10000ms'; ${ins(i, 'started')}; ${step(i)}; ${ins(i, 'done')}; COMMIT;`);
  }],
  ['D', 'knex: one transaction for the whole batch', '2 / 1 in all', async (c) => {
    await c.query('BEGIN');
    for (let i = 0; i < N; i++) {
      await c.query(step(i));
      await c.query(ins(i, 'done'));
    }
    await c.query('COMMIT');
  }],
];

const s = await scratch('apply-breakdown');
try {
  console.log(`apply-breakdown: ${machine()}, PostgreSQL ${await serverVersion()}; ${load()}`);
  console.log(`code: ${revision()}\n`);
  const times = new Map(patterns.map(([id]) => [id, []]));
  for (let r = 0; r < ROUNDS; r++) {
    for (const [id, , , fn] of r % 2 ? [...patterns].reverse() : patterns) {
      await admin(`DROP DATABASE IF EXISTS ${s.db} WITH (FORCE)`);
      await admin(`CREATE DATABASE ${s.db}`);
      const c = new pg.Client({ connectionString: s.url });
      await c.connect();
      await c.query(JOURNAL);
      const t = performance.now();
      await fn(c);
      times.get(id).push(performance.now() - t);
      await c.end();
    }
  }
  const d = median(times.get('D'));
  const rows = patterns.map(([id, what, rt]) => {
    const m = median(times.get(id));
    return [id, what, rt, `${m.toFixed(0)} ms`, `${(m / N).toFixed(2)} ms`, `${(m / d).toFixed(2)}x`];
  });
  console.log(`apply-breakdown (${N} x CREATE TABLE IF NOT EXISTS, database side only, one connection; ${ROUNDS} rounds, medians)\n`);
  console.log(table([['', 'pattern', 'round trips / commits per step', 'total', 'per step', 'vs D (knex)'], ...rows]));
  console.log(`\nat end: ${load()}`);
  writeJson('apply-breakdown.json', { date: new Date().toISOString(), machine: machine(), code: revision(), steps: N, rounds: ROUNDS, medianMs: Object.fromEntries([...times].map(([k, v]) => [k, median(v)])), times: Object.fromEntries(times) });
} finally {
  await s.cleanup();
}
