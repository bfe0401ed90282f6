/**
 * Automatic recovery on PostgreSQL: after a SIGKILL mid-step the next apply records the
 * stuck step `interrupted` (as the new owner, naming the dead one) and resumes it, with
 * no operator action. `zsetup cleanup` does the same by hand after a SIGKILL, and
 * refuses (exit 3, naming the holder and since when) while a live apply holds the lock.
 */
import * as assert from 'uvu/assert';
import { cli, startCli, dbEachSuite, type DbCtx, type Scratch, dir as inScratch } from '../helpers.js';
import { CONFIG, checkpointOf, counts, fillConfig, holdGate, journal, ownerRe, runsOf, until, type Gate } from './util.js';

type Ctx = DbCtx;
const t = dbEachSuite('interrupt: recovery after SIGKILL on PostgreSQL');

const TOTAL = 100_000;
const BATCH = 10_000;
const GATE = 7713;

/** The fill; its batches past row `after` wait for the test's gate (held from the start). */
function dir(ctx: Ctx, after: number): Scratch {
  return inScratch(ctx, { [CONFIG]: fillConfig({ total: TOTAL, batch: BATCH, gate: { key: GATE, after } }) });
}

/**
 * Start apply; once its fill waits at the gate (the batches up to `after` committed, the
 * next one open), SIGKILL it and open the gate. Its pid and the checkpoint it left.
 */
async function killedMidStep(ctx: Ctx, d: Scratch, gate: Gate, after: number): Promise<{ pid: number; cp: number }> {
  const run = startCli(['apply'], { cwd: d.dir, url: ctx.db.url });
  await gate.waiting('the fill to wait at the gate');
  run.child.kill('SIGKILL');
  const r = await run.done;
  assert.is(r.signal, 'SIGKILL');
  await gate.release();
  // The killed run's backends end when the server sees the socket close.
  await until(async () => (await ctx.db.query(`SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND application_name LIKE 'zsetup%'`)).length === 0, 30_000, 'the killed run\'s backends to end');
  const cp = (await checkpointOf(ctx.db))!;
  assert.is(cp, after, 'the checkpoint of the last batch before the gate');
  assert.equal(await counts(ctx.db), { n: cp, distinct: cp, max: cp }, 'only committed batches are in the table');
  const last = (await journal(ctx.db)).at(-1)!;
  assert.equal([last.step, last.event], ['02_fill', 'started'], 'a SIGKILL leaves the step started');
  return { pid: run.child.pid!, cp };
}

t('SIGKILL mid-step, then apply: recovered as interrupted by the new owner (naming the old one), resumed, done; every row once', async (ctx) => {
  const d = dir(ctx, 40_000);
  const gate = await holdGate(ctx.db, GATE);
  const { pid, cp } = await killedMidStep(ctx, d, gate, 40_000).finally(() => gate.release());

  const p = await cli(['plan', '--json'], { cwd: d.dir, url: ctx.db.url });
  const entry = p.json().find((e) => e.step === '02_fill');
  assert.is(entry.action, 'resume');
  assert.match(entry.reason, new RegExp(`^left unfinished at checkpoint ${cp} \\(\\d+%\\) by [^ ]*:${pid}:`));

  const again = await cli(['apply'], { cwd: d.dir, url: ctx.db.url });
  assert.is(again.code, 0, again.stdout + again.stderr);
  assert.match(again.stdout, new RegExp(`! 02_fill: left started by [^ ]*:${pid}:[^ ]* at .*; that run is gone, recorded interrupted`));
  assert.match(again.stdout, new RegExp(`02_fill: starting from ${cp}\\n`));
  assert.equal((await runsOf(ctx.db)).map((r) => r.started_from), [0, cp]);
  assert.equal(await counts(ctx.db), { n: TOTAL, distinct: TOTAL, max: TOTAL });

  const fill = (await journal(ctx.db)).filter((e) => e.step === '02_fill');
  assert.equal(fill.map((e) => e.event), ['started', 'interrupted', 'started', 'done']);
  assert.match(fill[0]!.owner, ownerRe(pid), 'started by the killed run');
  const next = fill[1]!.owner;
  assert.not.match(next, ownerRe(pid), 'interrupted is recorded by the new owner');
  assert.match(fill[1]!.error ?? '', /recovered/);
  assert.match(fill[1]!.error ?? '', ownerRe(pid), 'the record names the old owner');
  assert.is(fill[1]!.checkpoint, cp);
  assert.is(fill[2]!.owner, next);
  assert.is(fill[3]!.owner, next);
});

