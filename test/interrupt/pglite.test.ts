/**
 * The same interruptions on the embedded PGlite (no URL; the data dir in a scratch
 * folder): SIGTERM stops the resumable step at its next checkpoint with exit 143; after a
 * SIGKILL the next apply takes over the dead process's lock file, records the step
 * `interrupted` ("recovered") and resumes it, with no manual action. Rows are checked by
 * a step that runs after the fill and logs what the table holds. (A holder killed but not
 * reaped yet, a zombie, holds nothing: test/contract/lock.test.ts, on the lock itself.)
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { cli, pgliteDataDir, scratch, startCli, HEADER } from '../helpers.js';
import { CONFIG, fillConfig, killTimed, ownerRe, waitFor } from './util.js';

type Scratch = ReturnType<typeof scratch>;
interface Ctx {
  dirs: Scratch[];
}

const t = suite<Ctx>('interrupt: PGlite');
t.before((ctx) => {
  ctx.dirs = [];
});
t.after((ctx) => {
  for (const d of ctx.dirs) d.remove();
});

// 20 batches of 1,000 rows; the interruptions come while the sixth waits at the gate.
const TOTAL = 20_000;
const BATCH = 1_000;
const MID = 5_000;

/** After the fill: what the table holds, and the fill's journal (read in the same process: no extra PGlite start). */
const VERIFY = `step('03_verify', { run: async (ctx) => {
      const [r] = await ctx.query('SELECT count(*)::int AS n, count(DISTINCT id)::int AS d, (SELECT string_agg(started_from::text, \\',\\' ORDER BY at) FROM runs) AS runs FROM rows_t');
      ctx.log('verify ' + JSON.stringify(r));
      const j = await ctx.query("SELECT event, owner, checkpoint, error FROM zsetup.journal WHERE step = '02_fill' ORDER BY id");
      ctx.log('journal ' + JSON.stringify(j));
    } }),`;

/**
 * A scratch folder with the fill config and an initialised data dir (a copy of the run's
 * template: PGlite's first start of a data dir costs seconds of CPU, and is covered by
 * test/cli/pglite.test.ts), so the apply under test starts as fast as a later one. The
 * batch after row MID waits at the gate (logging `at the gate`) until `open()` or a stop.
 */
async function prepared(ctx: Ctx): Promise<Scratch & { open(): void }> {
  const d = scratch({});
  ctx.dirs.push(d);
  const gate = join(d.dir, 'gate');
  writeFileSync(gate, '');
  d.write({ [CONFIG]: fillConfig({ total: TOTAL, batch: BATCH, gateFile: { path: gate, after: MID }, after: VERIFY }) });
  await pgliteDataDir(join(d.dir, '.zsetup/pglite'));
  return { ...d, open: () => rmSync(gate, { force: true }) };
}

interface HistoryRow {
  event: string;
  owner: string;
  checkpoint?: unknown;
  error?: string | null;
}

/** The fill's journal records, as the verify step (after the fill's done record) logged them. */
function fillJournal(stdout: string): HistoryRow[] {
  const m = /03_verify: journal (\[.*\])/.exec(stdout);
  assert.ok(m, `the verify step logged the journal:\n${stdout}`);
  return JSON.parse(m![1]!);
}

function verified(stdout: string): { n: number; d: number; runs: string } {
  const m = /03_verify: verify (\{.*\})/.exec(stdout);
  assert.ok(m, `the verify step ran:\n${stdout}`);
  return JSON.parse(m![1]!);
}

t('SIGTERM mid-step on PGlite: exit 143 soon, interrupted at a checkpoint; the next apply resumes; every row once', async (ctx) => {
  const d = await prepared(ctx);
  const run = startCli(['apply'], { cwd: d.dir });
  await waitFor(run.child, /at the gate/, 90_000);
  const { r, ms } = await killTimed(run, 'SIGTERM');
  d.open();
  console.log(`    PGlite: SIGTERM to exit: ${ms.toFixed(0)} ms`);
  assert.is(r.code, 143, r.stdout + r.stderr);
  // Soon: the batch in flight, its interrupted record and PGlite's close (a checkpoint), well within the cleanup deadline (10 s).
  assert.ok(ms < 5000, `exited ${ms.toFixed(0)} ms after SIGTERM`);
  assert.match(r.stderr, /SIGTERM received/);
  const m = /■ 02_fill: stopped \(SIGTERM received\) at checkpoint (\d+) \(\d+%\); the next apply resumes it from there/.exec(r.stdout);
  assert.ok(m, r.stdout);
  const cp = Number(m![1]);
  assert.is(cp, MID + BATCH, 'the batch in flight committed with its checkpoint; the next one did not start');
  assert.not.ok(existsSync(join(d.dir, '.zsetup/pglite.lock')), 'the lock file is released');

  const again = await cli(['apply'], { cwd: d.dir });
  assert.is(again.code, 0, again.stdout + again.stderr);
  assert.match(again.stdout, new RegExp(`02_fill: starting from ${cp}\\n`));
  assert.equal(verified(again.stdout), { n: TOTAL, d: TOTAL, runs: `0,${cp}` });
  // The journal is appended to, never updated: its first two records are the stopped run's.
  const fill = fillJournal(again.stdout);
  assert.equal(fill.map((e) => e.event), ['started', 'interrupted', 'started', 'done']);
  assert.is(fill[1]!.checkpoint, cp);
  assert.match(fill[1]!.owner, ownerRe(run.child.pid!));
  assert.not.match(fill[2]!.owner, ownerRe(run.child.pid!));
});

