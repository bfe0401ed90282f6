/**
 * Concurrency: ten `apply` processes at once on non-idempotent steps (each step runs
 * exactly once, every process exits 0), and `--concurrency` running independent branches
 * at once, where a failure stops only its own branch.
 */
import * as assert from 'uvu/assert';
import pg from 'pg';
import { cli, startCli, HEADER, type TestDb, dbSuite, type DbCtx, dir } from '../helpers.js';
import { CONFIG, until, waitFor } from '../interrupt/util.js';

type Ctx = DbCtx;
const t = dbSuite('concurrency');


t('ten applies at once: each non-idempotent step runs exactly once; all exit 0', async (ctx) => {
  const d = dir(ctx, {
    [CONFIG]: `${HEADER}export default defineConfig({ steps: [
  step('01_a', { sql: 'CREATE TABLE a (id int)' }),
  step('02_log', { sql: 'CREATE TABLE log (what text)' }),
  step('03_insert', { sql: "INSERT INTO log VALUES ('step3')" }),
  step('04_slow', { sql: "SELECT pg_sleep(0.3); INSERT INTO log VALUES ('step4')" }),
  step('05_fn', { run: async ({ db }) => { await db('log').insert({ what: 'step5' }); } }),
] });`,
  });
  const runs = Array.from({ length: 10 }, () => startCli(['apply', '--json'], { cwd: d.dir, url: ctx.db.url }).done);
  const results = await Promise.all(runs);
  results.forEach((r, i) => assert.is(r.code, 0, `process ${i}: ${r.stdout}\n${r.stderr}`));
  const applied = results.map((r) => r.json().find((o) => o.type === 'run.finished')?.applied ?? -1);
  assert.is(applied.reduce((a, b) => a + b, 0), 5, `steps applied per process: ${applied}`);
  const log = await ctx.db.query<{ what: string }>('SELECT what FROM log ORDER BY what');
  assert.equal(log.map((r) => r.what), ['step3', 'step4', 'step5']);
  const done = await ctx.db.query<{ step: string; n: number }>(`SELECT step, count(*)::int AS n FROM zsetup.journal WHERE event = 'done' GROUP BY step ORDER BY step`);
  assert.equal(done, [
    { step: '01_a', n: 1 },
    { step: '02_log', n: 1 },
    { step: '03_insert', n: 1 },
    { step: '04_slow', n: 1 },
    { step: '05_fn', n: 1 },
  ]);
  const other = await ctx.db.query(`SELECT step, event FROM zsetup.journal WHERE event NOT IN ('started', 'done')`);
  assert.equal(other, [], 'nothing failed or was interrupted');
  const owners = await ctx.db.query<{ n: number }>(`SELECT count(DISTINCT owner)::int AS n FROM zsetup.journal`);
  assert.is(owners[0]!.n, 1, 'one process did all the work');
});

/** A session holding advisory lock `key`, so that a step taking it waits until release(). */
async function gate(ctx: Ctx, key: number): Promise<{ release(): Promise<void> }> {
  const c = new pg.Client({ connectionString: ctx.db.url });
  await c.connect();
  await c.query('SELECT pg_advisory_lock($1)', [key]);
  return {
    async release() {
      await c.query('SELECT pg_advisory_unlock($1)', [key]).catch(() => undefined);
      await c.end().catch(() => undefined);
    },
  };
}

/** Resolve once a backend of the test database waits for advisory lock `key` (pg_locks). */
function waitsOnGate(ctx: Ctx, key: number, what: string): Promise<unknown> {
  return until(
    async () => (await ctx.db.query(`SELECT 1 FROM pg_locks l JOIN pg_database d ON d.oid = l.database WHERE d.datname = current_database() AND l.locktype = 'advisory' AND l.objid = $1 AND NOT l.granted`, [key])).length > 0,
    60_000,
    what,
  );
}