t('zsetup cleanup after a SIGKILL records the stuck step interrupted and prints it (exit 0); apply then resumes', async (ctx) => {
  const d = dir(ctx, 40_000);
  const gate = await holdGate(ctx.db, GATE);
  const { pid, cp } = await killedMidStep(ctx, d, gate, 40_000).finally(() => gate.release());

  const c = await cli(['cleanup'], { cwd: d.dir, url: ctx.db.url });
  assert.is(c.code, 0, c.stdout + c.stderr);
  assert.match(c.stdout, new RegExp(`! 02_fill: left started by [^ ]*:${pid}:[^ ]* at \\S+; recorded interrupted`));
  assert.match(c.stdout, /Cleaned up 1 stuck step on .*; the next apply runs or resumes it\./);
  const last = (await journal(ctx.db)).at(-1)!;
  assert.is(last.event, 'interrupted');
  assert.is(last.checkpoint, cp);
  assert.not.match(last.owner, ownerRe(pid));
  assert.match(last.error ?? '', ownerRe(pid));

  const again = await cli(['cleanup'], { cwd: d.dir, url: ctx.db.url });
  assert.is(again.code, 0, again.stdout + again.stderr);
  assert.match(again.stdout, /Nothing to clean up/);
  assert.is((await journal(ctx.db)).length, 4, 'a second cleanup records nothing');

  const p = await cli(['plan', '--json'], { cwd: d.dir, url: ctx.db.url });
  assert.match(p.json().find((e) => e.step === '02_fill').reason, /^interrupted at checkpoint \d+ \(\d+%\) by .* at /);

  const a = await cli(['apply'], { cwd: d.dir, url: ctx.db.url });
  assert.is(a.code, 0, a.stdout + a.stderr);
  assert.not.match(a.stdout, /left started by/, 'nothing left to recover');
  assert.equal((await runsOf(ctx.db)).map((r) => r.started_from), [0, cp]);
  assert.equal(await counts(ctx.db), { n: TOTAL, distinct: TOTAL, max: TOTAL });
  assert.equal(
    (await journal(ctx.db)).filter((e) => e.step === '02_fill').map((e) => e.event),
    ['started', 'interrupted', 'started', 'done'],
  );
});

t('zsetup cleanup while a live apply holds the lock refuses with exit 3, naming the holder and since when', async (ctx) => {
  // The apply waits at the gate, mid-step and holding the lock, until cleanup has answered.
  const d = dir(ctx, 20_000);
  const gate = await holdGate(ctx.db, GATE);
  const run = startCli(['apply'], { cwd: d.dir, url: ctx.db.url });
  try {
    await gate.waiting('the fill to wait at the gate');
    const c = await cli(['cleanup'], { cwd: d.dir, url: ctx.db.url });
    assert.is(run.child.exitCode, null, 'the apply was still running when cleanup ran');
    assert.is(c.code, 3, c.stdout + c.stderr);
    assert.match(c.stderr, new RegExp(`refusing to clean up: a live run holds the advisory lock: [^ ]*:${run.child.pid}:\\S+ since \\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d`));
  } finally {
    await gate.release();
  }
  const r = await run.done;
  assert.is(r.code, 0, r.stdout + r.stderr);
  const events = (await journal(ctx.db)).map((e) => `${e.step}:${e.event}`);
  assert.equal(events, ['01_tables:started', '01_tables:done', '02_fill:started', '02_fill:done'], 'cleanup recorded nothing');
  assert.equal(await counts(ctx.db), { n: TOTAL, distinct: TOTAL, max: TOTAL });
});

t.run();
