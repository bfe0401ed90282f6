/**
 * Waiting runs: while one apply works, the others say who holds the lock and since when
 * (on stderr, at most every few seconds), then find nothing to do and exit 0; with
 * `--lock-timeout 1s` they give up with exit 3. Ten applies at once with the holder
 * SIGKILLed mid-step: one waiter takes over and resumes, every other process exits 0,
 * and the work is done exactly once.
 */
import * as assert from 'uvu/assert';
import { startCli, dbEachSuite, dir as inScratch } from '../helpers.js';
import { CONFIG, counts, exitTime, fillConfig, holdGate, journal, killTimed, ownerRe, runsOf, waitFor } from './util.js';

const t = dbEachSuite('interrupt: waiting runs');

const TOTAL = 100_000;
const BATCH = 10_000;

t('waiters name the holder and since when, at most every few seconds, then exit 0 with nothing to do; --lock-timeout 1s exits 3', async (ctx) => {
  // The holder's fill waits at a gate past 20,000 rows (mid-step, holding the lock) until
  // every waiter was seen doing what this test checks; then it finishes.
  const gate = await holdGate(ctx.db, 7711);
  const d = inScratch(ctx, { [CONFIG]: fillConfig({ total: TOTAL, batch: BATCH, gate: { key: 7711, after: 20_000 } }) });
  const holder = startCli(['apply'], { cwd: d.dir, url: ctx.db.url, timeoutMs: 180_000 });
  try {
    await gate.waiting('the holder to wait at the gate');
    const pid = holder.child.pid!;
    const t0 = performance.now();
    const patient = Array.from({ length: 3 }, () => {
      const w = startCli(['apply'], { cwd: d.dir, url: ctx.db.url, timeoutMs: 180_000 });
      // Two waiting lines: it has waited long enough (3 s) to show how often it says so.
      const waited = waitFor(w.child, /waiting for lock held by[^\n]*\n[^]*waiting for lock held by[^\n]*\n/, 60_000);
      waited.catch(() => undefined); // awaited below
      return { ...w, exited: exitTime(w.child), waited };
    });
    const impatient = Array.from({ length: 2 }, () => startCli(['apply', '--lock-timeout', '1s'], { cwd: d.dir, url: ctx.db.url }).done);

    // A waiter told to stop while it waits: exits 143 at once, having written nothing.
    const stopped = startCli(['apply'], { cwd: d.dir, url: ctx.db.url });
    await waitFor(stopped.child, /waiting for lock held by/, 60_000);
    const { r: sr, ms: sms } = await killTimed(stopped, 'SIGTERM');
    console.log(`    SIGTERM to a waiting apply -> exit: ${sms.toFixed(0)} ms`);
    assert.is(sr.code, 143, sr.stdout + sr.stderr);
    // Not stopped by the signal, it would wait for the lock (held at the gate) until the cleanup deadline (10 s).
    assert.ok(sms < 5000, `a waiter exited ${sms.toFixed(0)} ms after SIGTERM`);
    assert.match(sr.stderr, /SIGTERM received/);

    for (const r of await Promise.all(impatient)) {
      assert.is(r.code, 3, r.stdout + r.stderr);
      assert.match(r.stderr, new RegExp(`could not acquire the advisory lock "zsetup" within 1 s: held by [^ ]*:${pid}:\\S+ since \\d{4}-`));
    }
    await Promise.all(patient.map((w) => w.waited));
    await gate.release();
    const h = await holder.done;
    assert.is(h.code, 0, h.stdout + h.stderr);
    for (const w of patient) {
      const r = await w.done;
      const waitedMs = (await w.exited) - t0;
      assert.is(r.code, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /Everything is up to date/);
      const lines = r.stderr.split('\n').filter((l) => l.startsWith('waiting for lock held by'));
      assert.ok(lines.length >= 2, `a waiter says it waits:\n${r.stderr}`);
      for (const l of lines) assert.match(l, new RegExp(`^waiting for lock held by [^ ]*:${pid}:\\S+ since \\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d(\\.\\d+)?Z \\(advisory lock; \\d+ s so far\\)$`));
      // Every few seconds (3 s), not on every poll: over the wait, one line per 3 s and the first.
      const most = Math.floor(waitedMs / 3000) + 1;
      assert.ok(lines.length <= most, `${lines.length} waiting lines in ${waitedMs.toFixed(0)} ms (at most ${most})`);
      const seconds = lines.map((l) => Number(/; (\d+) s so far/.exec(l)![1]));
      for (let i = 1; i < seconds.length; i++) assert.ok(seconds[i]! - seconds[i - 1]! >= 2, `waiting lines ${seconds.join(', ')} s: at most every few seconds`);
    }
  } finally {
    await gate.release();
  }
  assert.equal(await counts(ctx.db), { n: TOTAL, distinct: TOTAL, max: TOTAL });
  const owners = await ctx.db.query<{ n: number }>('SELECT count(DISTINCT owner)::int AS n FROM zsetup.journal');
  assert.is(owners[0]!.n, 1, 'only the holder wrote to the journal');
});

