/**
 * Failures a run meets: an unreachable database (exit 5), a step whose SQL fails (exit 1,
 * recorded failed, dependants not run, retried by the next apply), a transactional step
 * that fails half-way (nothing left behind), and a non-transactional step
 * (CREATE INDEX CONCURRENTLY) that works outside a transaction.
 */
import * as assert from 'uvu/assert';
import { cli, HEADER, type TestDb, dbSuite, type DbCtx, dir } from '../helpers.js';

type Ctx = DbCtx;
const t = dbSuite('failures');

const STACK = /^\s+at .+:\d+:\d+\)?$/m;


const rows = (db: TestDb, sql: string) => db.query<Record<string, any>>(sql);

t('database unreachable: names host and port after the deadline, no stack trace, exit 5', async (ctx) => {
  const d = dir(ctx, { 'zsetup.config.ts': `${HEADER}export default defineConfig({ steps: [step('01', { sql: 'SELECT 1' })] });` });
  for (const cmd of ['apply', 'plan', 'status']) {
    const t0 = Date.now();
    const r = await cli([cmd, '--connect-timeout', '1s'], { cwd: d.dir, url: 'postgres://someone@127.0.0.1:1/nowhere' });
    const took = Date.now() - t0;
    assert.is(r.code, 5, `${cmd}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, /cannot reach PostgreSQL at 127\.0\.0\.1:1\b/, `${cmd}: ${r.stderr}`);
    assert.not.match(r.stdout + r.stderr, STACK, `${cmd}: no stack trace:\n${r.stdout}${r.stderr}`);
    assert.not.match(r.stdout + r.stderr, /internal error/);
    assert.ok(took >= 900, `${cmd} retried until the deadline (${took} ms)`);
    assert.ok(took < 8000, `${cmd} gave up soon after the 1 s deadline (${took} ms)`);
  }
  // --json: stdout stays line-delimited JSON, and the error is one object.
  const j = await cli(['apply', '--json', '--connect-timeout', '1s'], { cwd: d.dir, url: 'postgres://someone@127.0.0.1:1/nowhere' });
  assert.is(j.code, 5);
  const objs = j.json();
  const err = objs.find((o) => o.type === 'error');
  assert.is(err?.status, 'unreachable');
  assert.match(err.message, /127\.0\.0\.1:1\b/);
  assert.not.match(j.stdout + j.stderr, STACK);
});

t('a failing step: recorded failed with the database message, dependants not run, exit 1; retried until fixed', async (ctx) => {
  const d = dir(ctx, {
    'zsetup.config.ts': `${HEADER}export default defineConfig({ state: { schema: 'zs_fail' }, steps: [
  step('01_base', { sql: 'CREATE TABLE base (id int)' }),
  step('02_needs', { sql: 'INSERT INTO needed VALUES (2)' }),
  step('03_after_needs', { sql: 'INSERT INTO base VALUES (3)' }),
  step('04_independent', { sql: 'INSERT INTO base VALUES (4)', after: ['01_base'] }),
] });`,
  });
  const run = (args: string[]) => cli(args, { cwd: d.dir, url: ctx.db.url });
  const a = await run(['apply']);
  assert.is(a.code, 1, a.stdout + a.stderr);
  const out = a.stdout + a.stderr;
  assert.match(out, /02_needs/);
  assert.match(out, /relation "needed" does not exist/);
  assert.not.match(out, STACK, out);
  assert.match(a.stdout, /03_after_needs: not run: depends on failed step "02_needs"/);

  const journal = await rows(ctx.db, 'SELECT step, event, error FROM zs_fail.journal ORDER BY id');
  const failed = journal.filter((r) => r.event === 'failed');
  assert.is(failed.length, 1, JSON.stringify(journal));
  assert.is(failed[0]!.step, '02_needs');
  assert.match(failed[0]!.error, /relation "needed" does not exist/);
  assert.is(journal.filter((r) => r.step === '03_after_needs').length, 0, 'the dependant was not started');
  assert.equal(journal.filter((r) => r.step === '04_independent').map((r) => r.event), ['started', 'done'], 'an independent branch still runs');
  assert.equal((await rows(ctx.db, 'SELECT id FROM base ORDER BY id')).map((r) => r.id), [4]);

  // status shows it, with the error
  const s = await run(['status', '--json']);
  const st = Object.fromEntries(s.json().map((x) => [x.step, x]));
  assert.is(st['02_needs'].state, 'failed');
  assert.match(st['02_needs'].error, /relation "needed" does not exist/);
  assert.is(st['03_after_needs'].state, 'pending');

  // plan says it will retry, and why
  const p = await run(['plan', '--json']);
  const pl = Object.fromEntries(p.json().map((x) => [x.step, x]));
  assert.is(pl['02_needs'].action, 'run');
  assert.match(pl['02_needs'].reason, /previous attempt failed .*relation "needed" does not exist/);

  // Not fixed yet: retried, fails again.
  const b = await run(['apply']);
  assert.is(b.code, 1, b.stdout + b.stderr);
  const [n] = await rows(ctx.db, `SELECT count(*)::int AS n FROM zs_fail.journal WHERE step = '02_needs' AND event = 'failed'`);
  assert.is(n!.n, 2);

  // Fixed by hand: the next apply runs the failed step and its dependant, nothing else.
  await ctx.db.query('CREATE TABLE needed (id int)');
  const c = await run(['apply']);
  assert.is(c.code, 0, c.stdout + c.stderr);
  assert.match(c.stdout, /✓ 02_needs/);
  assert.match(c.stdout, /✓ 03_after_needs/);
  assert.not.match(c.stdout, /✓ 01_base|✓ 04_independent/);
  assert.equal((await rows(ctx.db, 'SELECT id FROM base ORDER BY id')).map((r) => r.id), [3, 4]);
  assert.equal((await rows(ctx.db, 'SELECT id FROM needed')).map((r) => r.id), [2]);
});

t("a failing step from an SQL file succeeds once the file is corrected", async (ctx) => {
  const d = dir(ctx, {
    'zsetup.config.ts': `${HEADER}export default defineConfig({ state: { schema: 'zs_file' }, steps: [
  step('01_file', { sql: file('sql/01.sql') }),
  step('02_after', { sql: 'INSERT INTO from_file VALUES (2)' }),
] });`,
    'sql/01.sql': 'CREATE TABLE from_file (id int);\nINSRT INTO from_file VALUES (1);\n',
  });
  const run = (args: string[]) => cli(args, { cwd: d.dir, url: ctx.db.url });
  const a = await run(['apply']);
  assert.is(a.code, 1, a.stdout + a.stderr);
  assert.match(a.stdout + a.stderr, /01_file.*syntax error at or near "INSRT"/);
  const [exists] = await rows(ctx.db, `SELECT to_regclass('public.from_file') IS NOT NULL AS e`);
  assert.is(exists!.e, false, 'the CREATE TABLE before the error was rolled back with it');

  d.write({ 'sql/01.sql': 'CREATE TABLE from_file (id int);\nINSERT INTO from_file VALUES (1);\n' });
  const b = await run(['apply']);
  assert.is(b.code, 0, b.stdout + b.stderr);
  assert.equal((await rows(ctx.db, 'SELECT id FROM from_file ORDER BY id')).map((r) => r.id), [1, 2]);
  const ev = await rows(ctx.db, `SELECT event FROM zs_file.journal WHERE step = '01_file' ORDER BY id`);
  assert.equal(ev.map((r) => r.event), ['started', 'failed', 'started', 'done']);
});

t('a transactional step that fails leaves nothing behind (SQL and function steps)', async (ctx) => {
  const d = dir(ctx, {
    'zsetup.config.ts': `${HEADER}export default defineConfig({ state: { schema: 'zs_tx' }, steps: [
  step('01_sql_half', { sql: "CREATE TABLE half_sql (id int); INSERT INTO half_sql VALUES (1); SELECT 1/0;", after: [] }),
  step('02_fn_half', { after: [], run: async ({ db }) => {
    await db.raw('CREATE TABLE half_fn (id int)');
    await db.raw('INSERT INTO half_fn VALUES (1)');
    throw new Error('the function gave up');
  } }),
] });`,
  });
  const a = await cli(['apply'], { cwd: d.dir, url: ctx.db.url });
  assert.is(a.code, 1, a.stdout + a.stderr);
  assert.match(a.stdout + a.stderr, /division by zero/);
  assert.match(a.stdout + a.stderr, /the function gave up/);
  const left = await rows(ctx.db, `SELECT to_regclass('public.half_sql') AS s, to_regclass('public.half_fn') AS f`);
  assert.equal(left[0], { s: null, f: null }, 'partial work rolled back');
  const ev = await rows(ctx.db, `SELECT step, event FROM zs_tx.journal ORDER BY id`);
  assert.not.ok(ev.some((r) => r.event === 'done'), JSON.stringify(ev));
  assert.is(ev.filter((r) => r.event === 'failed').length, 2);
  // No idle-in-transaction connection was left behind either: a fresh apply sees the same.
  const b = await cli(['apply'], { cwd: d.dir, url: ctx.db.url });
  assert.is(b.code, 1);
});

t('transaction: false runs CREATE INDEX CONCURRENTLY', async (ctx) => {
  const d = dir(ctx, {
    'zsetup.config.ts': `${HEADER}export default defineConfig({ state: { schema: 'zs_conc' }, steps: [
  step('01_table', { sql: 'CREATE TABLE idx_t (id int, name text); INSERT INTO idx_t SELECT g, g::text FROM generate_series(1, 1000) g' }),
  step('02_index', { transaction: false, sql: \`
    CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_t_id ON idx_t (id);
    CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_t_name ON idx_t (name);
  \` }),
  step('03_after', { sql: 'INSERT INTO idx_t VALUES (0, \\'after\\')' }),
] });`,
  });
  const a = await cli(['apply'], { cwd: d.dir, url: ctx.db.url });
  assert.is(a.code, 0, a.stdout + a.stderr);
  const idx = await rows(
    ctx.db,
    `SELECT c.relname, i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = 'idx_t'::regclass ORDER BY 1`,
  );
  assert.equal(idx, [
    { relname: 'idx_t_id', indisvalid: true },
    { relname: 'idx_t_name', indisvalid: true },
  ]);
  const ev = await rows(ctx.db, `SELECT step, event FROM zs_conc.journal ORDER BY id`);
  assert.equal(ev.filter((r) => r.event === 'done').map((r) => r.step), ['01_table', '02_index', '03_after']);
  // Same statement inside a transaction fails the way PostgreSQL says, and is reported.
  d.write({
    'zsetup.config.ts': `${HEADER}export default defineConfig({ state: { schema: 'zs_conc' }, steps: [
  step('04_index_in_tx', { sql: 'CREATE INDEX CONCURRENTLY idx_t_both ON idx_t (id, name)' }),
] });`,
  });
  const b = await cli(['apply'], { cwd: d.dir, url: ctx.db.url });
  assert.is(b.code, 1, b.stdout + b.stderr);
  assert.match(b.stdout + b.stderr, /CREATE INDEX CONCURRENTLY cannot run inside a transaction block/);
});

t('a checkpoint value a resumed run could not get back (undefined, NaN, BigInt, a cycle, NaN or a Date inside an object) fails the step at the first save, naming it', async (ctx) => {
  const cases: Array<[string, RegExp]> = [
    ['undefined', /the value is undefined, which a resumed run could not get back/],
    ['NaN', /the value is NaN, which a resumed run could not get back/],
    ['10n', /the value is not JSON \(Do not know how to serialize a BigInt\)/],
    ['(() => { const o: any = {}; o.self = o; return o; })()', /the value is not JSON \(Converting circular structure/],
    ['{ lastId: NaN, page: 2 }', /the value would come back different from JSON \(as \{"lastId":null,"page":2\}\)/],
    ["{ at: new Date('2026-01-01T00:00:00Z') }", /the value would come back different from JSON \(as \{"at":"2026-01-01T00:00:00.000Z"\}\)/],
  ];
  for (const [i, [value, message]] of cases.entries()) {
    const d = dir(ctx, {
      'zsetup.config.ts': `${HEADER}export default defineConfig({ state: { schema: 'zs_cp${i}' }, steps: [
  step('01_table', { sql: 'CREATE TABLE IF NOT EXISTS cp${i} (id int)' }),
  step('02_fill', { resumable: true, run: async (ctx) => {
    await ctx.db.transaction(async (trx) => {
      await trx.raw('INSERT INTO cp${i} VALUES (1)');
      await ctx.saveCheckpoint(trx, ${value});
    });
  } }),
] });`,
    });
    const r = await cli(['apply'], { cwd: d.dir, url: ctx.db.url });
    assert.is(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout + r.stderr, /step "02_fill": saveCheckpoint\(trx, value\)/);
    assert.match(r.stdout + r.stderr, message);
    assert.not.match(r.stdout + r.stderr, STACK);
    const [n] = await rows(ctx.db, `SELECT count(*)::int AS n FROM cp${i}`);
    assert.is(n!.n, 0, 'the batch rolled back');
  }
});

t.run();
