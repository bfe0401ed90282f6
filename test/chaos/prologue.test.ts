/**
 * Found by the chaos suite (seed 2292065910, advisory lock): SIGTERM right after the lock
 * was acquired, while apply loads and recovers its state, cancelled that query and apply
 * exited 1 ("canceling statement due to user request") instead of 143. A journal of 600,000
 * events makes loading the state slow enough to be hit every time.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createDb, scratch, startCli, cli, HEADER } from '../helpers.js';

test('SIGTERM while apply loads its state (lock held, no step started yet): exit 143, the next apply exits 0', async () => {
  const db = await createDb();
  const dir = scratch({ 'zsetup.config.ts': `${HEADER}export default defineConfig({ steps: [step('01', { sql: 'CREATE TABLE t (id int)' })] });` });
  try {
    const first = await cli(['apply'], { cwd: dir.dir, url: db.url });
    assert.is(first.code, 0, first.stderr);
    await db.query(`INSERT INTO zsetup.journal (step, event, owner) SELECT 'old_' || (g % 50000), 'done', 'someone' FROM generate_series(1, 600000) g`);
    for (let i = 0; i < 3; i++) {
      const run = startCli(['apply', '--json'], { cwd: dir.dir, url: db.url });
      let out = '';
      let sent = false;
      run.child.stdout!.on('data', (d) => {
        out += d;
        if (!sent && out.includes('"type":"lock.acquired"')) {
          sent = true;
          run.child.kill('SIGTERM');
        }
      });
      const r = await run.done;
      assert.ok(sent, `lock.acquired never came: ${r.stdout} ${r.stderr}`);
      assert.is(r.code, 143, `run ${i}: ${r.stdout}\n${r.stderr}`);
    }
    const last = await cli(['apply'], { cwd: dir.dir, url: db.url });
    assert.is(last.code, 0, last.stderr);
  } finally {
    dir.remove();
    await db.drop();
  }
});

test.run();
