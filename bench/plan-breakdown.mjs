#!/usr/bin/env node
// bench/plan-breakdown.mjs: where the time of `zsetup plan` goes, phase by phase.
// Runs bench/lib/plan-phases.mjs (the same work as `zsetup plan`, with a timestamp after
// each phase) in N fresh processes on an applied project and prints the median of each
// phase. Import phases are incremental: a module shared by two phases counts in the
// first. Interleaved with whole `zsetup plan` processes for the total.
//
// Options: --config PATH (default: zitadel.setup.ts if present, else the generated 25-step
// config), --generated, --runs N (default 21), --keep. No bar: this is for investigation.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync } from 'node:fs';
import { join, relative } from 'node:path';
import { ROOT, CLI, BENCH, KNEX_CLI, writeKnexMigrations, writeKnexfile, generatedSteps, machine, revision, median, rel, requireBuild, run, scratch, serverVersion, table, writeJson, writeZsetupConfig, arg } from './lib/common.mjs';

const RUNS = Number(arg('--runs', 21));

requireBuild();
const s = await scratch('plan-breakdown');
try {
  console.log(`plan-breakdown: ${machine()}, PostgreSQL ${await serverVersion()}; database ${s.db}`);
  console.log(`code: ${revision()}\n`);
  let configFile = arg('--config');
  if (!configFile && !process.argv.includes('--generated') && existsSync(join(ROOT, 'zitadel.setup.ts'))) configFile = join(ROOT, 'zitadel.setup.ts');
  let source;
  if (configFile) {
    configFile = join(process.cwd(), relative(process.cwd(), configFile));
    source = rel(configFile);
  } else {
    configFile = writeZsetupConfig(join(s.dir, 'zsetup.config.ts'), generatedSteps(25));
    source = 'GENERATED 25-step config (zitadel.setup.ts does not exist yet)';
  }
  const cfgArg = relative(ROOT, configFile);
  run('node', [CLI, 'apply', '--config', cfgArg], { cwd: ROOT, env: s.env });

  const phases = new Map();
  const whole = [];
  const childTotal = [];
  for (let i = 0; i < RUNS; i++) {
    let t = performance.now();
    const r = spawnSync('node', [join(BENCH, 'lib/plan-phases.mjs'), cfgArg], { cwd: ROOT, env: s.env, encoding: 'utf8' });
    childTotal.push(performance.now() - t);
    if (r.status !== 0) throw new Error(`plan-phases failed:\n${r.stdout}${r.stderr}`);
    for (const [k, v] of Object.entries(JSON.parse(r.stdout))) phases.set(k, [...(phases.get(k) ?? []), v]);
    t = performance.now();
    const z = spawnSync('node', [CLI, 'plan', '--config', cfgArg], { cwd: ROOT, env: s.env, stdio: 'ignore' });
    whole.push(performance.now() - t);
    if (z.status !== 0) throw new Error(`zsetup plan exited ${z.status}`);
  }
  const rows = [...phases].map(([k, v]) => [k, median(v)]);
  const sum = rows.reduce((a, [, v]) => a + v, 0);
  const exitMs = median(childTotal) - sum;
  rows.push(['process exit and spawn overhead (child wall - sum of phases)', exitMs]);
  const total = median(childTotal);
  console.log(`plan-breakdown (${source}; ${RUNS} runs, medians)\n`);
  console.log(table([['phase', 'median', 'share'], ...rows.map(([k, v]) => [k, `${v.toFixed(1)} ms`, `${((100 * v) / total).toFixed(0)}%`]), ['instrumented process, total (median wall)', `${total.toFixed(1)} ms`, '100%']]));
  console.log(`\nwhole \`zsetup plan\` process (median wall, interleaved with the above): ${median(whole).toFixed(1)} ms\n`);

  // The TypeScript loader's share: one generated config as .ts (jiti) and, byte for byte the
  // same file, as .mjs (cosmiconfig imports it natively; it is valid JavaScript), against
  // knex migrate:status on as many migrations; the three alternate round by round.
  const sub = join(s.dir, 'loader');
  const ts = writeZsetupConfig(join(sub, 'zsetup.config.ts'), generatedSteps(25).map((x) => ({ ...x, name: `l_${x.name}` })));
  const mjs = join(sub, 'zsetup.config.mjs');
  copyFileSync(ts, mjs);
  run('node', [CLI, 'apply', '--config', relative(ROOT, ts)], { cwd: ROOT, env: s.env });
  writeKnexMigrations(join(sub, 'mig'), Array.from({ length: 25 }, (_, i) => ({ name: `l${i}`, up: `CREATE TABLE IF NOT EXISTS l_${i} (id int)` })));
  const knexfile = writeKnexfile(sub, s.url, join(sub, 'mig'));
  run('node', [KNEX_CLI, '--knexfile', knexfile, 'migrate:latest'], { cwd: ROOT, env: s.env });
  const variants = [
    ['knex migrate:status (25 migrations)', ['node', KNEX_CLI, '--knexfile', knexfile, 'migrate:status']],
    ['zsetup plan, 25-step config as .ts (jiti)', ['node', CLI, 'plan', '--config', relative(ROOT, ts)]],
    ['zsetup plan, the same file as .mjs (no jiti)', ['node', CLI, 'plan', '--config', relative(ROOT, mjs)]],
    ['zsetup --version (static imports only)', ['node', CLI, '--version']],
    ['node -e 0', ['node', '-e', '0']],
  ];
  const lt = variants.map(() => []);
  for (let r = 0; r < RUNS; r++) {
    const order = r % 2 ? [...variants.keys()].reverse() : [...variants.keys()];
    for (const i of order) {
      const t = performance.now();
      const x = spawnSync(variants[i][1][0], variants[i][1].slice(1), { cwd: ROOT, env: s.env, stdio: 'ignore' });
      lt[i].push(performance.now() - t);
      if (x.status !== 0) throw new Error(`${variants[i][0]} exited ${x.status}`);
    }
  }
  const loaderRows = variants.map(([name], i) => [name, `${median(lt[i]).toFixed(1)} ms`, `${median(lt[i].map((v, j) => v / lt[0][j])).toFixed(2)}x`]);
  console.log(`loader cost (${RUNS} rounds, alternating; medians; ratio = median of per-round ratios to knex)\n`);
  console.log(table([['command', 'median', 'vs knex'], ...loaderRows]));
  console.log('');
  writeJson('plan-breakdown.json', { date: new Date().toISOString(), machine: machine(), code: revision(), config: source, runs: RUNS, phasesMs: Object.fromEntries(rows), instrumentedTotalMs: total, zsetupPlanMs: median(whole), loader: Object.fromEntries(loaderRows.map(([n, m, r]) => [n, { median: m, vsKnex: r }])) });
} finally {
  await s.cleanup();
}
