/**
 * `plan --sql`: the exact SQL each pending step would run, in order, with its transaction
 * boundaries; nothing for steps that are up to date; code steps say their SQL is made as
 * they run. Through the real CLI on PostgreSQL; it never writes.
 */
import * as assert from 'uvu/assert';
import { HEADER, cli, dbEachSuite, dir, type DbCtx } from '../helpers.js';

const t = dbEachSuite('plan --sql');

t('pending steps in order: a transaction around a transactional script, statements one by one outside one, a note for code', async (ctx: DbCtx) => {
  const d = dir(ctx, { 'sql/02.sql': '-- the table\nCREATE TABLE a (id int);\nINSERT INTO a VALUES (1);\n' });
  const z = (args: string[]) => cli(args, { cwd: d.dir, url: ctx.db.url });
  // 01 applied first, alone.
  d.write({ 'zsetup.config.ts': `${HEADER}export default defineConfig({ steps: [step('01_done', { sql: 'CREATE TABLE done_t (id int)' })] });\n` });
  assert.is((await z(['apply'])).code, 0);
  d.write({
    'zsetup.config.ts': `${HEADER}export default defineConfig({ steps: [
  step('01_done', { sql: 'CREATE TABLE done_t (id int)' }),
  step('02_tx', { sql: file('sql/02.sql') }),
  step('03_cic', { transaction: false, sql: 'CREATE INDEX CONCURRENTLY IF NOT EXISTS a_id ON a (id);\\nANALYZE a' }),
  step('04_code', { run: async (ctx) => { await ctx.exec('SELECT 1'); } }),
] });\n`,
  });
  const p = await z(['plan', '--sql']);
  assert.is(p.code, 0, p.stdout + p.stderr);
  const sql = p.stdout.slice(p.stdout.indexOf('-- The SQL of'));
  assert.is(
    sql.trim(),
    `-- The SQL of the 3 steps apply would run, in order (zsetup's own records and settings left out).

-- 02_tx (run: never applied)
-- one transaction, committed together with its record
BEGIN;
-- statement 1 of 2 (line 2)
-- the table
CREATE TABLE a (id int);
-- statement 2 of 2 (line 3)
INSERT INTO a VALUES (1);
COMMIT;

-- 03_cic (run: never applied)
-- outside a transaction: 2 statements, each committed on its own (an INVALID index left by an earlier build is dropped first)
-- statement 1 of 2 (line 1)
CREATE INDEX CONCURRENTLY IF NOT EXISTS a_id ON a (id);
-- statement 2 of 2 (line 2)
ANALYZE a;

-- 04_code (run: never applied)
-- a function step: its SQL is made by its code as it runs`,
  );
  assert.not.match(sql, /done_t/, 'an applied step shows no SQL');
  const j = await z(['plan', '--sql', '--json']);
  const e = j.json().find((x: { step: string }) => x.step === '02_tx');
  assert.is(e.sql, '-- the table\nCREATE TABLE a (id int);\nINSERT INTO a VALUES (1);\n');
  assert.equal(await ctx.db.query(`SELECT to_regclass('a') IS NULL AS none`), [{ none: true }], 'plan never writes');
});

t.run();
