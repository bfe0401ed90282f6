/**
 * SIGTERM / SIGINT to the real `zsetup apply` on PostgreSQL while a resumable step runs:
 * the process stops within a fraction of the cleanup deadline with 143 / 130, records the
 * step `interrupted` with its last committed checkpoint, says so, `plan` shows `resume`,
 * and the next apply resumes from that checkpoint without writing any row twice. A second
 * signal ends the process at once; a step whose cleanup overruns the cleanup deadline is
 * abandoned shortly before it (recorded interrupted, exit 143). The next apply still
 * finishes with every row exactly once. (A step that blocks the main thread: watchdog.test.ts.)
 */
import * as assert from 'uvu/assert';
import { HEADER, cli, dbEachSuite, dir as inScratch, startCli, type DbCtx, type Scratch } from '../helpers.js';
import { CONFIG, checkpointOf, counts, fillConfig, holdGate, journal, killTimed, ownerRe, runsOf, sleep, waitFor, type FillOptions } from './util.js';

type Ctx = DbCtx;
const t = dbEachSuite('interrupt: SIGTERM and SIGINT on PostgreSQL');

function dir(ctx: Ctx, config: string): Scratch {
  return inScratch(ctx, { [CONFIG]: config });
}

const TOTAL = 100_000;
const BATCH = 10_000;
const GATE = 7741;

/**
 * Start apply of the fill whose batch after row `after` waits at the test's gate; resolve
 * once it waits there: mid-step, the batches up to `after` committed, one in flight.
 * Release the gate before the next apply.
 */
async function startAtGate(ctx: Ctx, after: number, o: Partial<FillOptions> = {}) {
  const gate = await holdGate(ctx.db, GATE);
  const d = dir(ctx, fillConfig({ total: TOTAL, batch: BATCH, gate: { key: GATE, after }, ...o }));
  const run = startCli(['apply'], { cwd: d.dir, url: ctx.db.url });
  await gate.waiting('the fill to wait at the gate').catch(async (err) => {
    await gate.release();
    throw err;
  });
  return { d, run, gate };
}

t('SIGTERM mid-step: exit 143 soon, interrupted at the last committed checkpoint, plan says resume, the next apply resumes from it', async (ctx) => {
  const { d, run, gate } = await startAtGate(ctx, 60_000);
  const { r, ms } = await killTimed(run, 'SIGTERM');
  await gate.release();
  console.log(`    SIGTERM to exit: ${ms.toFixed(0)} ms`);
  assert.is(r.code, 143, r.stdout + r.stderr);
  // The batch in flight waits at the gate: not cancelled, it would hold the run until the
  // cleanup deadline (10 s) abandons it. (Typically ~100 ms; 5 s leaves room for a busy machine.)
  assert.ok(ms < 5000, `exited ${ms.toFixed(0)} ms after SIGTERM`);
  assert.match(r.stderr, /SIGTERM received/, 'stderr names the signal');
  const stopped = /■ 02_fill: stopped \(SIGTERM received\) at checkpoint (\d+) \(\d+%\); the next apply resumes it from there/.exec(r.stdout);
  assert.ok(stopped, `stdout names the step, its checkpoint and that the next apply resumes it:\n${r.stdout}`);
  const cp = Number(stopped![1]);

  // The journal: interrupted by this process, with the checkpoint that really committed.
  const j = await journal(ctx.db);
  const last = j.filter((e) => e.step === '02_fill').at(-1)!;
  assert.is(last.event, 'interrupted');
  assert.match(last.owner, ownerRe(run.child.pid!));
  assert.is(last.checkpoint, cp);
  assert.match(last.error ?? '', /SIGTERM/);
  assert.is(await checkpointOf(ctx.db), cp);
  assert.is(cp, 60_000, 'the checkpoint of the last batch before the one in flight');
  const mid = await counts(ctx.db);
  assert.equal(mid, { n: cp, distinct: cp, max: cp }, 'exactly the committed batches are in the table (the batch in flight rolled back)');

  // plan: resume, with where and by whom.
  const p = await cli(['plan', '--json'], { cwd: d.dir, url: ctx.db.url });
  assert.is(p.code, 0, p.stdout + p.stderr);
  const entry = p.json().find((e) => e.step === '02_fill');
  assert.is(entry.action, 'resume');
  assert.match(entry.reason, /interrupted at checkpoint .* \(\d+%\) by .* at /);
  assert.match(entry.reason, new RegExp(`at checkpoint ${cp} `));
  const text = await cli(['plan'], { cwd: d.dir, url: ctx.db.url });
  assert.match(text.stdout, /02_fill\s+resume\s+interrupted at checkpoint/);

  // The next apply resumes: starts at the checkpoint, writes every row once.
  const again = await cli(['apply'], { cwd: d.dir, url: ctx.db.url });
  assert.is(again.code, 0, again.stdout + again.stderr);
  assert.match(again.stdout, new RegExp(`02_fill: starting from ${cp}\\n`));
  assert.not.match(again.stdout, /committed 10000\n/, 'the first batch was not written again');
  assert.equal(
    (await runsOf(ctx.db)).map((x) => x.started_from),
    [0, cp],
    'the second run started from the checkpoint, not from 0',
  );
  assert.equal(await counts(ctx.db), { n: TOTAL, distinct: TOTAL, max: TOTAL });
  assert.is(await checkpointOf(ctx.db), undefined, 'done clears the checkpoint');
  const after = (await journal(ctx.db)).filter((e) => e.step === '02_fill').map((e) => e.event);
  assert.equal(after, ['started', 'interrupted', 'started', 'done']);
});

