/**
 * The lease lock with a paused holder: `lock: { kind: 'lease', leaseTtl: '1s' }`, the
 * apply SIGSTOPped mid-step. Once its lease expires another apply takes it over (token
 * bumped), recovers the step and finishes it. SIGCONT the first: its heartbeat finds the
 * lease taken and its fence fails, so it commits nothing (no batch, no checkpoint, no
 * record) and exits 143; every row exactly once, the last record `done` by the second.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { cli, createDb, scratch, startCli, type TestDb } from '../helpers.js';
import { CONFIG, GATE_QUERY, checkpointOf, counts, exitTime, fillConfig, holdGate, journal, ownerRe, runsOf, until, waitFor } from './util.js';

type Scratch = ReturnType<typeof scratch>;
interface Ctx {
  db: TestDb;
  dirs: Scratch[];
  paused?: number | undefined;
}

const t = suite<Ctx>('interrupt: lease lock, holder paused with SIGSTOP');
t.before((ctx) => {
  ctx.dirs = [];
});
t.before.each(async (ctx) => {
  ctx.db = await createDb();
});
t.after.each(async (ctx) => {
  // Never leave a stopped process behind, even when an assertion failed.
  if (ctx.paused) {
    try {
      process.kill(ctx.paused, 'SIGKILL');
    } catch {
      // already gone
    }
    ctx.paused = undefined;
  }
  await ctx.db.drop();
});
t.after((ctx) => {
  for (const d of ctx.dirs) d.remove();
});

const TOTAL = 20_000;
const BATCH = 1_000;
const GATE = 7731;
/** The config of the apply that takes the lease over. */
const SECOND = 'second.config.mjs';

/**
 * Start an apply of a lease-locked fill whose batch after row 3,000 waits at the test's
 * gate (`where`: before its fence, or after it); SIGSTOP it there, then open the gate, so
 * that the batch's statement ends and its transaction stays open, as a process stopped
 * mid-batch leaves it. `ctx.paused` lets the suite kill it whatever happens.
 */
async function startThenPause(ctx: Ctx, where: 'inBatch' | 'afterCheckpoint', what: string) {
  const d = scratch({
    [CONFIG]: fillConfig({ total: TOTAL, batch: BATCH, gate: { key: GATE, after: 3000, where }, extra: "lock: { kind: 'lease', leaseTtl: '1s' }," }),
    // The run that takes over: the same steps with a lease that a machine under load still
    // renews in time (its heartbeat is every third of it; 1 s lost it under two CPU hogs).
    [SECOND]: fillConfig({ total: TOTAL, batch: BATCH, gate: { key: GATE, after: 3000, where }, extra: "lock: { kind: 'lease', leaseTtl: '10s' }," }),
  });
  ctx.dirs.push(d);
  const gate = await holdGate(ctx.db, GATE);
  const first = startCli(['apply'], { cwd: d.dir, url: ctx.db.url, timeoutMs: 120_000 });
  try {
    await gate.waiting(what);
    first.child.kill('SIGSTOP');
    ctx.paused = first.child.pid!;
  } finally {
    await gate.release();
  }
  await until(
    async () => (await ctx.db.query(`SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'zsetup' AND state = 'idle in transaction' AND query = $1`, [GATE_QUERY])).length > 0,
    30_000,
    `${what}: its transaction open, its statement done`,
  );
  return { d, first };
}

/** Resolve once the lease has expired (its holder is stopped: no heartbeat renews it). */
function leaseExpired(ctx: Ctx): Promise<unknown> {
  return until(async () => (await ctx.db.query(`SELECT 1 FROM zsetup.lease WHERE expires_at < clock_timestamp()`)).length > 0, 30_000, 'the lease to expire');
}

