/**
 * `apply --deadline`: a run that would take longer stops gracefully before the deadline
 * (at a checkpoint, exit 143), records the step `interrupted` with its checkpoint, and the
 * next apply resumes and finishes. The same from `apply.deadline` in the config, and for
 * a long statement that is not resumable (cancelled before the deadline).
 */
import * as assert from 'uvu/assert';
import { cli, startCli, HEADER, dbEachSuite, type DbCtx, type Scratch, dir as inScratch } from '../helpers.js';
import { counts, exitTime, fillConfig, journal, runsOf } from './util.js';

type Ctx = DbCtx;
const t = dbEachSuite('interrupt: --deadline');

function dir(ctx: Ctx, config: string): Scratch {
  return inScratch(ctx, { 'zsetup.config.ts': config });
}

// 45 batches of 0.2 s each: about 9 s of work, more than the 8 s deadline. An 8 s deadline
// stops the run 6 s after its process started (the margin is a quarter of it): time for
// the first batches to commit even on a busy machine, where start-up alone can take 3 s.
const TOTAL = 45_000;
const BATCH = 1_000;
const SLOW = { total: TOTAL, batch: BATCH, inBatchSql: 'SELECT pg_sleep(0.2)' };

/** Run apply with `args`; return its result and wall time from spawn to exit. */
async function timedApply(ctx: Ctx, d: Scratch, args: string[]) {
  const t0 = performance.now();
  const run = startCli(['apply', ...args], { cwd: d.dir, url: ctx.db.url });
  const exited = exitTime(run.child);
  const r = await run.done;
  const at = await exited;
  return { r, wall: at - t0, exitedAt: Date.now() - (performance.now() - at) };
}

/** The process ended before the deadline it announced ("deadline <ISO time> reached"). */
function assertBeforeAnnouncedDeadline(r: { stderr: string }, exitedAt: number) {
  const m = /deadline (\S+) reached/.exec(r.stderr);
  assert.ok(m, r.stderr);
  const at = Date.parse(m![1]!);
  assert.ok(exitedAt < at, `the process ended ${exitedAt - at} ms after its deadline ${m![1]}`);
  console.log(`    ended ${(at - exitedAt).toFixed(0)} ms before the announced deadline`);
}

async function assertStoppedAtCheckpoint(ctx: Ctx, d: Scratch, res: { r: { code: number | null; stdout: string; stderr: string }; wall: number; exitedAt: number }, deadlineMs: number, resumeArgs: string[] = []) {
  const { r, wall } = res;
  assert.is(r.code, 143, r.stdout + r.stderr);
  assertBeforeAnnouncedDeadline(r, res.exitedAt);
  // The deadline counts from the process start (config load included): from the spawn, the
  // whole process is done within it (a little slack for spawning and the exit event).
  assert.ok(wall < deadlineMs + 150, `stopped ${wall.toFixed(0)} ms after the spawn (deadline ${deadlineMs} ms)`);
  // (No percentage when only the first batch committed: its checkpoint was saved before any progress report.)
  const m = /■ 02_fill: stopped \(deadline \S+ reached\) at checkpoint (\d+)(?: \(\d+%\))?; the next apply resumes it from there/.exec(r.stdout);
  assert.ok(m, `stdout says the deadline stopped it at a checkpoint:\n${r.stdout}`);
  assert.match(r.stderr, /stopped \(deadline \S+ reached\)/);
  const cp = Number(m![1]);
  assert.ok(cp > 0 && cp < TOTAL, `checkpoint ${cp}`);
  const last = (await journal(ctx.db)).at(-1)!;
  assert.equal([last.step, last.event, last.checkpoint], ['02_fill', 'interrupted', cp]);
  assert.match(last.error ?? '', /deadline/);
  assert.equal(await counts(ctx.db), { n: cp, distinct: cp, max: cp });

  const again = await cli(['apply', ...resumeArgs], { cwd: d.dir, url: ctx.db.url });
  assert.is(again.code, 0, again.stdout + again.stderr);
  assert.equal((await runsOf(ctx.db)).map((x) => x.started_from), [0, cp]);
  assert.equal(await counts(ctx.db), { n: TOTAL, distinct: TOTAL, max: TOTAL });
  assert.equal(
    (await journal(ctx.db)).filter((e) => e.step === '02_fill').map((e) => e.event),
    ['started', 'interrupted', 'started', 'done'],
  );
  return cp;
}

t('apply --deadline 8s stops a longer resumable step at a checkpoint before 8 s, exit 143; the next apply finishes it', async (ctx) => {
  const d = dir(ctx, fillConfig(SLOW));
  const res = await timedApply(ctx, d, ['--deadline', '8s']);
  console.log(`    --deadline 8s: process wall time ${res.wall.toFixed(0)} ms`);
  await assertStoppedAtCheckpoint(ctx, d, res, 8000);
});

t('apply.deadline in the config works the same', async (ctx) => {
  const d = dir(ctx, fillConfig({ ...SLOW, extra: "apply: { deadline: '8s' }," }));
  const res = await timedApply(ctx, d, []);
  console.log(`    apply.deadline 8s: process wall time ${res.wall.toFixed(0)} ms`);
  // The resuming run would stop at 8 s too (about 3.5 s of work is left, more on a busy machine): --deadline overrides the config.
  await assertStoppedAtCheckpoint(ctx, d, res, 8000, ['--deadline', '60s']);
});

t('a long statement that is not resumable is cancelled before the deadline: interrupted, exit 143, then run again', async (ctx) => {
  const d = dir(ctx, `${HEADER}export default defineConfig({ steps: [
  step('01_slow', { sql: 'SELECT pg_sleep(10); CREATE TABLE slow_done (id int)' }),
] });`);
  // 6 s: the statement is cancelled at 5.25 s (half the 1.5 s margin before the deadline), which leaves cleanup 0.75 s.
  const { r, wall, exitedAt } = await timedApply(ctx, d, ['--deadline', '6s']);
  console.log(`    --deadline 6s on pg_sleep(10): process wall time ${wall.toFixed(0)} ms`);
  assert.is(r.code, 143, r.stdout + r.stderr);
  assertBeforeAnnouncedDeadline(r, exitedAt);
  assert.ok(wall < 6150, `stopped ${wall.toFixed(0)} ms after the spawn (deadline 6 s)`);
  assert.match(r.stdout, /■ 01_slow: stopped \(deadline \S+ reached\); its uncommitted work rolled back; the next apply runs it again/);
  const j = await journal(ctx.db);
  assert.equal(j.map((e) => e.event), ['started', 'interrupted']);
  const [gone] = await ctx.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_tables WHERE tablename = 'slow_done'`);
  assert.is(gone!.n, 0, 'the cancelled step left nothing');
  const [busy] = await ctx.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND query LIKE '%pg_sleep(10)%' AND pid <> pg_backend_pid()`);
  assert.is(busy!.n, 0, 'the statement is not still running on the server');
});

t.run();