t('ten applies at once, the holder SIGKILLed mid-step: a waiter takes over and resumes, all others exit 0, the work is done once', async (ctx) => {
  // Whoever holds the lock stops at the gate after three batches; it is killed there.
  const gate = await holdGate(ctx.db, 7712);
  const d = inScratch(ctx, { [CONFIG]: fillConfig({ total: TOTAL, batch: BATCH, gate: { key: 7712, after: 3 * BATCH } }) });
  const runs = Array.from({ length: 10 }, () => startCli(['apply'], { cwd: d.dir, url: ctx.db.url, timeoutMs: 120_000 }));
  let victim: (typeof runs)[number] | undefined;
  try {
    await gate.waiting('the holder to wait at the gate past three batches');
    const started = (await journal(ctx.db)).find((e) => e.step === '02_fill' && e.event === 'started')!;
    victim = runs.find((r) => ownerRe(r.child.pid!).test(started.owner));
    assert.ok(victim, `the holder ${started.owner} is one of the ten`);
    victim!.child.kill('SIGKILL');
    await victim!.done;
  } finally {
    await gate.release();
  }
  const results = await Promise.all(runs.map((r) => r.done));

  const others = results.filter((_, i) => runs[i] !== victim);
  assert.is((await victim!.done).signal, 'SIGKILL');
  others.forEach((r, i) => assert.is(r.code, 0, `process ${i}: ${r.stdout}\n${r.stderr}`));
  const takers = others.filter((r) => /! 02_fill: left started by/.test(r.stdout));
  assert.is(takers.length, 1, 'exactly one waiter recovered the step');
  assert.match(takers[0]!.stdout, new RegExp(`left started by [^ ]*:${victim!.child.pid}:`));
  assert.is(others.filter((r) => /Everything is up to date/.test(r.stdout)).length, 8, 'the other eight had nothing to do');

  assert.equal(await counts(ctx.db), { n: TOTAL, distinct: TOTAL, max: TOTAL });
  const runRows = await runsOf(ctx.db);
  assert.is(runRows.length, 2, 'the fill step started twice: the victim, then the one that took over');
  assert.is(runRows[0]!.started_from, 0);
  assert.is(runRows[1]!.started_from, 3 * BATCH, 'resumed from the checkpoint before the gate');

  const j = await journal(ctx.db);
  assert.equal(
    j.map((e) => `${e.step}:${e.event}`),
    ['01_tables:started', '01_tables:done', '02_fill:started', '02_fill:interrupted', '02_fill:started', '02_fill:done'],
  );
  assert.match(j[3]!.error ?? '', ownerRe(victim!.child.pid!));
  assert.is(j[3]!.checkpoint, runRows[1]!.started_from);
  assert.ok(j.slice(3).every((e) => e.owner === j[3]!.owner), 'recovered, resumed and finished by one owner');
});

t.run();