t('SIGINT mid-step: exit 130, interrupted, the next apply finishes', async (ctx) => {
  const { d, run, gate } = await startAtGate(ctx, 30_000);
  const { r, ms } = await killTimed(run, 'SIGINT');
  await gate.release();
  console.log(`    SIGINT to exit: ${ms.toFixed(0)} ms`);
  assert.is(r.code, 130, r.stdout + r.stderr);
  assert.ok(ms < 5000, `exited ${ms.toFixed(0)} ms after SIGINT`);
  assert.match(r.stderr, /SIGINT received/);
  assert.match(r.stdout, /■ 02_fill: stopped \(SIGINT received\) at checkpoint \d+/);
  const last = (await journal(ctx.db)).at(-1)!;
  assert.equal([last.step, last.event], ['02_fill', 'interrupted']);
  const cp = last.checkpoint as number;
  assert.is((await counts(ctx.db)).n, cp);
  const again = await cli(['apply'], { cwd: d.dir, url: ctx.db.url });
  assert.is(again.code, 0, again.stdout + again.stderr);
  assert.equal((await runsOf(ctx.db)).map((x) => x.started_from), [0, cp]);
  assert.equal(await counts(ctx.db), { n: TOTAL, distinct: TOTAL, max: TOTAL });
});

t('a second SIGTERM during a slow cleanup exits at once; the next apply recovers and finishes, every row once', async (ctx) => {
  // The step takes 8 s to give up after the stop: the first SIGTERM alone would wait for it.
  const { d, run, gate } = await startAtGate(ctx, 30_000, { lingerMs: 8000 });
  const lingering = waitFor(run.child, /lingering/, 30_000);
  run.child.kill('SIGTERM');
  await lingering;
  await sleep(300);
  assert.is(run.child.exitCode, null, 'still cleaning up after the first SIGTERM');
  const { r, ms } = await killTimed(run, 'SIGTERM');
  await gate.release();
  console.log(`    second SIGTERM to exit: ${ms.toFixed(0)} ms`);
  // At once: not after the step's 8 s cleanup, nor at the 10 s cleanup deadline.
  assert.ok(ms < 3000, `exited ${ms.toFixed(0)} ms after the second SIGTERM`);
  assert.ok(r.signal === 'SIGTERM' || r.code === 143, `ended by SIGTERM (code ${r.code}, signal ${r.signal})`);
  assert.match(r.stdout + r.stderr, /second SIGTERM: exiting now/);

  // No interrupted record was written: the next apply finds the step started by a dead run.
  const j = await journal(ctx.db);
  assert.equal([j.at(-1)!.step, j.at(-1)!.event], ['02_fill', 'started']);
  const again = await cli(['apply'], { cwd: d.dir, url: ctx.db.url });
  assert.is(again.code, 0, again.stdout + again.stderr);
  assert.match(again.stdout, /! 02_fill: left started by .* that run is gone, recorded interrupted/);
  const cp = (await runsOf(ctx.db))[1]?.started_from;
  assert.ok(cp !== undefined && cp >= 30_000, `resumed from ${cp}`);
  assert.equal(await counts(ctx.db), { n: TOTAL, distinct: TOTAL, max: TOTAL });
  const events = (await journal(ctx.db)).filter((e) => e.step === '02_fill').map((e) => e.event);
  assert.equal(events, ['started', 'interrupted', 'started', 'done']);
});

