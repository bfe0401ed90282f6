/**
 * Found by the chaos suite (seed 2292065910, advisory lock): SIGTERM right after the lock
 * was acquired, while apply initialises and loads its state, cancelled that query and apply
 * exited 1 ("canceling statement due to user request") instead of 143. Here the test holds
 * an ACCESS EXCLUSIVE lock on the journal table, so apply's first statements after
 * `lock.acquired` wait for it (seen in pg_locks) when the SIGTERM comes: every time, by
 * construction. (A journal of 600,000 events, making the load slow, did the same at the
 * cost of inserting and reading them.)
 */
import pg from 'pg';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createDb, scratch, startCli, cli, HEADER } from '../helpers.js';
import { CONFIG, until, waitFor } from '../interrupt/util.js';

test('SIGTERM while apply initialises and loads its state (lock held, no step started yet): exit 143, the next apply exits 0', async () => {
  const db = await createDb();
  const dir = scratch({ [CONFIG]: `${HEADER}export default defineConfig({ steps: [step('01', { sql: 'CREATE TABLE t (id int)' })] });` });
  const blocker = new pg.Client({ connectionString: db.url, application_name: 'test-blocker' });
  blocker.on('error', () => undefined);
  try {
    const first = await cli(['apply'], { cwd: dir.dir, url: db.url });
    assert.is(first.code, 0, first.stderr);
    await blocker.connect();
    for (let i = 0; i < 3; i++) {
      await blocker.query('BEGIN');
      await blocker.query('LOCK TABLE zsetup.journal IN ACCESS EXCLUSIVE MODE');
      const run = startCli(['apply', '--json'], { cwd: dir.dir, url: db.url });
      try {
        await waitFor(run.child, /"type":"lock.acquired"/, 60_000);
        await until(
          async () =>
            (await db.query(`SELECT 1 FROM pg_locks WHERE relation = 'zsetup.journal'::regclass AND NOT granted AND pid IN (SELECT pid FROM pg_stat_activity WHERE application_name LIKE 'zsetup%')`)).length > 0,
          30_000,
          'apply to wait for the journal',
        );
        run.child.kill('SIGTERM');
        const r = await run.done;
        assert.is(r.code, 143, `run ${i}: ${r.stdout}\n${r.stderr}`);
        assert.not.match(r.stdout + r.stderr, /canceling statement/, `run ${i}: the cancelled statement is the stop, not an error`);
      } finally {
        await blocker.query('ROLLBACK');
        run.child.kill('SIGKILL');
      }
    }
    const last = await cli(['apply'], { cwd: dir.dir, url: db.url });
    assert.is(last.code, 0, last.stderr);
    assert.match(last.stdout, /up to date/);
  } finally {
    await blocker.end().catch(() => undefined);
    dir.remove();
    await db.drop();
  }
});

test.run();
