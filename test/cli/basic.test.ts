import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { cli, createDb, scratch, HEADER, type TestDb } from '../helpers.js';

const t = suite<{ db: TestDb; dir: ReturnType<typeof scratch> }>('cli basics on PostgreSQL');

t.before(async (ctx) => {
  ctx.db = await createDb();
  ctx.dir = scratch({
    'zsetup.config.ts': `${HEADER}export default defineConfig({ steps: [
  step('01_t', { sql: 'CREATE TABLE t (id int)' }),
  step('02_i', { sql: 'INSERT INTO t VALUES (1)' }),
] });`,
  });
});
t.after(async (ctx) => {
  await ctx.db.drop();
  ctx.dir.remove();
});

t('apply runs each step once; a second apply changes nothing', async ({ db, dir }) => {
  const a = await cli(['apply'], { cwd: dir.dir, url: db.url });
  assert.is(a.code, 0, a.stderr);
  assert.match(a.stdout, /01_t/);
  const b = await cli(['apply'], { cwd: dir.dir, url: db.url });
  assert.is(b.code, 0, b.stderr);
  assert.match(b.stdout, /up to date/);
  const rows = await db.query<{ n: string }>('SELECT count(*) AS n FROM t');
  assert.is(rows[0]!.n, '1');
});

t('--version and --help', async ({ dir }) => {
  const v = await cli(['--version'], { cwd: dir.dir });
  assert.is(v.code, 0);
  assert.match(v.stdout, /^\d+\.\d+\.\d+/);
  for (const c of ['plan', 'apply', 'status']) {
    const h = await cli([c, '--help'], { cwd: dir.dir });
    assert.is(h.code, 0, c);
    assert.match(h.stdout, /--config/);
  }
});

t.run();
