/**
 * A stop during a CONCURRENTLY index build (a script step outside a transaction): the
 * stopped build leaves an INVALID index, which zsetup drops before it records the step
 * interrupted, so that whoever runs the step next builds it anew (ZITADEL's setup, told by
 * its records that the step failed, would keep it: CREATE INDEX CONCURRENTLY IF NOT EXISTS).
 * Synchronised on the build waiting for the test's open snapshot (pg_locks), with the real
 * CLI and a real SIGTERM.
 */
import * as assert from 'uvu/assert';
import pg from 'pg';
import { HEADER, dbSuite, dir, startCli, type DbCtx } from '../helpers.js';
import { until } from './util.js';

const t = dbSuite('interrupt: a stopped CONCURRENTLY build leaves no INVALID index');

t('SIGTERM while CREATE INDEX CONCURRENTLY waits: exit 143, recorded interrupted, and no INVALID index left behind', async (ctx: DbCtx) => {
  await ctx.db.query('CREATE TABLE t (id int)');
  await ctx.db.query('INSERT INTO t SELECT generate_series(1, 1000)');
  const d = dir(ctx, {
    'zsetup.config.ts': `${HEADER}export default defineConfig({ steps: [step('01_idx', { transaction: false, sql: 'CREATE INDEX CONCURRENTLY IF NOT EXISTS t_id ON t (id)' })] });\n`,
  });
  // An open snapshot: the build makes its index, then waits for this transaction to end.
  const blocker = new pg.Client({ connectionString: ctx.db.url });
  await blocker.connect();
  try {
    await blocker.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
    await blocker.query('SELECT count(*) FROM pg_class');
    const run = startCli(['apply'], { cwd: d.dir, url: ctx.db.url });
    await until(
      async () =>
        (await ctx.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'CREATE INDEX CONCURRENTLY%' AND wait_event_type = 'Lock'`))[0]!.n > 0,
      60_000,
      'the build to wait for the open snapshot',
    );
    assert.equal(await ctx.db.query(`SELECT indisvalid FROM pg_index WHERE indexrelid = 't_id'::regclass`), [{ indisvalid: false }], 'the build has its INVALID index now');
    run.child.kill('SIGTERM');
    const r = await run.done;
    assert.is(r.code, 143, r.stdout + r.stderr);
    assert.match(r.stdout, /■ 01_idx: stopped/);
    assert.equal(await ctx.db.query(`SELECT to_regclass('t_id') IS NULL AS gone`), [{ gone: true }], 'no INVALID index left for the next runner to keep');
    assert.equal(await ctx.db.query(`SELECT event FROM zsetup.journal WHERE step = '01_idx' ORDER BY id`), [{ event: 'started' }, { event: 'interrupted' }]);
  } finally {
    await blocker.query('ROLLBACK').catch(() => undefined);
    await blocker.end();
  }
});

t.run();