t('two SIGTERMs in quick succession: the process ends, the next apply finishes with every row once', async (ctx) => {
  const { d, run, gate } = await startAtGate(ctx, 30_000);
  const { r, ms } = await killTimed(run, 'SIGTERM', 2);
  await gate.release();
  assert.ok(ms < 5000, `exited ${ms.toFixed(0)} ms after the signals`);
  assert.ok(r.signal === 'SIGTERM' || r.code === 143, `ended by SIGTERM (code ${r.code}, signal ${r.signal})`);
  const again = await cli(['apply'], { cwd: d.dir, url: ctx.db.url });
  assert.is(again.code, 0, again.stdout + again.stderr);
  assert.equal(await counts(ctx.db), { n: TOTAL, distinct: TOTAL, max: TOTAL });
  const events = (await journal(ctx.db)).filter((e) => e.step === '02_fill').map((e) => e.event);
  assert.equal(events.at(-1), 'done');
  assert.is(events.filter((e) => e === 'done').length, 1);
});

t('a step whose cleanup overruns apply.cleanupDeadline is abandoned shortly before it: recorded interrupted, exit 143; the next apply resumes', async (ctx) => {
  // After the stop the step lingers 8 s; the cleanup deadline is 3 s.
  const { d, run, gate } = await startAtGate(ctx, 30_000, { lingerMs: 8000, extra: "apply: { cleanupDeadline: '3s' }," });
  const lingering = waitFor(run.child, /lingering/, 60_000);
  lingering.catch(() => undefined); // awaited below
  const { r, ms } = await killTimed(run, 'SIGTERM');
  await gate.release();
  await lingering;
  console.log(`    SIGTERM to exit with a 3 s cleanup deadline and an 8 s cleanup: ${ms.toFixed(0)} ms`);
  assert.is(r.code, 143, `ended as stopped, by the run itself (code ${r.code}, signal ${r.signal}):\n${r.stdout}\n${r.stderr}`);
  assert.ok(ms >= 1000, `the step got time to stop by itself first: ended ${ms.toFixed(0)} ms after SIGTERM`);
  assert.ok(ms < 5000, `ended ${ms.toFixed(0)} ms after SIGTERM: by the 3 s cleanup deadline, not after the step's 8 s`);
  const stopped = /■ 02_fill: stopped \(SIGTERM received\) at checkpoint (\d+)/.exec(r.stdout);
  assert.ok(stopped, r.stdout);
  const last = (await journal(ctx.db)).filter((e) => e.step === '02_fill').at(-1)!;
  assert.equal([last.event, last.checkpoint], ['interrupted', Number(stopped![1])]);
  const again = await cli(['apply'], { cwd: d.dir, url: ctx.db.url });
  assert.is(again.code, 0, again.stdout + again.stderr);
  assert.equal((await runsOf(ctx.db)).map((x) => x.started_from), [0, Number(stopped![1])]);
  assert.equal(await counts(ctx.db), { n: TOTAL, distinct: TOTAL, max: TOTAL });
});

t('SIGTERM while the `started` record of a one-pass step waits: no `interrupted` without its start; the next apply runs the step', async (ctx) => {
  const steps = (more: string) =>
    `${HEADER}export default defineConfig({ steps: [step('01_a', { sql: 'CREATE TABLE a (id int)' }),${more}] });\n`;
  const d = dir(ctx, steps(''));
  const first = await cli(['apply'], { cwd: d.dir, url: ctx.db.url });
  assert.is(first.code, 0, first.stdout + first.stderr);
  // The `started` record of 02_b (its own transaction, sent in one message with the step's) waits at the gate.
  await ctx.db.query(`CREATE FUNCTION gate_started() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_advisory_xact_lock_shared(${GATE}); RETURN NEW; END $$;
    CREATE TRIGGER gate_started BEFORE INSERT ON zsetup.journal FOR EACH ROW WHEN (NEW.step = '02_b' AND NEW.event = 'started') EXECUTE FUNCTION gate_started()`);
  d.write({ [CONFIG]: steps("step('02_b', { sql: 'CREATE TABLE b (id int)' })") });
  const gate = await holdGate(ctx.db, GATE);
  const run = startCli(['apply'], { cwd: d.dir, url: ctx.db.url });
  try {
    await gate.waiting('the `started` record of 02_b to wait at the gate');
    const { r } = await killTimed(run, 'SIGTERM');
    assert.is(r.code, 143, r.stdout + r.stderr);
  } finally {
    await gate.release();
  }
  const events = (await journal(ctx.db)).filter((e) => e.step === '02_b').map((e) => e.event);
  assert.equal(events, [], 'the cancel rolled back the `started` record: nothing to close');
  await ctx.db.query('DROP TRIGGER gate_started ON zsetup.journal');
  const again = await cli(['apply'], { cwd: d.dir, url: ctx.db.url });
  assert.is(again.code, 0, again.stdout + again.stderr);
  assert.equal((await journal(ctx.db)).filter((e) => e.step === '02_b').map((e) => e.event), ['started', 'done']);
});

t.run();
