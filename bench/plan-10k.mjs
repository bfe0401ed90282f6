#!/usr/bin/env node
// bench/plan-10k.mjs: what 10,000 steps cost `zsetup plan` beyond loading the config.
//
// One config file builds 10,000 SQL steps (a chain declared in reverse order, each step
// `after` the one declared after it: the deepest graph, in the least friendly order) and
// exports all of them, or only the first when ONE=1. Both runs load and evaluate the same
// file (the same transpile, the same 10,000 step() calls), so the difference between them
// is what planning 9,999 more steps costs: validation, graph, state load, plan, output.
// Measured twice: on a fresh database (all `run`) and after `apply` (all `skip`, a journal
// of 20,000 rows to read). The pairs alternate, so a drifting machine moves both.
//
// Options: --pairs N (default 10), --steps N (default 10000), --keep.
// Bar (issue 7): the difference is at most 1 s.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, arg, dbUrl, fmtS, interleaved, load, machine, revision, run, scratch, table, bar, exitCode } from './lib/common.mjs';

const PAIRS = Number(arg('--pairs', 10));
const N = Number(arg('--steps', 10_000));

const s = await scratch('plan-10k');
try {
  console.log(`plan-10k: ${machine()}; code ${revision()}; at start: ${load()}`);
  const file = join(s.dir, 'zsetup.config.ts');
  writeFileSync(
    file,
    `import { defineConfig, step } from 'zsetup';
const N = ${N};
const name = (i: number) => 's' + String(i).padStart(5, '0');
const all = Array.from({ length: N }, (_, i) => step(name(i), { sql: 'SELECT 1', after: i === N - 1 ? [] : [name(i + 1)] }));
// ONE=1: the same file, the same work to load it, one step to plan (the root of the chain).
export default defineConfig({ apply: { concurrency: 1 }, steps: process.env.ONE ? [step(name(N - 1), { sql: 'SELECT 1' })] : all });
`,
  );
  const env = { ...process.env, ZSETUP_DATABASE_URL: dbUrl(s.db), TMPDIR: join(s.dir, 'tmp') };
  const cmds = [
    { name: `plan, ${N} steps`, argv: [process.execPath, CLI, 'plan'] },
    { name: 'plan, 1 step (same file)', argv: ['sh', '-c', `ONE=1 exec ${process.execPath} ${CLI} plan`] },
  ];
  // Warm the transpile cache once, so neither side pays for it.
  run(process.execPath, [CLI, 'plan'], { env, cwd: s.dir });
  const rows = [['state', cmds[0].name, cmds[1].name, 'difference', 'ratio']];
  const diffs = [];
  for (const state of ['fresh database (all run)', 'after apply (all skip)']) {
    if (state.startsWith('after')) {
      const t0 = performance.now();
      const r = run(process.execPath, [CLI, 'apply'], { env, cwd: s.dir });
      if (r.status !== 0) throw new Error(`apply exited ${r.status}: ${r.stderr}`);
      console.log(`apply of ${N} steps: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    }
    const r = interleaved(cmds, PAIRS, { env, cwd: s.dir });
    const diff = r.medians[0] - r.medians[1];
    diffs.push(diff);
    rows.push([state, fmtS(r.medians[0]), fmtS(r.medians[1]), fmtS(diff), r.ratio.toFixed(2)]);
  }
  console.log(`\nmedians of ${PAIRS} interleaved pairs; at end: ${load()}\n`);
  console.log(table(rows));
  console.log('');
  bar(Math.max(...diffs) <= 1, `plan of ${N} steps costs at most 1 s beyond loading the config`, `worst difference ${fmtS(Math.max(...diffs))}`);
} finally {
  await s.cleanup();
}
process.exitCode = exitCode();