t('SIGSTOP the holder; a second apply takes the expired lease over and finishes; SIGCONT: the first commits nothing and exits 143', async (ctx) => {
  // Stopped in a batch before its fence (not between its fence and its commit: see the next test).
  const { d, first } = await startThenPause(ctx, 'inBatch', 'a batch before its fence');
  const [lease1] = await ctx.db.query<{ owner: string; token: string }>(`SELECT owner, token FROM zsetup.lease`);
  assert.match(lease1!.owner, ownerRe(first.child.pid!));
  await leaseExpired(ctx);
  const cpPaused = (await checkpointOf(ctx.db))!;

  const second = await cli(['apply', '--config', SECOND], { cwd: d.dir, url: ctx.db.url, timeoutMs: 30_000 });
  assert.is(second.code, 0, second.stdout + second.stderr);
  assert.match(second.stdout, new RegExp(`! 02_fill: left started by [^ ]*:${first.child.pid}:`));
  assert.match(second.stdout, new RegExp(`02_fill: starting from ${cpPaused}\\n`));
  const [lease2] = await ctx.db.query<{ owner: string | null; token: string }>(`SELECT owner, token FROM zsetup.lease`);
  assert.is(Number(lease2!.token), Number(lease1!.token) + 1, 'the takeover bumped the fencing token');
  assert.equal(await counts(ctx.db), { n: TOTAL, distinct: TOTAL, max: TOTAL });
  const before = await journal(ctx.db);

  first.child.kill('SIGCONT');
  ctx.paused = undefined;
  const r = await first.done;
  assert.is(r.code, 143, `the paused run stops as having lost its lock:\n${r.stdout}\n${r.stderr}`);
  assert.match(r.stderr, /lock lost: (the lease "zsetup" was taken over|.*no longer holds the run lock)/);

  assert.equal(await counts(ctx.db), { n: TOTAL, distinct: TOTAL, max: TOTAL }, 'the resumed holder committed no batch');
  assert.is(await checkpointOf(ctx.db), undefined, 'nor a checkpoint');
  const after = await journal(ctx.db);
  assert.equal(after, before, 'nor a journal record');
  const last = after.filter((e) => e.step === '02_fill').at(-1)!;
  assert.is(last.event, 'done');
  assert.not.match(last.owner, ownerRe(first.child.pid!));
  assert.equal((await runsOf(ctx.db)).map((x) => x.started_from), [0, cpPaused]);
  const [lease3] = await ctx.db.query<{ token: string }>(`SELECT token FROM zsetup.lease`);
  assert.is(lease3!.token, lease2!.token, "the first run's release did not touch the new token's lease");
});

t('SIGSTOP the holder between its fence and its commit: a second apply cannot take over, and says so within its --lock-timeout (exit 3), not hang', async (ctx) => {
  // Stopped in a batch after its checkpoint (after the fence's FOR SHARE on the lease row),
  // before it commits.
  const { d, first } = await startThenPause(ctx, 'afterCheckpoint', 'a batch between its fence and its commit');
  const [inFence] = await ctx.db.query<{ n: number }>(
    // The batch: its transaction wrote (an xid) and its last statement is the gate after the
    // fence. (A lease heartbeat caught mid-transaction by the SIGSTOP may show up as well.)
    `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'zsetup' AND xact_start IS NOT NULL AND backend_xid IS NOT NULL AND query = $1`,
    [GATE_QUERY],
  );
  assert.is(inFence!.n, 1, 'the paused run has a batch open (its fence passed, not committed)');
  await leaseExpired(ctx);

  // Timed from its first "waiting for lock" line, written after its first attempt (which the
  // paused batch's row lock blocks for at most a second): start-up on a busy machine is not
  // part of --lock-timeout. Hung, it would never write that line, or never exit after it.
  const second = startCli(['apply', '--lock-timeout', '3s'], { cwd: d.dir, url: ctx.db.url, timeoutMs: 60_000 });
  const exited = exitTime(second.child);
  const saidWaiting = waitFor(second.child, /waiting for lock held by/, 30_000).then(() => performance.now());
  saidWaiting.catch(() => undefined); // awaited below
  const r = await second.done;
  const t0 = await saidWaiting.catch((err: Error) => assert.unreachable(`${err.message}\n${r.stdout}${r.stderr}`));
  const ms = (await exited) - t0;
  console.log(`    lease taker blocked by a paused holder's fence, --lock-timeout 3s: exit ${r.code ?? r.signal} after ${ms.toFixed(0)} ms`);
  assert.is(r.signal, null, `the second apply hung (killed after ${ms.toFixed(0)} ms):\n${r.stdout}\n${r.stderr}`);
  assert.is(r.code, 3, r.stdout + r.stderr);
  assert.ok(ms < 6000, `gave up ${ms.toFixed(0)} ms after it first said it waits (--lock-timeout 3s)`);
  console.log(`    ${r.stderr.split('\n').find((l) => l.includes('could not acquire'))}`);
  // Its lease has expired, but its open transaction still holds the fence: the message says so.
  assert.match(r.stderr, new RegExp(`could not acquire the lease "zsetup" within 3 s: held by ([^ ]*:${first.child.pid}:|a run paused or stuck between its fence and its commit)`));

  // Nobody took over: the first run goes on and finishes once resumed.
  first.child.kill('SIGCONT');
  ctx.paused = undefined;
  const a = await first.done;
  console.log(`    the paused holder, resumed: exit ${a.code}`);
  if (a.code !== 0) {
    // It may also find its lease expired at its next fence and stop (143) without committing:
    // then the next apply finishes the work.
    assert.is(a.code, 143, a.stdout + a.stderr);
    const b = await cli(['apply'], { cwd: d.dir, url: ctx.db.url });
    assert.is(b.code, 0, b.stdout + b.stderr);
  }
  assert.equal(await counts(ctx.db), { n: TOTAL, distinct: TOTAL, max: TOTAL });
});

t.run();
