#!/usr/bin/env node
// bench/apply-500.mjs: applying 500 trivial SQL steps (CREATE TABLE IF NOT EXISTS t_i (id int))
// with `zsetup apply` against `knex migrate:latest` applying the same 500 statements as 500
// migrations. Every timed run starts on a freshly created database (hyperfine --prepare
// drops and re-creates it; not timed). Both commands in ONE hyperfine invocation.
//
// Options: --steps N (default 500), --runs N (default 10), --warmup N (default 1),
// --pairs N (interleaved cross-check, default 6), --keep, --baseline DIR (another checkout,
// built: its dist/cli.js is measured too, in the same runs, as "zsetup apply (baseline)").
// Bars: zsetup apply median <= knex migrate:latest median, and (issue 8) <= 0.65 x it.
import { join, relative } from 'node:path';
import { existsSync, writeFileSync } from 'node:fs';
import pg from 'pg';
import {
  ROOT, CLI, KNEX_CLI, OUT, SERVER, admin, bar, exitCode, fmtS, hyperfine, machine, revision, rel, requireBuild, requireHyperfine, run, scratch, serverVersion, sh, table, writeJson,
  writeKnexMigrations, writeKnexfile, writeZsetupConfig, interleaved, load, robustness, arg, revisionOf } from './lib/common.mjs';

const N = Number(arg('--steps', 500));
const RUNS = Number(arg('--runs', 10));
const WARMUP = Number(arg('--warmup', 1));
const PAIRS = Number(arg('--pairs', 6));
const BAR_RATIO = 0.65;
const BASELINE = arg('--baseline');
const BASELINE_CLI = BASELINE && join(BASELINE, 'dist/cli.js');

const hfVersion = requireHyperfine();
requireBuild();
if (BASELINE_CLI && !existsSync(BASELINE_CLI)) {
  console.log(`MISSING: --baseline ${BASELINE}: no dist/cli.js there (build it first)`);
  process.exit(2);
}

