/**
 * A chain of SQL steps goes to the server a few steps per message (src/engine/train.ts),
 * and nothing a user sees changes: each step still has its `started` before it runs and its
 * `done` with its work; a failure mid-message leaves the steps before it done, the step
 * itself failed (or retried), and the steps after it untouched; progress lines come while
 * the message runs; SIGTERM and SIGKILL mid-message leave what a lone step leaves.
 */
import * as assert from 'uvu/assert';
import { cli, startCli, dbSuite, dir, type DbCtx } from '../helpers.js';
import { CONFIG, holdGate, journal, waitFor } from '../interrupt/util.js';

const t = dbSuite('trains of SQL steps');

const HEAD = `import { defineConfig, step } from 'zsetup';\n`;
const name = (i: number) => `s${String(i).padStart(2, '0')}`;
/** n steps s01..sNN, each after the one before; `sql(i)` overrides step i's SQL. */
function chain(n: number, schema: string, sql: (i: number) => string | undefined = () => undefined): string {
  const steps = Array.from({ length: n }, (_, k) => {
    const i = k + 1;
    return `  step(${JSON.stringify(name(i))}, { sql: ${JSON.stringify(sql(i) ?? `CREATE TABLE ${schema}_t${i} (id int)`)} }),`;
  });
  // The gate tests wait in a step: lock_timeout (apply.ddlLockTimeout) must outlast a loaded machine.
  return `${HEAD}export default defineConfig({ state: { schema: ${JSON.stringify(schema)} }, apply: { ddlLockTimeout: '120s' }, steps: [\n${steps.join('\n')}\n] });\n`;
}

const byStep = (rows: Array<{ step: string; event: string }>) => {
  const m = new Map<string, string[]>();
  for (const r of rows) m.set(r.step, [...(m.get(r.step) ?? []), r.event]);
  return m;
};

