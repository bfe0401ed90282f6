/**
 * A failed SQL step points at its SQL, through the real CLI on PostgreSQL: the statement
 * (its number and first line), the file with line and column (from PostgreSQL's error
 * position), detail and hint; in text, in --json (`location`) and in the journal. For a
 * step sent whole, a runtime error without a position names how many statements it has; a
 * step run statement by statement knows which one failed.
 */
import * as assert from 'uvu/assert';
import { HEADER, cli, dbEachSuite, dir, type DbCtx } from '../helpers.js';

const t = dbEachSuite('a failed SQL step points at its SQL');

const BAD = `-- the first table
CREATE TABLE ok_one (id int);

CREATE TABLE bad (
  id int,
  name txet
);
SELECT 1;
`;

t('a file step with a wrong type on line 6: file:line:column, statement 2 of 3 with its first line; in text, JSON and the journal', async (ctx: DbCtx) => {
  const d = dir(ctx, {
    'zsetup.config.ts': `${HEADER}export default defineConfig({ steps: [step('01_ok', { sql: 'SELECT 1' }), step('02_bad', { sql: file('sql/02_bad.sql') })] });\n`,
    'sql/02_bad.sql': BAD,
  });
  const a = await cli(['apply'], { cwd: d.dir, url: ctx.db.url });
  assert.is(a.code, 1, a.stdout + a.stderr);
  assert.match(a.stdout, /✗ 02_bad: step "02_bad" failed: type "txet" does not exist \(SQLSTATE 42704\)\n\s+at sql\/02_bad\.sql:6:8, statement 2 of 3: CREATE TABLE bad \(\n/);
  const j = await cli(['apply', '--json'], { cwd: d.dir, url: ctx.db.url });
  const failed = j.json().find((e: { type: string }) => e.type === 'step.failed');
  assert.equal(failed.location, { file: 'sql/02_bad.sql', line: 6, column: 8, statement: 2, statements: 3, text: 'CREATE TABLE bad (' });
  const [row] = await ctx.db.query<{ error: string }>(`SELECT error FROM zsetup.journal WHERE step = '02_bad' AND event = 'failed' ORDER BY id DESC LIMIT 1`);
  assert.match(row!.error, /at sql\/02_bad\.sql:6:8, statement 2 of 3/);
});

t('detail and hint of the server are shown; a runtime error without a position names its statement, run alone, sent whole, or in a train', async (ctx: DbCtx) => {
  await ctx.db.query('CREATE TABLE u (id int PRIMARY KEY); INSERT INTO u VALUES (1)');
  const d = dir(ctx, {
    'zsetup.config.ts': `${HEADER}export default defineConfig({ steps: [
  step('01_dup', { transaction: false, sql: 'SELECT 1;\\nINSERT INTO u VALUES (1);\\nSELECT 2' }),
  step('02_whole', { after: [], sql: 'SELECT 1;\\nINSERT INTO u VALUES (1)' }),
  step('03_first', { after: [], sql: 'SELECT 1' }),
  step('04_in_train', { sql: 'SELECT 1;\\nSELECT 2;\\nSELECT 1 / (SELECT count(*) - 1 FROM u)' }),
] });\n`,
  });
  const a = await cli(['apply', '--json'], { cwd: d.dir, url: ctx.db.url });
  assert.is(a.code, 1, a.stdout + a.stderr);
  const failed = Object.fromEntries(a.json().filter((e: { type: string }) => e.type === 'step.failed').map((e: { step: string }) => [e.step, e]));
  assert.match(failed['01_dup'].error, /duplicate key value violates unique constraint "u_pkey" \(SQLSTATE 23505\) detail: Key \(id\)=\(1\) already exists\./);
  assert.equal(failed['01_dup'].location, { line: 2, statement: 2, statements: 3, text: 'INSERT INTO u VALUES (1)' });
  assert.equal([failed['01_dup'].sqlstate, failed['01_dup'].detail], ['23505', 'Key (id)=(1) already exists.'], 'the server\'s fields, apart');
  assert.match(failed['02_whole'].error, /\n\s+at line 2, statement 2 of 2: INSERT INTO u VALUES \(1\)/);
  assert.equal(failed['04_in_train'].location, { line: 3, statement: 3, statements: 3, text: 'SELECT 1 / (SELECT count(*) - 1 FROM u)' }, 'division by zero, found through its notice');
});

t.run();
