/**
 * Transient faults inside a step (serialization failure, deadlock): the step's
 * transaction rolls back and it is retried (a `↻` line), recorded `done` once, exit 0.
 * A fault that never goes away fails the step after `apply.retries` retries, recorded
 * `failed` with the cause chain, exit 1. Attempts are counted with a sequence, whose
 * nextval() survives the rollback of the attempt that called it.
 */
import * as assert from 'uvu/assert';
import { cli, dbSuite, dir as inScratch, HEADER, type DbCtx, type Scratch } from '../helpers.js';
import { CONFIG, journal } from './util.js';

type Ctx = DbCtx;
const t = dbSuite('interrupt: transient faults inside a step');

function dir(ctx: Ctx, schema: string, body: string, extra = ''): Scratch {
  return inScratch(ctx, {
    [CONFIG]: `${HEADER}export default defineConfig({ state: { schema: '${schema}' }, ${extra} steps: [
  step('01_setup', { sql: 'CREATE SCHEMA ${schema}_app; CREATE SEQUENCE ${schema}_app.attempts; CREATE TABLE ${schema}_app.effects (what text)' }),
  ${body}
] });`,
  });
}

/** A DO block that raises `code` on the first `failFor` attempts (all of them when 0). */
function flaky(schema: string, code: string, failFor: number): string {
  const cond = failFor === 0 ? 'true' : `nextval('${schema}_app.attempts') <= ${failFor}`;
  const count = failFor === 0 ? `PERFORM nextval('${schema}_app.attempts'); ` : '';
  return `DO $f$ BEGIN ${count}IF ${cond} THEN RAISE EXCEPTION 'simulated ${code === '40001' ? 'serialization failure' : 'deadlock'}' USING ERRCODE = '${code}'; END IF; END $f$`;
}

async function attempts(ctx: Ctx, schema: string): Promise<number> {
  const [r] = await ctx.db.query<{ n: number }>(`SELECT last_value::int AS n FROM ${schema}_app.attempts`);
  return r!.n;
}
async function effects(ctx: Ctx, schema: string): Promise<number> {
  const [r] = await ctx.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${schema}_app.effects`);
  return r!.n;
}
async function events(ctx: Ctx, schema: string, step: string): Promise<string[]> {
  return (await journal(ctx.db, schema)).filter((e) => e.step === step).map((e) => e.event);
}

t('an SQL step that hits a serialization failure once is retried, recorded done once, exit 0', async (ctx) => {
  const s = 'tr_sql';
  const d = dir(ctx, s, `step('02_flaky', { sql: ${JSON.stringify(`${flaky(s, '40001', 1)}; INSERT INTO ${s}_app.effects VALUES ('applied')`)} }),`);
  const r = await cli(['apply'], { cwd: d.dir, url: ctx.db.url });
  assert.is(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /↻ 02_flaky: retry 1 in [^:]+: .*simulated serialization failure \(SQLSTATE 40001\)/);
  assert.match(r.stdout, /✓ 02_flaky/);
  assert.is(await attempts(ctx, s), 2, 'two attempts');
  assert.is(await effects(ctx, s), 1, 'the work of the failed attempt rolled back; the retry did it once');
  assert.equal(await events(ctx, s, '02_flaky'), ['started', 'done']);
});

t('a function step (in a transaction) that hits a deadlock once is retried, recorded done once, exit 0', async (ctx) => {
  const s = 'tr_fn';
  const d = dir(ctx, s, `step('02_flaky', { run: async ({ db }) => { await db.raw(${JSON.stringify(flaky(s, '40P01', 1))}); await db.raw("INSERT INTO ${s}_app.effects VALUES ('applied')"); } }),`);
  const r = await cli(['apply', '--json'], { cwd: d.dir, url: ctx.db.url });
  assert.is(r.code, 0, r.stdout + r.stderr);
  const retries = r.json().filter((e) => e.type === 'step.retry');
  assert.is(retries.length, 1);
  assert.match(retries[0].error, /simulated deadlock/);
  assert.is(await attempts(ctx, s), 2);
  assert.is(await effects(ctx, s), 1);
  assert.equal(await events(ctx, s, '02_flaky'), ['started', 'done']);
});

t('a function step that wraps the transient error (Error with cause) is retried too', async (ctx) => {
  const s = 'tr_wrap';
  const d = dir(
    ctx,
    s,
    `step('02_flaky', { run: async ({ db }) => {
    try { await db.raw(${JSON.stringify(flaky(s, '40001', 1))}); }
    catch (err) { throw new Error('moving rows failed', { cause: err }); }
    await db.raw("INSERT INTO ${s}_app.effects VALUES ('applied')");
  } }),`,
  );
  const r = await cli(['apply'], { cwd: d.dir, url: ctx.db.url });
  assert.is(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /↻ 02_flaky: retry 1 in [^:]+: moving rows failed: .*simulated serialization failure \(SQLSTATE 40001\)/);
  assert.is(await attempts(ctx, s), 2);
  assert.is(await effects(ctx, s), 1);
  assert.equal(await events(ctx, s, '02_flaky'), ['started', 'done']);
});

t('a deadlock every time: failed after apply.retries (2) retries, with the cause chain, exit 1; nothing committed', async (ctx) => {
  const s = 'tr_always';
  const d = dir(
    ctx,
    s,
    `step('02_stuck', { run: async ({ db }) => {
    await db.raw("INSERT INTO ${s}_app.effects VALUES ('partial')");
    try { await db.raw(${JSON.stringify(flaky(s, '40P01', 0))}); }
    catch (err) { throw new Error('moving rows failed', { cause: err }); }
  } }),
  step('03_after', { sql: "INSERT INTO ${s}_app.effects VALUES ('after')" }),`,
    'apply: { retries: 2 },',
  );
  const t0 = Date.now();
  const r = await cli(['apply'], { cwd: d.dir, url: ctx.db.url });
  assert.is(r.code, 1, r.stdout + r.stderr);
  const lines = r.stdout.split('\n').filter((l) => l.includes('↻ 02_stuck'));
  // The backoff the run announced (not wall-clock time, which a loaded machine stretches).
  const waited = lines.map((l) => /retry \d+ in ([\d.]+) (ms|s)\b/.exec(l)).reduce((sum, m) => sum + (m ? Number(m[1]) * (m[2] === 's' ? 1000 : 1) : Infinity), 0);
  assert.ok(waited < 3000, `backoff stays short: ${waited} ms in all`);
  void t0;
  assert.equal(
    lines.map((l) => /retry (\d+)/.exec(l)?.[1]),
    ['1', '2'],
    r.stdout,
  );
  assert.match(r.stdout, /✗ 02_stuck: step "02_stuck" failed after 3 attempts: moving rows failed: .*simulated deadlock \(SQLSTATE 40P01\)/);
  assert.match(r.stdout, /- 03_after: not run: depends on failed step "02_stuck"/);
  assert.is(await attempts(ctx, s), 3, 'three attempts: the first and two retries');
  assert.is(await effects(ctx, s), 0, 'every attempt rolled back');
  const j = (await journal(ctx.db, s)).filter((e) => e.step === '02_stuck');
  assert.equal(j.map((e) => e.event), ['started', 'failed']);
  assert.match(j[1]!.error ?? '', /^moving rows failed: .*simulated deadlock \(SQLSTATE 40P01\)/, 'the record keeps the cause chain');
});

t.run();