t('a failure at step 12 of 30: 1-11 done, 12 started then failed, 13-30 untouched; events in order; fixed, the next apply runs 12-30', async (ctx: DbCtx) => {
  const d = dir(ctx, { [CONFIG]: chain(30, 'tr_fail', (i) => (i === 12 ? 'INSERT INTO tr_missing VALUES (1)' : undefined)) });
  const a = await cli(['apply', '--json'], { cwd: d.dir, url: ctx.db.url });
  assert.is(a.code, 1, a.stdout + a.stderr);
  const events = a.json().filter((e) => typeof e.step === 'string');
  const seen: string[] = events.map((e) => `${e.type} ${e.step}`);
  // Every step that ran: started, then done (or failed), in the declared order.
  const expected = [
    ...Array.from({ length: 11 }, (_, k) => [`step.started ${name(k + 1)}`, `step.done ${name(k + 1)}`]).flat(),
    'step.started s12',
    'step.failed s12',
    ...Array.from({ length: 18 }, (_, k) => `step.blocked ${name(k + 13)}`),
  ];
  assert.equal(seen, expected);
  assert.match(events.find((e) => e.type === 'step.failed').error, /relation "tr_missing" does not exist/);
  const j = byStep(await journal(ctx.db, 'tr_fail'));
  for (let i = 1; i <= 11; i++) assert.equal(j.get(name(i)), ['started', 'done'], name(i));
  assert.equal(j.get('s12'), ['started', 'failed']);
  for (let i = 13; i <= 30; i++) assert.is(j.get(name(i)), undefined, `${name(i)} never ran`);
  const tables = await ctx.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_tables WHERE tablename LIKE 'tr_fail_t%'`);
  assert.is(tables[0]!.n, 11, 'the work of 1-11 committed, nothing after');

  await ctx.db.query('CREATE TABLE tr_missing (id int)');
  const b = await cli(['apply', '--json'], { cwd: d.dir, url: ctx.db.url });
  assert.is(b.code, 0, b.stdout + b.stderr);
  assert.equal(
    b.json().filter((e) => e.type === 'step.done').map((e) => e.step),
    Array.from({ length: 19 }, (_, k) => name(k + 12)),
  );
  const j2 = byStep(await journal(ctx.db, 'tr_fail'));
  assert.equal(j2.get('s12'), ['started', 'failed', 'started', 'done']);
  for (let i = 13; i <= 30; i++) assert.equal(j2.get(name(i)), ['started', 'done'], name(i));
});

t('a transient failure mid-chain is retried as a lone step would be (one started, one done), and the chain goes on', async (ctx: DbCtx) => {
  const d = dir(ctx, {
    [CONFIG]: chain(10, 'tr_retry', (i) =>
      i === 1
        ? 'CREATE SEQUENCE tr_tries'
        : i === 6
          ? "DO $$ BEGIN IF nextval('tr_tries') = 1 THEN RAISE EXCEPTION 'not this time' USING ERRCODE = '40001'; END IF; END $$"
          : undefined,
    ),
  });
  const a = await cli(['apply', '--json'], { cwd: d.dir, url: ctx.db.url });
  assert.is(a.code, 0, a.stdout + a.stderr);
  const retries = a.json().filter((e) => e.type === 'step.retry');
  assert.equal(retries.map((e) => e.step), ['s06']);
  assert.match(retries[0].error, /not this time/);
  assert.equal(a.json().filter((e) => e.type === 'step.done').map((e) => e.step), Array.from({ length: 10 }, (_, k) => name(k + 1)));
  const j = byStep(await journal(ctx.db, 'tr_retry'));
  for (let i = 1; i <= 10; i++) assert.equal(j.get(name(i)), ['started', 'done'], name(i));
});

t('progress while a message runs, several steps per message; SIGTERM mid-message: steps before done, the running one interrupted, none after', async (ctx: DbCtx) => {
  const key = 7301;
  const gate = await holdGate(ctx.db, key);
  try {
    const d = dir(ctx, { [CONFIG]: chain(12, 'tr_term', (i) => (i === 8 ? `SELECT pg_advisory_xact_lock_shared(${key})` : undefined)) });
    const run = startCli(['apply'], { cwd: d.dir, url: ctx.db.url });
    const s07done = waitFor(run.child, /✓ s07 /, 120_000);
    s07done.catch(() => undefined);
    const pid = await gate.waiting('step s08 waits at the gate');
    // s07 is reported done while s08 still runs, in the same message as s05..s07 (the
    // second part of a train: members 5 to 20).
    await s07done;
    const [activity] = await ctx.db.query<{ query: string }>('SELECT query FROM pg_stat_activity WHERE pid = $1', [pid]);
    assert.match(activity!.query, /tr_term_t5 \(id int\)/, 'the running message holds the steps before s08 too');
    run.child.kill('SIGTERM');
    const r = await run.done;
    assert.is(r.code, 143, r.stdout + r.stderr);
    assert.match(r.stdout, /■ s08: stopped/);
    const j = byStep(await journal(ctx.db, 'tr_term'));
    for (let i = 1; i <= 7; i++) assert.equal(j.get(name(i)), ['started', 'done'], name(i));
    assert.equal(j.get('s08'), ['started', 'interrupted']);
    for (let i = 9; i <= 12; i++) assert.is(j.get(name(i)), undefined, `${name(i)} never ran`);

    await gate.release();
    const b = await cli(['apply'], { cwd: d.dir, url: ctx.db.url });
    assert.is(b.code, 0, b.stdout + b.stderr);
    const j2 = byStep(await journal(ctx.db, 'tr_term'));
    for (let i = 8; i <= 12; i++) assert.equal(j2.get(name(i))?.slice(-2), ['started', 'done'], name(i));
  } finally {
    await gate.release();
  }
});

t('SIGKILL mid-message: the running step is left started, and the next apply recovers it and runs the rest', async (ctx: DbCtx) => {
  const key = 7302;
  const gate = await holdGate(ctx.db, key);
  try {
    const d = dir(ctx, { [CONFIG]: chain(9, 'tr_kill', (i) => (i === 6 ? `SELECT pg_advisory_xact_lock_shared(${key})` : undefined)) });
    const run = startCli(['apply'], { cwd: d.dir, url: ctx.db.url });
    await gate.waiting('step s06 waits at the gate');
    run.child.kill('SIGKILL');
    const r = await run.done;
    assert.is(r.signal, 'SIGKILL');
    const j = byStep(await journal(ctx.db, 'tr_kill'));
    for (let i = 1; i <= 5; i++) assert.equal(j.get(name(i)), ['started', 'done'], name(i));
    assert.equal(j.get('s06'), ['started']);
    assert.is(j.get('s07'), undefined);
    await gate.release();
    const b = await cli(['apply'], { cwd: d.dir, url: ctx.db.url });
    assert.is(b.code, 0, b.stdout + b.stderr);
    assert.match(b.stdout, /! s06: left started by [^ ]*:\d+:[^ ]* at .*; that run is gone, recorded interrupted/);
    const j2 = byStep(await journal(ctx.db, 'tr_kill'));
    assert.equal(j2.get('s06'), ['started', 'interrupted', 'started', 'done']);
    for (let i = 7; i <= 9; i++) assert.equal(j2.get(name(i)), ['started', 'done'], name(i));
  } finally {
    await gate.release();
  }
});

t('a syntax error in one step of a part: the steps before it are applied, the error is its own, the rest not run', async (ctx: DbCtx) => {
  // s07 sits in the second part (members 5-20): the server refuses that whole message.
  const d = dir(ctx, { [CONFIG]: chain(10, 'tr_syntax', (i) => (i === 7 ? 'CREATE TABLE tr_syntax_bad (id int' : undefined)) });
  const a = await cli(['apply', '--json'], { cwd: d.dir, url: ctx.db.url });
  assert.is(a.code, 1, a.stdout + a.stderr);
  const ev = a.json();
  assert.equal(ev.filter((e) => e.type === 'step.done').map((e) => e.step), ['s01', 's02', 's03', 's04', 's05', 's06']);
  const failed = ev.filter((e) => e.type === 'step.failed');
  assert.equal(failed.map((e) => e.step), ['s07']);
  assert.match(failed[0].error, /syntax error/);
  const j = byStep(await journal(ctx.db, 'tr_syntax'));
  assert.equal(j.get('s07'), ['started', 'failed']);
  for (let i = 8; i <= 10; i++) assert.is(j.get(name(i)), undefined);
});

t('--deadline during a part: no step begins after the stop but the one that began as it came (recorded interrupted)', async (ctx: DbCtx) => {
  const d = dir(ctx, { [CONFIG]: chain(40, 'tr_deadline', (i) => (i > 1 ? `SELECT pg_sleep(0.2)` : undefined)) });
  const a = await cli(['apply', '--json', '--deadline', '6s'], { cwd: d.dir, url: ctx.db.url, timeoutMs: 120_000 });
  assert.is(a.code, 143, a.stdout + a.stderr);
  const ev = a.json();
  const stop = ev.findIndex((e) => e.type === 'run.stopping');
  assert.ok(stop > 0, 'the deadline stopped the run');
  const startedAfter = ev.slice(stop).filter((e) => e.type === 'step.started').map((e) => e.step);
  assert.ok(startedAfter.length <= 1, `at most the step that began as the stop came: ${startedAfter}`);
  for (const s of startedAfter) assert.ok(ev.some((e) => e.type === 'step.interrupted' && e.step === s), `${s} interrupted`);
  const done = ev.filter((e) => e.type === 'step.done').length;
  assert.ok(done >= 1 && done < 40, `${done} done before the deadline`);
  const j = byStep(await journal(ctx.db, 'tr_deadline'));
  for (const [step, events] of j) assert.ok(events.at(-1) === 'done' || events.at(-1) === 'interrupted', `${step}: ${events}`);
});

t('with apply.concurrency 2, a step beside a chain starts as soon as it is ready, not after the chain', async (ctx: DbCtx) => {
  const chainSteps = Array.from({ length: 12 }, (_, k) => `  step('b${String(k + 1).padStart(2, '0')}', { sql: 'SELECT pg_sleep(0.1)'${k === 0 ? ", after: ['a']" : ''} }),`).join('\n');
  const d = dir(ctx, {
    [CONFIG]: `${HEAD}export default defineConfig({ state: { schema: 'tr_conc' }, apply: { concurrency: 2 }, steps: [
  step('a', { sql: 'SELECT 1' }),
${chainSteps}
  step('x', { sql: 'SELECT pg_sleep(0.1)', after: ['a'] }),
] });\n`,
  });
  const r = await cli(['apply', '--json'], { cwd: d.dir, url: ctx.db.url });
  assert.is(r.code, 0, r.stdout + r.stderr);
  const seen = r.json().map((e) => `${e.type} ${e.step}`);
  assert.ok(seen.indexOf('step.started x') < seen.indexOf('step.done b06'), seen.join('\n'));
});

t.run();
