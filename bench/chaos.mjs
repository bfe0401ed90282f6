#!/usr/bin/env node
// The long chaos run: at least 200 interruptions of real `zsetup apply` processes, of all
// four kinds (SIGTERM, SIGKILL, SIGSTOP until the lease expired, pg_terminate_backend of
// their connections), each followed by `apply` again (sometimes two at once) and nothing
// else. The work: DDL steps, once-only steps, two CREATE INDEX CONCURRENTLY steps, a
// repeatable step and a resumable step writing 1,000,000 rows in batches; when it is done
// the round is verified (every row exactly once, every once-only step once, no step left
// started, no invalid index, a consistent journal, the stopped process fenced off) and the
// database is reset for the next round. The runner is test/chaos/runner.ts; CI runs a
// short version of it (test/chaos/chaos.test.ts).
//
//   node bench/chaos.mjs [--seed N] [--interruptions 200] [--lock lease|advisory]
//                        [--rows 1000000] [--batch 25000] [--ttl 1000] [--quiet] [--keep]
//
// A failure prints its seed: run again with --seed to replay the same schedule.
import { parseArgs } from 'node:util';
import { randomBytes } from 'node:crypto';
import { register } from 'tsx/esm/api';
import { bar, exitCode, load, machine, requireBuild, revision, scratch, writeJson } from './lib/common.mjs';

const { values: o } = parseArgs({
  options: {
    seed: { type: 'string' },
    interruptions: { type: 'string', default: '200' },
    lock: { type: 'string', default: 'lease' },
    rows: { type: 'string', default: '1000000' },
    batch: { type: 'string', default: '25000' },
    ttl: { type: 'string', default: '1000' },
    quiet: { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
  },
});
if (o.lock !== 'lease' && o.lock !== 'advisory') {
  console.error(`--lock: expected lease or advisory, got ${o.lock}`);
  process.exit(2);
}
const seed = o.seed !== undefined ? Number(o.seed) >>> 0 : randomBytes(4).readUInt32BE(0);
const interruptions = Number(o.interruptions);
const rows = Number(o.rows);

requireBuild();
register();
const { runChaos, KINDS } = await import('../test/chaos/runner.ts');

console.log(`chaos bench: ${revision()}; ${machine()}; ${load()}`);
const s = await scratch('chaos');
process.env.TMPDIR = s.tmp; // jiti's transpile cache stays in bench/.work
let report;
try {
  report = await runChaos({
    seed,
    interruptions,
    url: s.url,
    lockKind: o.lock,
    rows,
    batch: Number(o.batch),
    leaseTtlMs: Number(o.ttl),
    dir: s.dir,
    verbose: !o.quiet,
    keepLogs: o.keep,
    timeoutMs: Math.max(30 * 60_000, interruptions * 10_000),
  });
} finally {
  await s.cleanup();
}

const total = Object.values(report.interruptions).reduce((a, b) => a + b, 0);
const file = writeJson(`chaos-${o.lock}.json`, { when: new Date().toISOString(), revision: revision(), machine: machine(), ...report });
console.log(`\n(report: ${file})`);
console.log(`replay: node bench/chaos.mjs --seed ${seed} --interruptions ${interruptions} --lock ${o.lock}${rows !== 1_000_000 ? ` --rows ${rows}` : ''}\n`);
bar(total >= 200 && KINDS.every((k) => report.interruptions[k] > 0), 'at least 200 interruptions of all four kinds', KINDS.map((k) => `${k} ${report.interruptions[k]}`).join(', ') + `; total ${total}`);
const rowFailures = report.failures.filter((f) => /rows:/.test(f));
bar(rowFailures.length === 0 && report.rounds > 0 && report.rowsChecked === report.rounds * rows, '0 rows lost, 0 rows duplicated', `${report.rowsChecked} rows checked exactly once over ${report.rounds} rounds of ${rows}${rowFailures.length ? `; ${rowFailures.length} round(s) wrong` : ''}`);
bar(report.manualActions === 0, '0 manual actions', 'the runner only ever started `apply` (never cleanup, never SQL on zsetup state) between interruptions');
bar(report.failures.length === 0, 'no failure of any check', report.failures.length ? `${report.failures.length} failure(s), seed ${seed}: see above` : `every round verified; every apply ended as expected for what was done to it`);
process.exitCode = exitCode();