const s = await scratch('apply-500');
try {
  console.log(`apply-500: ${machine()}, PostgreSQL ${await serverVersion()}, ${hfVersion}`);
  console.log(`code: ${revision()}`);
  console.log(`database ${s.db}, work dir ${rel(s.dir)}; at start: ${load()}\n`);

  const stmts = Array.from({ length: N }, (_, i) => ({ name: `t_${i + 1}`, up: `CREATE TABLE IF NOT EXISTS t_${i + 1} (id int)`, down: `DROP TABLE IF EXISTS t_${i + 1}` }));
  const width = String(N).length;
  const config = writeZsetupConfig(
    join(s.dir, 'zsetup.config.ts'),
    stmts.map((m, i) => ({ name: `${String(i + 1).padStart(width, '0')}_${m.name}`, sql: m.up })),
  );
  const migrations = join(s.dir, 'knex-migrations');
  writeKnexMigrations(migrations, stmts);
  const knexfile = writeKnexfile(s.dir, s.url, migrations);

  // The --prepare command: drop and re-create the database (not timed).
  const recreate = join(s.dir, 'recreate-db.mjs');
  writeFileSync(
    recreate,
    `import pg from 'pg';\n` +
      `const c = new pg.Client({ connectionString: ${JSON.stringify(`${SERVER}/postgres`)} });\n` +
      `await c.connect();\nawait c.query('DROP DATABASE IF EXISTS ${s.db} WITH (FORCE)');\nawait c.query('CREATE DATABASE ${s.db}');\nawait c.end();\n`,
  );

  const zCmd = `node ${sh(relative(ROOT, CLI))} apply --config ${sh(relative(ROOT, config))}`;
  const kCmd = `node ${sh(relative(ROOT, KNEX_CLI))} --knexfile ${sh(relative(ROOT, knexfile))} migrate:latest`;
  const bCmd = BASELINE_CLI && `node ${sh(BASELINE_CLI)} apply --config ${sh(relative(ROOT, config))}`;

  // Sanity: each applies all N on a fresh database (and leaves the expected tables). Also
  // counts the transactions each commits (pg_stat_database.xact_commit of the database).
  const commitsOf = async () => Number((await admin(`SELECT xact_commit FROM pg_stat_database WHERE datname = '${s.db}'`)).rows[0]?.xact_commit ?? 0);
  const commits = {};
  for (const [name, cmd] of [['zsetup', zCmd], ['knex', kCmd]]) {
    run('node', [recreate], { env: s.env });
    const before = await commitsOf();
    const r = run('sh', ['-c', cmd], { cwd: ROOT, env: s.env });
    await new Promise((res) => setTimeout(res, 1500)); // backends report their stats when they exit
    commits[name] = (await commitsOf()) - before;
    const c = new pg.Client({ connectionString: s.url });
    await c.connect();
    const tables = Number((await c.query("SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename ~ '^t_[0-9]+$'")).rows[0].count);
    await c.end();
    const last = r.stdout.trim().split('\n').pop();
    console.log(`sanity ${name}: ${tables}/${N} tables created, ${commits[name]} transactions committed (${(commits[name] / N).toFixed(2)} per step); last line: ${last}`);
    if (tables !== N) throw new Error(`${name} created ${tables} of ${N} tables`);
  }
  console.log('');

  const exportJson = join(OUT, 'apply-500.json');
  const hf = hyperfine(
    [
      { name: `zsetup apply (${N} steps)`, cmd: zCmd },
      { name: `knex migrate:latest (${N} migrations)`, cmd: kCmd },
      ...(bCmd ? [{ name: `zsetup apply (${N} steps, baseline)`, cmd: bCmd }] : []),
    ],
    { exportJson, args: ['--prepare', `node ${sh(relative(ROOT, recreate))}`, '--warmup', String(WARMUP), '--runs', String(RUNS)], env: s.env },
  );
  const [z, k] = hf.results;
  if (BASELINE_CLI) console.log(`baseline: ${BASELINE} (${revisionOf(BASELINE)})`);
  console.log(`\napply-500 (${N} x CREATE TABLE IF NOT EXISTS, fresh database per run; ${RUNS} runs, ${WARMUP} warmup)\n`);
  console.log(
    table([
      ['command', 'median', 'mean', 'stddev', 'min', 'max', 'per step (median)', 'ratio vs knex (median)'],
      ...hf.results.map((r) => [r.command, fmtS(r.median), fmtS(r.mean), fmtS(r.stddev), fmtS(r.min), fmtS(r.max), `${((r.median * 1000) / N).toFixed(2)} ms`, `${(r.median / k.median).toFixed(2)}x`]),
    ]),
  );
  console.log(`\nzsetup/knex median ratio: ${(z.median / k.median).toFixed(2)}   (hyperfine JSON: ${rel(exportJson)})\n`);

  // Cross-check (informational, not a bar): alternated pair by pair, fresh database before each.
  const il = interleaved(
    [
      { name: 'zsetup apply', argv: ['sh', '-c', zCmd] },
      { name: 'knex migrate:latest', argv: ['sh', '-c', kCmd] },
      ...(bCmd ? [{ name: 'zsetup apply (baseline)', argv: ['sh', '-c', bCmd] }] : []),
    ],
    PAIRS,
    { env: s.env, prepare: ['node', recreate] },
  );
  console.log(`interleaved cross-check (${PAIRS} alternating pairs, no hyperfine): zsetup apply median ${fmtS(il.medians[0])}, knex migrate:latest median ${fmtS(il.medians[1])}, median of per-pair ratios ${il.ratio.toFixed(2)}\n`);
  if (bCmd) console.log(`  the baseline in the same rounds: median ${fmtS(il.medians[2])}, median of per-round ratios to knex ${il.ratios[2].toFixed(2)}\n`);
  console.log(`at end: ${load()}`);
  robustness(z.median / k.median, il.ratio);
  robustness(z.median / k.median, il.ratio, BAR_RATIO);
  writeJson('apply-500.summary.json', { date: new Date().toISOString(), machine: machine(), code: revision(), steps: N, runs: RUNS, warmup: WARMUP, commits, results: hf.results.map(({ times, exit_codes, ...r }) => r), interleaved: { pairs: PAIRS, medians: il.medians, ratio: il.ratio, ratios: il.ratios }, baseline: bCmd ? { dir: BASELINE, code: revisionOf(BASELINE) } : undefined, loadAtEnd: load() });
  bar(z.median <= k.median, 'zsetup apply no slower than knex migrate:latest (median)', `${fmtS(z.median)} vs ${fmtS(k.median)} (ratio ${(z.median / k.median).toFixed(2)})`);
  bar(z.median <= BAR_RATIO * k.median, `zsetup apply median <= ${BAR_RATIO.toFixed(2)} x knex migrate:latest median`, `ratio ${(z.median / k.median).toFixed(2)}`);
} finally {
  await s.cleanup();
}
process.exitCode = exitCode();
