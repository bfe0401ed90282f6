/**
 * Lost connections mid-step on PostgreSQL. The run's LOCK connection terminated: the run
 * stops (exit 143, "lock lost") and commits nothing after the loss (no batch, no record:
 * another run may hold the lock by then); the next apply recovers and resumes. The run's
 * POOL connections terminated mid-batch: a transient fault, so the step is retried from
 * its checkpoint and the run finishes (exit 0). Every row exactly once in both cases.
 */
import * as assert from 'uvu/assert';
import { cli, startCli, dbEachSuite, type DbCtx, type Scratch, dir as inScratch } from '../helpers.js';
import { CONFIG, checkpointOf, counts, exitTime, fillConfig, holdGate, journal, ownerRe, runsOf, until, type Gate } from './util.js';

type Ctx = DbCtx;
const t = dbEachSuite('interrupt: lock and pool connections lost mid-step');

const TOTAL = 30_000;
const BATCH = 1_000;
const GATE = 7721;
const AT = 5_000;

/** The fill: the batch after row 5,000 waits at the test's gate, in flight, until released. */
function dir(ctx: Ctx): Scratch {
  return inScratch(ctx, { [CONFIG]: fillConfig({ total: TOTAL, batch: BATCH, gate: { key: GATE, after: AT } }) });
}

/** Wait until a batch is in flight: its pool backend waits at the gate (its pid). */
function midBatch(gate: Gate): Promise<number> {
  return gate.waiting('a batch in flight, at the gate');
}

/** Terminate the test database's backends matching `where` (chosen first: AND does not fix the order of evaluation). */
async function terminate(ctx: Ctx, where: string): Promise<Array<{ pid: number; state: string; query: string }>> {
  const rows = await ctx.db.query<{ pid: number; state: string; query: string }>(
    `SELECT pid, state, query FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND ${where}`,
  );
  await ctx.db.query('SELECT pg_terminate_backend(p) FROM unnest($1::int[]) p', [rows.map((r) => r.pid)]);
  return rows;
}

t('the lock connection terminated mid-step: the run stops (143) and commits nothing after the loss; the next apply resumes', async (ctx) => {
  const d = dir(ctx);
  const gate = await holdGate(ctx.db, GATE);
  const run = startCli(['apply'], { cwd: d.dir, url: ctx.db.url });
  await midBatch(gate).catch(async (err) => {
    await gate.release();
    throw err;
  });
  const killed = await terminate(ctx, `application_name LIKE 'zsetup@%'`);
  const t0 = performance.now();
  assert.is(killed.length, 1, 'one lock connection');
  const exited = exitTime(run.child);
  // Once its backend is gone the lock is free: nothing may commit from here on.
  await until(async () => (await ctx.db.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1', [killed[0]!.pid])).length === 0, 5000, 'the lock backend to end');
  const atLoss = (await checkpointOf(ctx.db))!;
  assert.is(atLoss, AT, 'the checkpoint before the batch in flight');
  // The batch in flight may go on now: without the lock it must not commit.
  await gate.release();
  const r = await run.done;
  const ms = (await exited) - t0;
  console.log(`    lock connection terminated -> exit: ${ms.toFixed(0)} ms (checkpoint at the loss ${atLoss})`);
  assert.is(r.code, 143, r.stdout + r.stderr);
  assert.ok(ms < 5000, `stopped ${ms.toFixed(0)} ms after the loss`);
  assert.match(r.stderr, /lock lost: (the advisory lock was lost: its connection|.*no longer holds the run lock)/);
  assert.match(r.stdout, /■ 02_fill: stopped \(lock lost/);

  assert.is(await checkpointOf(ctx.db), atLoss, 'no checkpoint committed after the loss');
  assert.equal(await counts(ctx.db), { n: atLoss, distinct: atLoss, max: atLoss }, 'no batch committed after the loss');
  const j = await journal(ctx.db);
  assert.equal(
    j.map((e) => `${e.step}:${e.event}`),
    ['01_tables:started', '01_tables:done', '02_fill:started'],
    'no record either: without the lock the run writes nothing',
  );

  const again = await cli(['apply'], { cwd: d.dir, url: ctx.db.url });
  assert.is(again.code, 0, again.stdout + again.stderr);
  assert.match(again.stdout, new RegExp(`! 02_fill: left started by [^ ]*:${run.child.pid}:`));
  assert.equal((await runsOf(ctx.db)).map((x) => x.started_from), [0, atLoss]);
  assert.equal(await counts(ctx.db), { n: TOTAL, distinct: TOTAL, max: TOTAL });
  assert.equal(
    (await journal(ctx.db)).filter((e) => e.step === '02_fill').map((e) => e.event),
    ['started', 'interrupted', 'started', 'done'],
  );
});

t('the pool connections terminated mid-batch: the step is retried from its checkpoint and the run finishes (exit 0), every row once', async (ctx) => {
  const d = dir(ctx);
  const gate = await holdGate(ctx.db, GATE);
  const run = startCli(['apply'], { cwd: d.dir, url: ctx.db.url });
  let killed: Array<{ pid: number; state: string; query: string }>;
  try {
    const inFlight = await midBatch(gate);
    killed = await terminate(ctx, `application_name = 'zsetup'`);
    assert.ok(
      killed.some((k) => k.pid === inFlight),
      `one of them was the batch in flight (pid ${inFlight}): ${JSON.stringify(killed)}`,
    );
  } finally {
    await gate.release();
  }
  const r = await run.done;
  assert.is(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /↻ 02_fill: retry 1 in [^:]+: .*terminat/);
  const runs = await runsOf(ctx.db);
  assert.is(runs.length, 2, 'the step ran again after the fault');
  assert.is(runs[1]!.started_from, AT, 'the retry started from the checkpoint');
  assert.match(r.stdout, new RegExp(`02_fill: starting from ${runs[1]!.started_from}\\n`));
  assert.equal(await counts(ctx.db), { n: TOTAL, distinct: TOTAL, max: TOTAL });
  const j = (await journal(ctx.db)).filter((e) => e.step === '02_fill');
  assert.equal(j.map((e) => e.event), ['started', 'done']);
  assert.ok(j.every((e) => ownerRe(run.child.pid!).test(e.owner)));
});

t.run();