t('an apply while another runs a slow step: --lock-timeout 1s exits 3 naming it; a patient one waits, then has nothing to do', async (ctx) => {
  // 01_slow waits for an advisory lock the test holds until it has seen the impatient apply
  // give up and the patient one wait.
  const slow = await gate(ctx, 7701);
  try {
    const d = dir(ctx, {
      [CONFIG]: `${HEADER}export default defineConfig({ state: { schema: 'zs_slow' }, apply: { ddlLockTimeout: '300s' }, steps: [
  step('01_slow', { sql: 'SELECT pg_advisory_xact_lock(7701); CREATE TABLE slow (id int)' }),
  step('02_after', { sql: 'INSERT INTO slow VALUES (1)' }),
] });`,
    });
    const first = startCli(['apply', '--json'], { cwd: d.dir, url: ctx.db.url, timeoutMs: 120_000 });
    await waitFor(first.child, /"type":"step.started","step":"01_slow"/, 60_000);
    await waitsOnGate(ctx, 7701, '01_slow to wait for the gate');
    const pid = first.child.pid!;
    const impatient = startCli(['apply', '--lock-timeout', '1s'], { cwd: d.dir, url: ctx.db.url }).done;
    const patientRun = startCli(['apply'], { cwd: d.dir, url: ctx.db.url, timeoutMs: 120_000 });
    const patientWaits = waitFor(patientRun.child, /waiting for lock held by/, 60_000);
    patientWaits.catch(() => undefined); // awaited below
    const b = await impatient;
    assert.is(b.code, 3, b.stdout + b.stderr);
    assert.match(b.stderr, /could not acquire the advisory lock "zsetup" within 1 s: held by [^\n]*:\d+:/);
    assert.match(b.stderr, new RegExp(`:${pid}:`), `names the holder (pid ${pid}): ${b.stderr}`);
    await patientWaits;
    await slow.release();
    const [a, c] = await Promise.all([first.done, patientRun.done]);
    assert.is(a.code, 0, a.stdout + a.stderr);
    assert.is(c.code, 0, c.stdout + c.stderr);
    assert.match(c.stderr, new RegExp(`waiting for lock held by [^\\n]*:${pid}:[^\\n]*advisory lock`), c.stderr);
    assert.match(c.stdout, /Everything is up to date/);
  } finally {
    await slow.release();
  }
  const ev = await ctx.db.query<{ step: string; event: string }>(`SELECT step, event FROM zs_slow.journal ORDER BY id`);
  assert.equal(
    ev.map((r) => [r.step, r.event]),
    [
      ['01_slow', 'started'],
      ['01_slow', 'done'],
      ['02_after', 'started'],
      ['02_after', 'done'],
    ],
  );
});

t('CREATE INDEX CONCURRENTLY finishes while other applies wait for the lock', async (ctx) => {
  // 02_pause holds the run (and its lock) until three other applies poll for the lock.
  const pause = await gate(ctx, 7702);
  try {
    const d = dir(ctx, {
      [CONFIG]: `${HEADER}export default defineConfig({ state: { schema: 'zs_cic' }, apply: { ddlLockTimeout: '300s' }, steps: [
  step('01_table', { sql: 'CREATE TABLE cic (id int); INSERT INTO cic SELECT generate_series(1, 20000)' }),
  step('02_pause', { sql: 'SELECT pg_advisory_xact_lock(7702)' }),
  step('03_index', { transaction: false, sql: 'CREATE INDEX CONCURRENTLY IF NOT EXISTS cic_id ON cic (id)' }),
] });`,
    });
    const first = startCli(['apply'], { cwd: d.dir, url: ctx.db.url, timeoutMs: 120_000 });
    await waitsOnGate(ctx, 7702, '02_pause to wait for the gate');
    // These poll for the lock while the index is built: none of them may hold a
    // transaction open (CREATE INDEX CONCURRENTLY waits for every older transaction).
    const waiters = Array.from({ length: 3 }, () => startCli(['apply'], { cwd: d.dir, url: ctx.db.url, timeoutMs: 120_000 }));
    await Promise.all(waiters.map((w) => waitFor(w.child, /waiting for lock held by/, 60_000)));
    await pause.release();
    const t0 = Date.now();
    const a = await first.done;
    assert.is(a.code, 0, a.stdout + a.stderr);
    // A build held up by a waiter's open transaction would wait for that waiter, which waits
    // for this run's lock: until its --lock-timeout (60 s). Unhindered it takes well under a second.
    assert.ok(Date.now() - t0 < 20_000, `the index build was not held up (${Date.now() - t0} ms)`);
    for (const w of await Promise.all(waiters.map((x) => x.done))) assert.is(w.code, 0, w.stdout + w.stderr);
  } finally {
    await pause.release();
  }
  const [idx] = await ctx.db.query<{ indisvalid: boolean }>(`SELECT indisvalid FROM pg_index WHERE indexrelid = 'cic_id'::regclass`);
  assert.is(idx!.indisvalid, true);
});

