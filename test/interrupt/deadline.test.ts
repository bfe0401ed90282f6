/**
 * `apply --deadline`: a run that would take longer stops gracefully before the deadline
 * (at a checkpoint, exit 143), records the step `interrupted` with its checkpoint, and the
 * next apply resumes and finishes. The same from `apply.deadline` in the config, and for
 * a long statement that is not resumable (cancelled before the deadline).
 */
import * as assert from 'uvu/assert';
import { cli, startCli, HEADER, dbEachSuite, type DbCtx, type Scratch, dir as inScratch } from '../helpers.js';
import { CONFIG, counts, exitTime, fillConfig, journal, runsOf } from './util.js';

type Ctx = DbCtx;
const t = dbEachSuite('interrupt: --deadline');

function dir(ctx: Ctx, config: string): Scratch {
  return inScratch(ctx, { [CONFIG]: config });
}

// 100 batches of 0.2 s each: about 20 s of work, more than the 16 s deadline. The run stops
// at 12 s (the margin is a quarter of the deadline): time for the first batches to commit
// even where start-up alone takes 3 s, and 4 s to finish the batch in flight, record and
// close, which a machine busy with two CPU hogs and parallel tests has needed close to 3 s
// of. The resuming run skips the pauses (FILL_SLEEP=0).
const TOTAL = 100_000;
const BATCH = 1_000;
const SLOW = { total: TOTAL, batch: BATCH, sleepFromEnv: { env: 'FILL_SLEEP', seconds: 0.2 } };
const FAST = { FILL_SLEEP: '0' };

/** Run apply with `args`; return its result and wall time from spawn to exit. */
async function timedApply(ctx: Ctx, d: Scratch, args: string[]) {
  const t0 = performance.now();
  const run = startCli(['apply', ...args], { cwd: d.dir, url: ctx.db.url, timeoutMs: 120_000 });
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

  const again = await cli(['apply', ...resumeArgs], { cwd: d.dir, url: ctx.db.url, env: FAST });
  assert.is(again.code, 0, again.stdout + again.stderr);
  assert.equal((await runsOf(ctx.db)).map((x) => x.started_from), [0, cp]);
  assert.equal(await counts(ctx.db), { n: TOTAL, distinct: TOTAL, max: TOTAL });
  assert.equal(
    (await journal(ctx.db)).filter((e) => e.step === '02_fill').map((e) => e.event),
    ['started', 'interrupted', 'started', 'done'],
  );
  return cp;
}

t('apply --deadline 16s stops a longer resumable step at a checkpoint before 16 s, exit 143; the next apply finishes it', async (ctx) => {
  const d = dir(ctx, fillConfig(SLOW));
  const res = await timedApply(ctx, d, ['--deadline', '16s']);
  console.log(`    --deadline 16s: process wall time ${res.wall.toFixed(0)} ms`);
  await assertStoppedAtCheckpoint(ctx, d, res, 16_000);
});

t('apply.deadline in the config works the same', async (ctx) => {
  const d = dir(ctx, fillConfig({ ...SLOW, extra: "apply: { deadline: '16s' }," }));
  const res = await timedApply(ctx, d, []);
  console.log(`    apply.deadline 16s: process wall time ${res.wall.toFixed(0)} ms`);
  // The resuming run would stop at 16 s too (more on a busy machine): --deadline overrides the config.
  await assertStoppedAtCheckpoint(ctx, d, res, 16_000, ['--deadline', '120s']);
});

t('a long statement that is not resumable is cancelled before the deadline: interrupted, exit 143, then run again', async (ctx) => {
  const d = dir(ctx, `${HEADER}export default defineConfig({ steps: [
  step('01_slow', { sql: 'SELECT pg_sleep(30); CREATE TABLE slow_done (id int)' }),
] });`);
  // 12 s: the statement is cancelled at 10.5 s (half the 3 s margin before the deadline), which leaves cleanup 1.5 s.
  const { r, wall, exitedAt } = await timedApply(ctx, d, ['--deadline', '12s']);
  console.log(`    --deadline 12s on pg_sleep(30): process wall time ${wall.toFixed(0)} ms`);
  assert.is(r.code, 143, r.stdout + r.stderr);
  assertBeforeAnnouncedDeadline(r, exitedAt);
  assert.ok(wall < 12_150, `stopped ${wall.toFixed(0)} ms after the spawn (deadline 12 s)`);
  assert.match(r.stdout, /■ 01_slow: stopped \(deadline \S+ reached\); its uncommitted work rolled back; the next apply runs it again/);
  const j = await journal(ctx.db);
  assert.equal(j.map((e) => e.event), ['started', 'interrupted']);
  const [gone] = await ctx.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_tables WHERE tablename = 'slow_done'`);
  assert.is(gone!.n, 0, 'the cancelled step left nothing');
  const [busy] = await ctx.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND query LIKE '%pg_sleep(30)%' AND pid <> pg_backend_pid()`);
  assert.is(busy!.n, 0, 'the statement is not still running on the server');
});

t.run();
