/**
 * Waiting runs: while one apply works, the others say who holds the lock and since when
 * (on stderr, at most every few seconds), then find nothing to do and exit 0; with
 * `--lock-timeout 1s` they give up with exit 3. Ten applies at once with the holder
 * SIGKILLed mid-step: one waiter takes over and resumes, every other process exits 0,
 * and the work is done exactly once.
 */
import * as assert from 'uvu/assert';
import { startCli, dbEachSuite, type DbCtx, type Scratch, dir as inScratch } from '../helpers.js';
import { checkpointOf, counts, exitTime, fillConfig, journal, killTimed, ownerRe, runsOf, sleep, until, waitFor } from './util.js';

type Ctx = DbCtx;
const t = dbEachSuite('interrupt: waiting runs');

const TOTAL = 300_000;
const BATCH = 10_000;

function dir(ctx: Ctx, inBatchSql: string): Scratch {
  return inScratch(ctx, { 'zsetup.config.ts': fillConfig({ total: TOTAL, batch: BATCH, inBatchSql }) });
}

t('waiters name the holder and since when, at most every few seconds, then exit 0 with nothing to do; --lock-timeout 1s exits 3', async (ctx) => {
  // About 6 s of work.
  const d = dir(ctx, 'SELECT pg_sleep(0.2)');
  const holder = startCli(['apply'], { cwd: d.dir, url: ctx.db.url });
  await waitFor(holder.child, /committed 20000\n/);
  const pid = holder.child.pid!;
  const t0 = performance.now();
  const patient = Array.from({ length: 3 }, () => {
    const w = startCli(['apply'], { cwd: d.dir, url: ctx.db.url });
    return { ...w, exited: exitTime(w.child) };
  });
  const impatient = Array.from({ length: 2 }, () => startCli(['apply', '--lock-timeout', '1s'], { cwd: d.dir, url: ctx.db.url }).done);

  // A waiter told to stop while it waits: exits 143 at once, having written nothing.
  const stopped = startCli(['apply'], { cwd: d.dir, url: ctx.db.url });
  await waitFor(stopped.child, /waiting for lock held by/);
  const { r: sr, ms: sms } = await killTimed(stopped, 'SIGTERM');
  console.log(`    SIGTERM to a waiting apply -> exit: ${sms.toFixed(0)} ms`);
  assert.is(sr.code, 143, sr.stdout + sr.stderr);
  assert.ok(sms < 1500, `a waiter exited ${sms.toFixed(0)} ms after SIGTERM`);
  assert.match(sr.stderr, /SIGTERM received/);

  for (const r of await Promise.all(impatient)) {
    assert.is(r.code, 3, r.stdout + r.stderr);
    assert.match(r.stderr, new RegExp(`could not acquire the advisory lock "zsetup" within 1 s: held by [^ ]*:${pid}:\\S+ since \\d{4}-`));
  }
  const h = await holder.done;
  assert.is(h.code, 0, h.stdout + h.stderr);
  for (const w of patient) {
    const r = await w.done;
    const waitedMs = (await w.exited) - t0;
    assert.is(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /Everything is up to date/);
    const lines = r.stderr.split('\n').filter((l) => l.startsWith('waiting for lock held by'));
    assert.ok(lines.length >= 1, `a waiter says it waits:\n${r.stderr}`);
    for (const l of lines) assert.match(l, new RegExp(`^waiting for lock held by [^ ]*:${pid}:\\S+ since \\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d(\\.\\d+)?Z \\(advisory lock; \\d+ s so far\\)$`));
    // Every few seconds (3 s), not on every poll: over the wait, one line per 3 s and the first.
    const most = Math.floor(waitedMs / 3000) + 1;
    assert.ok(lines.length <= most, `${lines.length} waiting lines in ${waitedMs.toFixed(0)} ms (at most ${most})`);
    const seconds = lines.map((l) => Number(/; (\d+) s so far/.exec(l)![1]));
    for (let i = 1; i < seconds.length; i++) assert.ok(seconds[i]! - seconds[i - 1]! >= 2, `waiting lines ${seconds.join(', ')} s: at most every few seconds`);
  }
  assert.equal(await counts(ctx.db), { n: TOTAL, distinct: TOTAL, max: TOTAL });
  const owners = await ctx.db.query<{ n: number }>('SELECT count(DISTINCT owner)::int AS n FROM zsetup.journal');
  assert.is(owners[0]!.n, 1, 'only the holder wrote to the journal');
});

t('ten applies at once, the holder SIGKILLed mid-step: a waiter takes over and resumes, all others exit 0, the work is done once', async (ctx) => {
  const d = dir(ctx, 'SELECT pg_sleep(0.05)');
  const runs = Array.from({ length: 10 }, () => startCli(['apply'], { cwd: d.dir, url: ctx.db.url, timeoutMs: 50_000 }));
  // Wait until the fill step has committed a few batches, then find who runs it.
  await until(async () => ((await checkpointOf(ctx.db).catch(() => undefined)) ?? 0) >= 3 * BATCH, 30_000, 'the holder to commit three batches');
  const started = (await journal(ctx.db)).find((e) => e.step === '02_fill' && e.event === 'started')!;
  const victim = runs.find((r) => ownerRe(r.child.pid!).test(started.owner));
  assert.ok(victim, `the holder ${started.owner} is one of the ten`);
  victim!.child.kill('SIGKILL');
  await sleep(0);
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
  assert.ok(runRows[1]!.started_from >= 3 * BATCH, `resumed from ${runRows[1]!.started_from}`);

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