/** Max number of steps whose [started, done] intervals overlap, from the journal. */
async function maxOverlap(db: TestDb, schema: string): Promise<number> {
  const ev = await db.query<{ step: string; event: string; at: Date }>(`SELECT step, event, at FROM ${schema}.journal WHERE event IN ('started', 'done', 'failed') ORDER BY id`);
  let now = 0;
  let max = 0;
  for (const e of ev) {
    now += e.event === 'started' ? 1 : -1;
    max = Math.max(max, now);
  }
  return max;
}

t('--concurrency 4 runs independent branches at once', async (ctx) => {
  const steps = Array.from({ length: 8 }, (_, i) => `  step('s${i}', { sql: 'SELECT pg_sleep(1)', after: [] }),`).join('\n');
  const d = dir(ctx, {
    [CONFIG]: `${HEADER}export default defineConfig({ state: { schema: 'zs_par' }, steps: [
${steps}
  step('join', { sql: 'SELECT 1', after: ['s0', 's1', 's2', 's3', 's4', 's5', 's6', 's7'] }),
] });`,
  });
  const t0 = Date.now();
  const r = await cli(['apply', '--concurrency', '4', '--json'], { cwd: d.dir, url: ctx.db.url });
  const wall = Date.now() - t0;
  assert.is(r.code, 0, r.stdout + r.stderr);
  const fin = r.json().find((o) => o.type === 'run.finished');
  assert.is(fin.applied, 9);
  // Serially that is at least 8 x 1 s = 8 s, whatever the machine; four at a time about 2 s.
  assert.ok(fin.durationMs < 8000, `run took ${fin.durationMs} ms (wall ${wall} ms): not four at a time`);
  const overlap = await maxOverlap(ctx.db, 'zs_par');
  assert.is(overlap, 4, 'four steps at a time, never more');
  const ev = await ctx.db.query<{ step: string }>(`SELECT step FROM zs_par.journal WHERE event = 'started' ORDER BY id`);
  assert.is(ev[ev.length - 1]!.step, 'join', 'the step after every branch runs last');
});

t('without --concurrency, the same steps run one at a time', async (ctx) => {
  const steps = Array.from({ length: 3 }, (_, i) => `  step('q${i}', { sql: 'SELECT pg_sleep(0.2)', after: [] }),`).join('\n');
  const d = dir(ctx, { [CONFIG]: `${HEADER}export default defineConfig({ state: { schema: 'zs_seq' }, steps: [\n${steps}\n] });` });
  const r = await cli(['apply'], { cwd: d.dir, url: ctx.db.url });
  assert.is(r.code, 0, r.stdout + r.stderr);
  assert.is(await maxOverlap(ctx.db, 'zs_seq'), 1);
});

t('a failure in one branch stops its dependants, not an independent branch', async (ctx) => {
  const d = dir(ctx, {
    [CONFIG]: `${HEADER}export default defineConfig({ state: { schema: 'zs_br' }, steps: [
  step('a1', { sql: 'SELECT 1/0', after: [] }),
  step('a2', { sql: 'CREATE TABLE a2 (id int)', after: ['a1'] }),
  step('a3', { sql: 'CREATE TABLE a3 (id int)', after: ['a2'] }),
  step('b1', { sql: 'SELECT pg_sleep(0.3); CREATE TABLE b1 (id int)', after: [] }),
  step('b2', { sql: 'CREATE TABLE b2 (id int)', after: ['b1'] }),
  step('c', { sql: 'CREATE TABLE c (id int)', after: ['a3', 'b2'] }),
] });`,
  });
  const r = await cli(['apply', '--concurrency', '4', '--json'], { cwd: d.dir, url: ctx.db.url });
  assert.is(r.code, 1, r.stdout + r.stderr);
  const fin = r.json().find((o) => o.type === 'run.finished');
  assert.equal([fin.applied, fin.failed, fin.blocked], [2, 1, 3]);
  const blocked = r.json().filter((o) => o.type === 'step.blocked').map((o) => o.step).sort();
  assert.equal(blocked, ['a2', 'a3', 'c']);
  const states = await ctx.db.query<{ step: string; event: string }>(
    `SELECT DISTINCT ON (step) step, event FROM zs_br.journal ORDER BY step, id DESC`,
  );
  assert.equal(
    states.map((s) => [s.step, s.event]),
    [
      ['a1', 'failed'],
      ['b1', 'done'],
      ['b2', 'done'],
    ],
  );
  const tables = await ctx.db.query<{ t: string }>(`SELECT tablename AS t FROM pg_tables WHERE schemaname = 'public' AND tablename IN ('a2', 'a3', 'b1', 'b2', 'c') ORDER BY 1`);
  assert.equal(tables.map((x) => x.t), ['b1', 'b2']);
});

t.run();
