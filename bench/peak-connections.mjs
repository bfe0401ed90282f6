#!/usr/bin/env node
// bench/peak-connections.mjs: how many connections `zsetup apply --concurrency 4` opens.
// A config of 40 independent steps (after: []) each running SELECT pg_sleep(0.2), applied
// with pool max 10 and then pool max 3, on a fresh database each run, while a sampler (its
// own connection, to the "postgres" database so it does not count itself) polls
//   SELECT count(*) FROM pg_stat_activity WHERE datname = '<db>'
// every ~20 ms. Peak connections must stay <= pool max + 1 (the advisory lock's own
// connection). The wall time is a sanity check that steps really ran at once:
// ideal = ceil(40 / effective concurrency) * 0.2 s, effective = min(4, pool max - reserve).
//
// Options: --steps N (40), --sleep S (0.2), --concurrency N (4), --repeat N (3 runs per pool size), --keep.
// No hyperfine needed: this measures a resource, not a duration distribution.
import { spawn } from 'node:child_process';
import { join, relative } from 'node:path';
import pg from 'pg';
import {
  ROOT, CLI, SERVER, admin, load, bar, exitCode, machine, revision, median, rel, requireBuild, scratch, serverVersion, table, writeJson, writeZsetupConfig, arg } from './lib/common.mjs';

const STEPS = Number(arg('--steps', 40));
const SLEEP = Number(arg('--sleep', 0.2));
const CONC = Number(arg('--concurrency', 4));
const REPEAT = Number(arg('--repeat', 3));
const POOLS = [10, 3];
const INTERVAL_MS = 20;
/** Sanity bar: the steps phase may take at most this many times the ideal. */
const SLACK = 1.5;

requireBuild();

const s = await scratch('peak-connections');
const rows = [];
const runs = [];
try {
  console.log(`peak-connections: ${machine()}, PostgreSQL ${await serverVersion()}`);
  console.log(`code: ${revision()}`);
  console.log(`database ${s.db}, work dir ${rel(s.dir)}; ${STEPS} independent steps x SELECT pg_sleep(${SLEEP}), --concurrency ${CONC}, ${REPEAT} runs per pool size; ${load()}\n`);
  const steps = Array.from({ length: STEPS }, (_, i) => ({ name: `sleep_${String(i + 1).padStart(2, '0')}`, sql: `SELECT pg_sleep(${SLEEP})`, independent: true }));

  for (const max of POOLS) {
    const config = writeZsetupConfig(join(s.dir, `pool-${max}.config.ts`), steps, `  database: { pool: { max: ${max} } },\n`);
    // The default lock is the advisory lock on a dedicated connection outside the pool,
    // so the engine uses min(concurrency, pool max) (see src/api.ts: reserve only if the lock uses the pool).
    const effective = Math.min(CONC, max);
    const ideal = Math.ceil(STEPS / effective) * SLEEP;
    const peaks = [];
    const walls = [];
    const engine = [];
    for (let r = 1; r <= REPEAT; r++) {
      await admin(`DROP DATABASE IF EXISTS ${s.db} WITH (FORCE)`);
      await admin(`CREATE DATABASE ${s.db}`);
      const res = await applyWithSampler(config);
      if (res.code !== 0) throw new Error(`zsetup apply exited ${res.code}:\n${res.stdout}\n${res.stderr}`);
      if (res.applied !== STEPS) throw new Error(`expected ${STEPS} applied, got ${res.applied}`);
      peaks.push(res.peak);
      walls.push(res.wallS);
      engine.push(res.engineS);
      runs.push({ poolMax: max, run: r, ...res, stdout: undefined, stderr: undefined, samples: res.samples.length });
      console.log(`  pool max ${max}, run ${r}: peak ${res.peak} connections (${res.samples.length} samples), apply ${res.engineS.toFixed(2)} s, process ${res.wallS.toFixed(2)} s`);
    }
    rows.push({ max, effective, ideal, peak: Math.max(...peaks), peaks, wall: median(walls), engine: median(engine) });
  }

  console.log(`\npeak-connections (${STEPS} x pg_sleep(${SLEEP}), after: [], --concurrency ${CONC}; sampled every ${INTERVAL_MS} ms; ${REPEAT} runs each)\n`);
  console.log(
    table([
      ['pool max', 'limit (max+1)', 'peak conns (max of runs)', 'peaks per run', 'effective conc.', 'ideal steps time', 'apply time (median)', 'process wall (median)', 'apply/ideal'],
      ...rows.map((x) => [x.max, x.max + 1, x.peak, x.peaks.join(', '), x.effective, `${x.ideal.toFixed(2)} s`, `${x.engine.toFixed(2)} s`, `${x.wall.toFixed(2)} s`, `${(x.engine / x.ideal).toFixed(2)}x`]),
    ]),
  );
  console.log(`\n(apply time = zsetup's own "run.finished" durationMs: config load, connect, lock, state, steps; process wall adds Node start-up and module loading.)\n`);
  writeJson('peak-connections.json', { date: new Date().toISOString(), machine: machine(), code: revision(), steps: STEPS, sleepS: SLEEP, concurrency: CONC, intervalMs: INTERVAL_MS, summary: rows, runs });
  for (const x of rows) {
    bar(x.peak <= x.max + 1, `pool max ${x.max}: peak connections <= pool max + 1 (${x.max + 1})`, `peak ${x.peak} (runs: ${x.peaks.join(', ')})`);
    bar(
      x.engine <= x.ideal * SLACK,
      `pool max ${x.max}: steps ran concurrently (apply time <= ${SLACK} x ideal ${x.ideal.toFixed(2)} s; serial would be ${(STEPS * SLEEP).toFixed(1)} s)`,
      `${x.engine.toFixed(2)} s (${(x.engine / x.ideal).toFixed(2)}x ideal)`,
    );
  }
} finally {
  await s.cleanup();
}
process.exitCode = exitCode();

/** Runs `zsetup apply --json` while sampling pg_stat_activity; resolves when both are done. */
async function applyWithSampler(config) {
  const sampler = new pg.Client({ connectionString: `${SERVER}/postgres` });
  await sampler.connect();
  const samples = [];
  let stop = false;
  const sampling = (async () => {
    while (!stop) {
      const t = performance.now();
      const r = await sampler.query('SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1', [s.db]);
      samples.push({ t, n: r.rows[0].n });
      const wait = INTERVAL_MS - (performance.now() - t);
      if (wait > 0) await new Promise((res) => setTimeout(res, wait));
    }
  })();
  const t0 = performance.now();
  const child = spawn('node', [CLI, 'apply', '--json', '--concurrency', String(CONC), '--config', relative(ROOT, config)], { cwd: ROOT, env: s.env });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const code = await new Promise((res) => child.on('close', res));
  const wallS = (performance.now() - t0) / 1000;
  // One more sample after exit, then stop.
  await new Promise((res) => setTimeout(res, 2 * INTERVAL_MS));
  stop = true;
  await sampling;
  await sampler.end();
  const events = stdout.trim().split('\n').filter(Boolean).map((l) => { try { return JSON.parse(l); } catch { return {}; } });
  const fin = events.find((e) => e.type === 'run.finished') ?? {};
  return { code, stdout, stderr, wallS, engineS: (fin.durationMs ?? NaN) / 1000, applied: fin.applied, peak: Math.max(0, ...samples.map((x) => x.n)), samples };
}
