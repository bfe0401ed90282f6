#!/usr/bin/env node
// bench/plan-speed.mjs: `zsetup plan` (whole process) on an applied project, where the plan
// is all-skip, against `knex migrate:status` on the same number of applied migrations.
// Both commands run in ONE hyperfine invocation, then alternate pair by pair in an
// interleaved cross-check (hyperfine runs all of A, then all of B).
//
// Config: the project's zitadel.setup.ts when it exists; else a generated 25-step config
// (said in the output). Options: --config PATH (another config), --generated (force the
// generated one), --runs N (default 30), --warmup N (default 3), --pairs N (interleaved
// cross-check, default 20), --keep (leave bench/.work), --baseline DIR (another checkout,
// built: its dist/cli.js is measured too, in the same runs, as "zsetup plan (baseline)").
//
// Bars: zsetup plan median <= 0.300 s, zsetup plan median <= knex migrate:status median, and
// (issue 8) zsetup plan median <= 0.70 x knex migrate:status median.
import { existsSync } from 'node:fs';
import { join, relative } from 'node:path';
import {
  ROOT, CLI, KNEX_CLI, OUT, bar, exitCode, fmtS, hyperfine, machine, revision, rel, requireBuild, requireHyperfine, run, scratch, serverVersion, sh, table, writeJson,
  writeKnexMigrations, writeKnexfile, writeZsetupConfig, generatedSteps, interleaved, load, robustness, arg, revisionOf } from './lib/common.mjs';

const RUNS = Number(arg('--runs', 30));
const WARMUP = Number(arg('--warmup', 3));
const PAIRS = Number(arg('--pairs', 20));
const BAR_S = 0.3;
const BAR_RATIO = 0.7;
const BASELINE = arg('--baseline');
const BASELINE_CLI = BASELINE && join(BASELINE, 'dist/cli.js');
const FALLBACK_STEPS = 25;

const hfVersion = requireHyperfine();
requireBuild();
if (BASELINE_CLI && !existsSync(BASELINE_CLI)) {
  console.log(`MISSING: --baseline ${BASELINE}: no dist/cli.js there (build it first)`);
  process.exit(2);
}

