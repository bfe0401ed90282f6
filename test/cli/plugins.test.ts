/**
 * A user plugin loaded from a local file adds a step kind: applied through the real CLI,
 * its effect is in the database; a config using the kind without listing the plugin
 * fails validation with a clear message (exit 2).
 */
import * as assert from 'uvu/assert';
import { relative } from 'node:path';
import { cli, scratch, ROOT, HEADER, type TestDb, dbSuite, type DbCtx, type Scratch } from '../helpers.js';

type Ctx = DbCtx;
const t = dbSuite('user plugins');

/** A scratch folder whose config imports the fixture plugin by a relative path. */
function withPlugin(ctx: Ctx, body: (importLine: string) => string): Scratch {
  const d = scratch();
  ctx.dirs.push(d);
  const rel = relative(d.dir, `${ROOT}/test/fixtures/custom-kind-plugin.ts`);
  d.write({ 'zsetup.config.ts': body(`import { greetings, greeting } from '${rel}';\n`) });
  return d;
}

t('a step kind from a local plugin file runs, and is recorded like any step', async (ctx) => {
  const d = withPlugin(
    ctx,
    (imp) => `${HEADER}${imp}export default defineConfig({
  plugins: [greetings()],
  steps: [
    greeting('01_hello_world', { table: 'greetings', greet: 'world' }),
    step('02_sql_after', { sql: "INSERT INTO greetings VALUES ('from sql', '02_sql_after')" }),
    greeting('03_hello_ops', { table: 'greetings', greet: 'operators' }),
  ],
});`,
  );
  const p = await cli(['plan', '--json'], { cwd: d.dir, url: ctx.db.url });
  assert.is(p.code, 0, p.stdout + p.stderr);
  assert.equal(
    p.json().map((e) => [e.step, e.kind, e.action]),
    [
      ['01_hello_world', 'greeting', 'run'],
      ['02_sql_after', 'sql', 'run'],
      ['03_hello_ops', 'greeting', 'run'],
    ],
  );
  const a = await cli(['apply'], { cwd: d.dir, url: ctx.db.url });
  assert.is(a.code, 0, a.stdout + a.stderr);
  assert.match(a.stdout, /01_hello_world: greeted world/);
  const rows = await ctx.db.query<{ greeting: string; step: string }>('SELECT greeting, step FROM greetings ORDER BY step');
  assert.equal(rows, [
    { greeting: 'hello, world', step: '01_hello_world' },
    { greeting: 'from sql', step: '02_sql_after' },
    { greeting: 'hello, operators', step: '03_hello_ops' },
  ]);
  const again = await cli(['apply'], { cwd: d.dir, url: ctx.db.url });
  assert.is(again.code, 0, again.stderr);
  assert.match(again.stdout, /up to date/);
  const [n] = await ctx.db.query<{ n: number }>('SELECT count(*)::int AS n FROM greetings');
  assert.is(n!.n, 3, 'ran once');
});

t("the kind's fields are validated by the kind: unknown fields and its own problems", async (ctx) => {
  const d = withPlugin(
    ctx,
    (imp) => `${HEADER}${imp}export default defineConfig({
  state: { schema: 'zs_pv' },
  plugins: [greetings()],
  steps: [
    greeting('01_bad', { table: 'Not A Table', greet: '' }),
    { ...greeting('02_extra', { table: 'ok', greet: 'x' }), colour: 'red' } as any,
  ],
});`,
  );
  const r = await cli(['apply'], { cwd: d.dir, url: ctx.db.url });
  assert.is(r.code, 2, r.stdout + r.stderr);
  assert.match(r.stderr, /^zsetup\.config\.ts: steps\[0\]\.table \(step "01_bad"\): expected a table name, got "Not A Table"$/m);
  assert.match(r.stderr, /^zsetup\.config\.ts: steps\[0\]\.greet \(step "01_bad"\): expected a non-empty string$/m);
  assert.match(r.stderr, /^zsetup\.config\.ts: steps\[1\]\.colour \(step "02_extra"\): unknown field/m);
  const [s] = await ctx.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_namespace WHERE nspname = 'zs_pv'`);
  assert.is(s!.n, 0);
});

t('using the kind without listing the plugin: a clear validation error, exit 2', async (ctx) => {
  const d = withPlugin(
    ctx,
    (imp) => `${HEADER}${imp}export default defineConfig({
  state: { schema: 'zs_np' },
  steps: [
    step('01_sql', { sql: 'CREATE TABLE np (id int)' }),
    greeting('02_hello', { table: 'greetings2', greet: 'world' }),
  ],
});`,
  );
  const r = await cli(['apply'], { cwd: d.dir, url: ctx.db.url });
  assert.is(r.code, 2, r.stdout + r.stderr);
  const lines = r.stderr.split('\n').filter((l) => l.startsWith('zsetup.config.ts: '));
  assert.is(lines.length, 1, r.stderr);
  assert.match(lines[0]!, /^zsetup\.config\.ts: steps\[1\]\.kind \(step "02_hello"\): unknown step kind "greeting".*plugins/);
  assert.not.match(r.stdout + r.stderr, /^\s+at .+:\d+:\d+\)?$/m);
  const [s] = await ctx.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_namespace WHERE nspname = 'zs_np'`);
  assert.is(s!.n, 0, 'database untouched');
  const [tbl] = await ctx.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_tables WHERE tablename = 'np'`);
  assert.is(tbl!.n, 0, 'not even the valid first step ran');
});

t.run();
