/**
 * Config validation through the real CLI: every problem is one line naming the file and
 * the key path, all problems at once, no stack trace, exit 2, and the database untouched
 * (not even zsetup's own schema is created).
 */
import * as assert from 'uvu/assert';
import { cli, dir, HEADER, type TestDb, dbSuite, type DbCtx } from '../helpers.js';

type Ctx = DbCtx;
const t = dbSuite('config validation');

const CONFIG = 'zsetup.config.ts';

/** Write `config` (plus extra files) to a fresh scratch folder and run `args` there. */
async function run(ctx: Ctx, config: string, args: string[] = ['apply'], extra: Record<string, string> = {}) {
  return cli(args, { cwd: dir(ctx, { [CONFIG]: config, ...extra }).dir, url: ctx.db.url });
}

/** The shared expectations of every rejected config; returns the problem lines. */
async function rejected(db: TestDb, r: { code: number | null; stdout: string; stderr: string }): Promise<string[]> {
  assert.is(r.code, 2, `exit code\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  const all = r.stdout + r.stderr;
  assert.not.match(all, /^\s+at .+:\d+:\d+\)?$/m, `no stack trace:\n${all}`);
  assert.not.match(all, /internal error/, all);
  assert.match(r.stderr, /nothing was changed/);
  const [row] = await db.query<{ n: string }>(`SELECT count(*) AS n FROM pg_namespace WHERE nspname = 'zsetup'`);
  assert.is(row!.n, '0', 'the zsetup schema must not be created by a rejected config');
  const [tables] = await db.query<{ n: string }>(`SELECT count(*) AS n FROM pg_tables WHERE schemaname = 'public'`);
  assert.is(tables!.n, '0', 'no step may have run');
  return r.stderr.split('\n').filter((l) => l.startsWith(`${CONFIG}: `));
}

/** Exactly one problem line matching `re`. */
function oneLine(lines: string[], re: RegExp): string {
  const hits = lines.filter((l) => re.test(l));
  assert.is(hits.length, 1, `expected one line matching ${re} in:\n${lines.join('\n')}`);
  return hits[0]!;
}

t('unknown field, top level and in a step, with a did-you-mean', async (ctx) => {
  const r = await run(
    ctx,
    `${HEADER}export default defineConfig({
  stpes: [],
  steps: [step('01', { sql: 'CREATE TABLE a (id int)', transacton: false } as any)],
});`,
  );
  const lines = await rejected(ctx.db, r);
  oneLine(lines, /^zsetup\.config\.ts: stpes: unknown field \(did you mean "steps"\?\)$/);
  oneLine(lines, /^zsetup\.config\.ts: steps\[0\]\.transacton \(step "01"\): unknown field \(did you mean "transaction"\?\)$/);
  assert.is(lines.length, 2, lines.join('\n'));
});

t('wrong types name the key path and what was found', async (ctx) => {
  const r = await run(
    ctx,
    `${HEADER}export default defineConfig({
  database: { pool: { max: 'ten' } },
  lock: { timeout: 'soon' },
  steps: [step('01', { sql: 'CREATE TABLE a (id int)', transaction: 'yes', after: 'x' } as any)],
} as any);`,
  );
  const lines = await rejected(ctx.db, r);
  oneLine(lines, /^zsetup\.config\.ts: database\.pool\.max: expected an integer from 1 to 2147483647, got a string "ten"$/);
  oneLine(lines, /^zsetup\.config\.ts: lock\.timeout: expected a duration/);
  oneLine(lines, /^zsetup\.config\.ts: steps\[0\]\.transaction \(step "01"\): expected true or false, got a string$/);
  oneLine(lines, /^zsetup\.config\.ts: steps\[0\]\.after \(step "01"\): expected an array of step names/);
});

t('duplicate step name', async (ctx) => {
  const r = await run(
    ctx,
    `${HEADER}export default defineConfig({ steps: [
  step('01_tables', { sql: 'CREATE TABLE a (id int)' }),
  step('02_data', { sql: 'SELECT 1' }),
  step('01_tables', { sql: 'CREATE TABLE b (id int)' }),
] });`,
  );
  const lines = await rejected(ctx.db, r);
  const l = oneLine(lines, /duplicate/);
  assert.match(l, /^zsetup\.config\.ts: steps\[2\]\.name: duplicate step name "01_tables" \(first declared at steps\[0\]\)/);
});

t('unknown after target, with a did-you-mean', async (ctx) => {
  const r = await run(
    ctx,
    `${HEADER}export default defineConfig({ steps: [
  step('01_tables', { sql: 'CREATE TABLE a (id int)' }),
  step('02_data', { sql: 'SELECT 1', after: ['01_tables', '01_tabels'] }),
] });`,
  );
  const lines = await rejected(ctx.db, r);
  oneLine(lines, /^zsetup\.config\.ts: steps\[1\]\.after\[1\] \(step "02_data"\): .*unknown step "01_tabels" \(did you mean "01_tables"\?\)$/);
  assert.is(lines.length, 1, lines.join('\n'));
});

t('dependency cycle printed as a -> b -> c -> a', async (ctx) => {
  const r = await run(
    ctx,
    `${HEADER}export default defineConfig({ steps: [
  step('a', { sql: 'CREATE TABLE a (id int)', after: ['c'] }),
  step('b', { sql: 'SELECT 1', after: ['a'] }),
  step('c', { sql: 'SELECT 1', after: ['b'] }),
] });`,
  );
  const lines = await rejected(ctx.db, r);
  const l = oneLine(lines, /cycle/);
  // a runs after c, b after a, c after b: in run order a -> b -> c -> a, starting
  // from the first declared step of the cycle.
  assert.match(l, /^zsetup\.config\.ts: steps\[\d\]\.after.*: dependency cycle: a -> b -> c -> a$/);
});

t('a cycle and an unknown after target in one config: both reported', async (ctx) => {
  const r = await run(
    ctx,
    `${HEADER}export default defineConfig({ steps: [
  step('a', { sql: 'CREATE TABLE a (id int)', after: ['b'] }),
  step('b', { sql: 'SELECT 1', after: ['a'] }),
  step('c', { sql: 'SELECT 1', after: ['nope'] }),
] });`,
  );
  const lines = await rejected(ctx.db, r);
  oneLine(lines, /^zsetup\.config\.ts: steps\[2\]\.after\[0\] \(step "c"\): .*unknown step "nope"/);
  oneLine(lines, /dependency cycle: a -> b -> a$/);
  assert.is(lines.length, 2, lines.join('\n'));
});

t('missing SQL file names the path as written and as resolved', async (ctx) => {
  const r = await run(
    ctx,
    `${HEADER}export default defineConfig({ steps: [
  step('01_tables', { sql: file('sql/01_tables.sql') }),
  step('02_missing', { sql: file('sql/02_missing.sql') }),
] });`,
    ['plan'],
    { 'sql/01_tables.sql': 'CREATE TABLE a (id int);\n' },
  );
  const lines = await rejected(ctx.db, r);
  oneLine(lines, /^zsetup\.config\.ts: steps\[1\]\.sql \(step "02_missing"\): SQL file not found: sql\/02_missing\.sql/);
  assert.is(lines.length, 1, lines.join('\n'));
});

t('SQL that ends inside a quote or comment is rejected before it runs', async (ctx) => {
  const r = await run(
    ctx,
    `${HEADER}export default defineConfig({ steps: [
  step('01_quote', { sql: "CREATE TABLE a (id int);\\nINSERT INTO a VALUES ('unclosed)" }),
  step('02_comment', { sql: 'SELECT 1 /* unclosed' }),
  step('03_dollar', { sql: file('sql/03.sql') }),
  step('04_fine', { sql: "SELECT 'it''s', $$ a ' b $$, \\"x\\"\\"y\\" -- trailing comment" }),
] });`,
    ['apply'],
    { 'sql/03.sql': 'CREATE FUNCTION f() RETURNS int AS $body$\nSELECT 1;\n' },
  );
  const lines = await rejected(ctx.db, r);
  oneLine(lines, /^zsetup\.config\.ts: steps\[0\]\.sql \(step "01_quote"\): unterminated quoted string starting at line 2$/);
  oneLine(lines, /^zsetup\.config\.ts: steps\[1\]\.sql \(step "02_comment"\): unterminated \/\* comment starting at line 1$/);
  oneLine(lines, /^zsetup\.config\.ts: steps\[2\]\.sql \(step "03_dollar"\): unterminated dollar-quoted string \$body\$ starting at line 1 of sql\/03\.sql$/);
  assert.is(lines.length, 3, lines.join('\n'));
  assert.not.match(r.stderr, /journal|COMMIT/, 'nothing of the engine\'s own SQL shows');
});

t('a plugin that is not a plugin: an object, an uncalled factory, a string', async (ctx) => {
  const r = await run(
    ctx,
    `${HEADER}function myPlugin() { return { name: 'mine', register() {} }; }
export default defineConfig({
  plugins: [{ name: 'half' } as any, myPlugin as any, 'pool' as any],
  steps: [step('01', { sql: 'CREATE TABLE a (id int)' })],
});`,
  );
  const lines = await rejected(ctx.db, r);
  oneLine(lines, /^zsetup\.config\.ts: plugins\[0\]: not a plugin: missing "register"/);
  oneLine(lines, /^zsetup\.config\.ts: plugins\[1\]: not a plugin but a function "myPlugin": call the factory \(myPlugin\(\)\)$/);
  oneLine(lines, /^zsetup\.config\.ts: plugins\[2\]: not a plugin/);
});

t('a plugin whose register throws is reported, not crashed on', async (ctx) => {
  const r = await run(
    ctx,
    `${HEADER}export default defineConfig({
  plugins: [{ name: 'broken', register() { throw new Error('boom in register'); } }],
  steps: [step('01', { sql: 'CREATE TABLE a (id int)' })],
});`,
  );
  const lines = await rejected(ctx.db, r);
  oneLine(lines, /plugins\[0\]: plugin "broken" failed to register: boom in register$/);
});

t('syntax error in the config file: file, "syntax error", line and column', async (ctx) => {
  const r = await run(
    ctx,
    `${HEADER}export default defineConfig({ steps: [
  step('01', { sql: 'CREATE TABLE a (id int)' ) }),
] });`,
    ['plan'],
  );
  const lines = await rejected(ctx.db, r);
  assert.is(lines.length, 1, r.stderr);
  assert.match(lines[0]!, /^zsetup\.config\.ts: .*syntax error/i);
  // the stray ")" is on line 3 of the file
  assert.match(lines[0]!, /line 3, column \d+|\(3:\d+\)/);
  assert.not.match(lines[0]!, /\/work\/|\/tmp\//, 'the file is named once, relative, not as an absolute path');
});

t('a config function that throws, and a config that is not an object', async (ctx) => {
  const threw = await run(ctx, `${HEADER}export default defineConfig(() => { throw new Error('ZITADEL_DOMAIN is not set'); });`);
  const lines = await rejected(ctx.db, threw);
  oneLine(lines, /^zsetup\.config\.ts: the config function threw: ZITADEL_DOMAIN is not set$/);
  const num = await run(ctx, `export default 42;`);
  oneLine(await rejected(ctx.db, num), /^zsetup\.config\.ts: the config must export an object/);
  const noSteps = await run(ctx, `export default {};`);
  oneLine(await rejected(ctx.db, noSteps), /^zsetup\.config\.ts: steps: missing/);
});

t('syntax error in a JSON config: file, "syntax error", line and column', async (ctx) => {
  const d = dir(ctx, { '.zsetuprc.json': '{ "steps": [\n  { "name": "a", "sql": "SELECT 1" },\n  { "name": "b" "sql": "SELECT 2" }\n] }\n' });
  const r = await cli(['plan'], { cwd: d.dir, url: ctx.db.url });
  assert.is(r.code, 2, r.stdout + r.stderr);
  const line = r.stderr.split('\n').find((l) => l.startsWith('.zsetuprc.json: '));
  assert.ok(line, r.stderr);
  assert.match(line!, /syntax error/);
  assert.match(line!, /line 3, column \d+|\(3:\d+\)/, line);
  assert.not.match(line!, /\/work\/|\/tmp\//, line);
});

t('every problem at once, one line each', async (ctx) => {
  const r = await run(
    ctx,
    `${HEADER}export default defineConfig({
  bogus: 1,
  plugins: [() => 1],
  steps: [
    step('01_tables', { sql: 'CREATE TABLE a (id int)', colour: 'red' } as any),
    step('01_tables', { sql: 'SELECT 1' }),
    step('02', { sql: 'SELECT 1', after: ['01_tabels'] }),
    step('03', { sql: file('sql/missing.sql'), transaction: 'yes' } as any),
  ],
} as any);`,
  );
  const lines = await rejected(ctx.db, r);
  oneLine(lines, /^zsetup\.config\.ts: bogus: unknown field/);
  oneLine(lines, /^zsetup\.config\.ts: plugins\[0\]: not a plugin/);
  oneLine(lines, /^zsetup\.config\.ts: steps\[0\]\.colour \(step "01_tables"\): unknown field/);
  oneLine(lines, /^zsetup\.config\.ts: steps\[1\]\.name: duplicate step name/);
  oneLine(lines, /^zsetup\.config\.ts: steps\[2\]\.after\[0\] \(step "02"\): .*"01_tabels"/);
  oneLine(lines, /^zsetup\.config\.ts: steps\[3\]\.sql \(step "03"\): SQL file not found/);
  oneLine(lines, /^zsetup\.config\.ts: steps\[3\]\.transaction \(step "03"\): expected true or false/);
  assert.is(lines.length, 7, lines.join('\n'));
  assert.match(r.stderr, /7 problems in the config/);
});

t('--json: one error object listing every problem, nothing else on stdout', async (ctx) => {
  const r = await run(
    ctx,
    `${HEADER}export default defineConfig({ steps: [
  step('01', { sql: 'CREATE TABLE a (id int)', colour: 'red' } as any),
  step('02', { sql: 'SELECT 1', after: ['nope'] }),
] });`,
    ['plan', '--json'],
  );
  assert.is(r.code, 2, r.stderr);
  const objs = r.stdout.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l));
  const errors = objs.filter((o) => o.type === 'error');
  assert.is(errors.length, 1, r.stdout);
  assert.is(errors[0].status, 'config');
  assert.is(errors[0].problems.length, 2);
  assert.equal(errors[0].problems.map((p: { path: string }) => p.path).sort(), ['steps[0].colour (step "01")', 'steps[1].after[0] (step "02")']);
  for (const p of errors[0].problems) assert.is(p.file, CONFIG);
  const [row] = await ctx.db.query<{ n: string }>(`SELECT count(*) AS n FROM pg_namespace WHERE nspname = 'zsetup'`);
  assert.is(row!.n, '0');
});

t.run();