const s = await scratch('plan-speed');
try {
  console.log(`plan-speed: ${machine()}, PostgreSQL ${await serverVersion()}, ${hfVersion}`);
  console.log(`code: ${revision()}`);
  console.log(`database ${s.db}, work dir ${rel(s.dir)}; at start: ${load()}\n`);

  // 1. The zsetup config: the real one, or a generated stand-in.
  let configFile = arg('--config');
  let source;
  if (!configFile && !process.argv.includes('--generated') && existsSync(join(ROOT, 'zitadel.setup.ts'))) configFile = join(ROOT, 'zitadel.setup.ts');
  if (configFile) {
    configFile = join(process.cwd(), relative(process.cwd(), configFile));
    source = rel(configFile);
  } else {
    configFile = join(s.dir, 'zsetup.config.ts');
    writeZsetupConfig(configFile, generatedSteps(FALLBACK_STEPS));
    source = `GENERATED ${FALLBACK_STEPS}-step config (zitadel.setup.ts does not exist yet)`;
    console.log(`NOTE: zitadel.setup.ts not found in ${ROOT}: falling back to a generated ${FALLBACK_STEPS}-step config.\n`);
  }
  const cfgArg = relative(ROOT, configFile);
  const zsetup = (cmd, extra = []) => run('node', [CLI, cmd, '--config', cfgArg, ...extra], { cwd: ROOT, env: s.env });

  // 2. Apply once, then make sure the plan is all-skip.
  zsetup('apply'); // run() throws on a non-zero exit
  const planJson = zsetup('plan', ['--json']).stdout.trim().split('\n').map((l) => JSON.parse(l)).filter((e) => e.step !== undefined);
  const n = planJson.length;
  const notSkip = planJson.filter((e) => e.action !== 'skip');
  console.log(`zsetup: ${source}: ${n} steps, applied; plan: ${n - notSkip.length} skip${notSkip.length ? `, ${notSkip.length} NOT skip (${notSkip.map((e) => `${e.step}:${e.action}`).join(', ')})` : ''}`);

  // 3. knex: the same number of migrations, all applied.
  const migrations = join(s.dir, 'knex-migrations');
  writeKnexMigrations(
    migrations,
    Array.from({ length: n }, (_, i) => ({ name: `k${i + 1}`, up: `CREATE TABLE IF NOT EXISTS k_${i + 1} (id int)`, down: `DROP TABLE IF EXISTS k_${i + 1}` })),
  );
  const knexfile = writeKnexfile(s.dir, s.url, migrations);
  const knexArgs = ['--knexfile', relative(ROOT, knexfile)];
  run('node', [KNEX_CLI, ...knexArgs, 'migrate:latest'], { cwd: ROOT, env: s.env });
  const st = run('node', [KNEX_CLI, ...knexArgs, 'migrate:status'], { cwd: ROOT, env: s.env });
  console.log(`knex: ${n} migrations in ${rel(migrations)}, applied; migrate:status says: ${st.stdout.trim().split('\n').filter((l) => /completed|pending/i.test(l)).join(' / ')}\n`);

  // 4. One hyperfine run, both commands (plus bare node as a reference floor).
  const exportJson = join(OUT, 'plan-speed.json');
  const commands = [
    { name: 'zsetup plan', cmd: `node ${sh(relative(ROOT, CLI))} plan --config ${sh(cfgArg)}` },
    { name: 'knex migrate:status', cmd: `node ${sh(relative(ROOT, KNEX_CLI))} --knexfile ${sh(relative(ROOT, knexfile))} migrate:status` },
    { name: 'node -e 0 (reference)', cmd: `node -e 0` },
    ...(BASELINE_CLI ? [{ name: 'zsetup plan (baseline)', cmd: `node ${sh(BASELINE_CLI)} plan --config ${sh(cfgArg)}` }] : []),
  ];
  const hf = hyperfine(commands, { exportJson, args: ['--warmup', String(WARMUP), '--runs', String(RUNS)], env: s.env });
  const by = Object.fromEntries(hf.results.map((r) => [r.command, r]));
  const z = by['zsetup plan'];
  const k = by['knex migrate:status'];

  if (BASELINE_CLI) console.log(`baseline: ${BASELINE} (${revisionOf(BASELINE)})`);
  console.log(`\nplan-speed (${n} steps/migrations, all applied; ${RUNS} runs, ${WARMUP} warmup; zsetup config: ${source})\n`);
  console.log(
    table([
      ['command', 'median', 'mean', 'stddev', 'min', 'max', 'ratio vs knex (median)'],
      ...hf.results.map((r) => [r.command, fmtS(r.median), fmtS(r.mean), fmtS(r.stddev), fmtS(r.min), fmtS(r.max), `${(r.median / k.median).toFixed(2)}x`]),
    ]),
  );
  console.log(`\nzsetup/knex median ratio: ${(z.median / k.median).toFixed(2)}   (hyperfine JSON: ${rel(exportJson)})\n`);

  // Cross-check (informational, not a bar): the same two commands alternated pair by pair.
  const il = interleaved(
    [
      { name: 'zsetup plan', argv: ['node', relative(ROOT, CLI), 'plan', '--config', cfgArg] },
      { name: 'knex migrate:status', argv: ['node', relative(ROOT, KNEX_CLI), '--knexfile', relative(ROOT, knexfile), 'migrate:status'] },
      ...(BASELINE_CLI ? [{ name: 'zsetup plan (baseline)', argv: ['node', BASELINE_CLI, 'plan', '--config', cfgArg] }] : []),
    ],
    PAIRS,
    { env: s.env },
  );
  console.log(`interleaved cross-check (${PAIRS} alternating pairs, no hyperfine): zsetup plan median ${fmtS(il.medians[0])}, knex migrate:status median ${fmtS(il.medians[1])}, median of per-pair ratios ${il.ratio.toFixed(2)}\n`);
  if (BASELINE_CLI) console.log(`  the baseline in the same rounds: median ${fmtS(il.medians[2])}, median of per-round ratios to knex ${il.ratios[2].toFixed(2)}\n`);
  writeJson('plan-speed.summary.json', { date: new Date().toISOString(), machine: machine(), code: revision(), steps: n, config: source, runs: RUNS, warmup: WARMUP, results: hf.results.map(({ times, exit_codes, ...r }) => r), interleaved: { pairs: PAIRS, medians: il.medians, ratio: il.ratio, ratios: il.ratios }, baseline: BASELINE_CLI ? { dir: BASELINE, code: revisionOf(BASELINE) } : undefined, loadAtEnd: load() });

  console.log(`at end: ${load()}`);
  robustness(z.median / k.median, il.ratio);
  robustness(z.median / k.median, il.ratio, BAR_RATIO);
  if (notSkip.length) console.log(`WARNING: the plan was not all-skip (${notSkip.length} steps would run): the figure includes that work.`);
  bar(z.median <= BAR_S, `zsetup plan median <= ${BAR_S.toFixed(3)} s`, `${fmtS(z.median)}`);
  bar(z.median <= k.median, 'zsetup plan no slower than knex migrate:status (median)', `${fmtS(z.median)} vs ${fmtS(k.median)} (ratio ${(z.median / k.median).toFixed(2)})`);
  bar(z.median <= BAR_RATIO * k.median, `zsetup plan median <= ${BAR_RATIO.toFixed(2)} x knex migrate:status median`, `ratio ${(z.median / k.median).toFixed(2)}`);
} finally {
  await s.cleanup();
}
process.exitCode = exitCode();