t('SIGKILL mid-step on PGlite: the next apply takes over the lock file, recovers the step and resumes it; every row once', async (ctx) => {
  const d = await prepared(ctx);
  const run = startCli(['apply'], { cwd: d.dir });
  await waitFor(run.child, /at the gate/, 90_000);
  run.child.kill('SIGKILL');
  const r = await run.done;
  d.open();
  assert.is(r.signal, 'SIGKILL');
  const lockFile = join(d.dir, '.zsetup/pglite.lock');
  assert.ok(existsSync(lockFile), 'the dead process left its lock file');
  assert.is(JSON.parse(readFileSync(lockFile, 'utf8')).pid, run.child.pid);

  const again = await cli(['apply'], { cwd: d.dir, timeoutMs: 60_000 });
  assert.is(again.code, 0, again.stdout + again.stderr);
  assert.match(again.stdout, new RegExp(`! 02_fill: left started by [^ ]*:${run.child.pid}:[^ ]* at .*; that run is gone, recorded interrupted`));
  const from = Number(/02_fill: starting from (\d+)\n/.exec(again.stdout)?.[1]);
  assert.is(from, MID, 'resumed from the last committed checkpoint (the batch in flight was lost with the process)');
  assert.equal(verified(again.stdout), { n: TOTAL, d: TOTAL, runs: `0,${from}` });
  assert.not.ok(existsSync(lockFile), 'the lock file is released');

  const fill = fillJournal(again.stdout);
  assert.equal(fill.map((e) => e.event), ['started', 'interrupted', 'started', 'done']);
  assert.match(fill[0]!.owner, ownerRe(run.child.pid!));
  assert.not.match(fill[1]!.owner, ownerRe(run.child.pid!), 'recorded by the new owner');
  assert.match(fill[1]!.error ?? '', /recovered/);
  assert.match(fill[1]!.error ?? '', ownerRe(run.child.pid!), 'the error names the dead owner');
  assert.is(fill[1]!.checkpoint, from);
});

t('on PGlite, a long resumable step checkpoints the WAL as it goes; a batch under a role that may not checkpoint still commits (its checkpoint is skipped)', async (ctx) => {
  const d = scratch({
    [CONFIG]: `${HEADER}export default defineConfig({ steps: [
  step('01_tables', { sql: "CREATE TABLE rows_t (id int NOT NULL); CREATE TABLE marks (k text PRIMARY KEY, lsn pg_lsn NOT NULL); CREATE TABLE role_t (id int NOT NULL); CREATE ROLE app_writer; GRANT INSERT, SELECT ON role_t TO app_writer; GRANT USAGE ON SCHEMA zsetup TO app_writer; GRANT INSERT, UPDATE, SELECT ON zsetup.checkpoints TO app_writer" }),
  step('02_role_fill', {
    resumable: true,
    run: async (ctx) => {
      let next = ctx.checkpoint ?? 0;
      // Six batches of 0.15 s: a checkpoint comes due (0.5 s of work) inside one of them.
      while (next < 6000) {
        const to = next + 1000;
        await ctx.db.transaction(async (trx) => {
          await trx.raw('SET LOCAL ROLE app_writer');
          await trx.raw('INSERT INTO role_t SELECT g FROM generate_series(?::int, ?::int) g', [next + 1, to]);
          await new Promise((r) => setTimeout(r, 150));
          await ctx.saveCheckpoint(trx, to);
        });
        next = to;
      }
      const [r] = await ctx.query('SELECT count(*)::int AS n FROM role_t');
      ctx.log('rows ' + r.n);
    },
  }),
  step('03_fill', {
    resumable: true,
    run: async (ctx) => {
      let next = ctx.checkpoint ?? 0;
      await ctx.db.raw("INSERT INTO marks VALUES ('start', pg_current_wal_lsn()) ON CONFLICT (k) DO NOTHING");
      // Twelve batches of 0.08 s: checkpoints come due (0.5 s of work) during the fill.
      while (next < 12000) {
        const to = next + 1000;
        await ctx.db.transaction(async (trx) => {
          await trx.raw('INSERT INTO rows_t SELECT g FROM generate_series(?::int, ?::int) g', [next + 1, to]);
          await new Promise((r) => setTimeout(r, 80));
          await ctx.saveCheckpoint(trx, to);
        });
        next = to;
      }
    },
  }),
  step('04_check', { run: async (ctx) => {
    const [r] = await ctx.query("SELECT (SELECT redo_lsn FROM pg_control_checkpoint()) > (SELECT lsn FROM marks WHERE k = 'start') AS ok");
    ctx.log('checkpointed during the fill: ' + r.ok);
  } }),
] });`,
  });
  ctx.dirs.push(d);
  await pgliteDataDir(join(d.dir, '.zsetup/pglite'));
  const r = await cli(['apply'], { cwd: d.dir, timeoutMs: 90_000 });
  assert.is(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /02_role_fill: rows 6000/);
  assert.match(r.stdout, /04_check: checkpointed during the fill: true/);
});

t.run();
