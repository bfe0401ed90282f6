/**
 * The edges, through the real CLI: no secret in any output whatever carries it, a bad
 * environment variable named as such with the database untouched, a plugin that drops a
 * contract, a config that never settles, no command at all, a closed stdout, and PGlite
 * data dirs that cannot be opened. The in-process side of these checks is in
 * test/unit/{config,load,redact}.test.ts.
 */
import * as assert from 'uvu/assert';
import { readdirSync, spawn } from 'node:child_process';
import { mkdirSync, readdirSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, cli, dbEachSuite, dir, pgliteDataDir, HEADER, type CliResult } from '../helpers.js';

const t = dbEachSuite('edges');

const PASSWORD = 'Pw_S3cr3t-42';
const withPassword = (url: string) => url.replace('postgres://root@', `postgres://root:${PASSWORD}@`);

/** Exit code, no stack trace, and the password nowhere. */
function clean(r: CliResult, code: number): string {
  const out = r.stdout + r.stderr;
  assert.is(r.code, code, out);
  assert.not.match(out, /^\s+at .+:\d+/m, `no stack trace:\n${out}`);
  for (const form of [PASSWORD, encodeURIComponent(PASSWORD)]) assert.not.ok(out.includes(form), `password shown:\n${out}`);
  return out;
}

const noState = async (ctx: { db: { query<R>(sql: string): Promise<R[]> } }) =>
  assert.equal(await ctx.db.query("SELECT nspname FROM pg_namespace WHERE nspname = 'zsetup'"), [], 'the database is untouched');

t('no command: usage on stderr, exit 2; unknown commands and flags: exit 2', async (ctx) => {
  const d = dir(ctx, {});
  const r = await cli([], { cwd: d.dir });
  clean(r, 2);
  assert.is(r.stdout, '');
  assert.match(r.stderr, /Usage: zsetup/);
  assert.match(r.stderr, /no command given/);
  clean(await cli(['bogus'], { cwd: d.dir }), 2);
  clean(await cli(['apply', '--bogus'], { cwd: d.dir }), 2);
  clean(await cli(['--help'], { cwd: d.dir }), 0);
});

t('the password never shows: plugin register(), check(), a step error, a config error, --json, status --history', async (ctx) => {
  const url = withPassword(ctx.db.url);
  const leak = 'process.env.ZSETUP_DATABASE_URL';
  const d = dir(ctx, {
    'zsetup.config.ts': `${HEADER}export default defineConfig({
  steps: [
    repeatable('r', { lastRun: () => 1, check: () => { throw new Error('check sees ' + ${leak}); }, sql: 'SELECT 1' }),
    step('boom', { run: async () => { throw new Error('step sees ' + ${leak} + ' and ' + encodeURIComponent(${JSON.stringify(PASSWORD)})); } }),
  ],
});\n`,
    'register.config.ts': `${HEADER}export default defineConfig({
  plugins: [{ name: 'leaky', register() { throw new Error('cannot use ' + ${leak}); } }],
  steps: [step('a', { sql: 'SELECT 1' })],
});\n`,
    'load.config.ts': `throw new Error('config sees ' + ${leak});\n`,
    'inconfig.config.ts': `${HEADER}export default defineConfig({
  database: { url: ${JSON.stringify(`${ctx.db.url}?password=${encodeURIComponent(PASSWORD)}`)} },
  steps: [step('x', { run: async (ctx) => { throw new Error('url ' + ctx.config.database.url + ' pw ' + ${JSON.stringify(PASSWORD)}); } })],
});\n`,
  });
  // apply records the failing step and the repeatable; plan then runs the check() that throws.
  for (const args of [['apply'], ['apply', '--json'], ['plan', '--json'], ['status', '--history'], ['status', '--history', '--json']]) {
    const r = clean(await cli(args, { cwd: d.dir, url }), args[0] === 'apply' ? 1 : 0);
    if (args.includes('--json')) for (const l of r.trim().split('\n').filter((x) => x.startsWith('{'))) JSON.parse(l);
  }
  for (const [f, json] of [
    ['register.config.ts', []],
    ['register.config.ts', ['--json']],
    ['load.config.ts', []],
  ] as const) {
    const out = clean(await cli(['plan', '-c', f, ...json], { cwd: d.dir, url }), 2);
    assert.match(out, new RegExp(f.replace('.', '\\.')));
  }
  clean(await cli(['apply', '-c', 'inconfig.config.ts'], { cwd: d.dir, env: { ZSETUP_DATABASE_URL: '' } }), 1);
  // Unreachable, with the password in the URL.
  clean(await cli(['plan', '--json', '--connect-timeout', '200ms'], { cwd: d.dir, url: `postgres://root:${PASSWORD}@127.0.0.1:1/nowhere` }), 5);
  const journal = await ctx.db.query<{ error: string | null }>('SELECT error FROM zsetup.journal');
  assert.ok(journal.some((j) => j.error?.includes('step sees')));
  for (const j of journal) assert.not.ok(j.error?.includes(PASSWORD) || j.error?.includes(encodeURIComponent(PASSWORD)), j.error!);
});

t('a bad environment variable is named as such, the password is not shown, the database is untouched', async (ctx) => {
  const d = dir(ctx, { 'zsetup.config.ts': `${HEADER}export default defineConfig({ apply: { concurrency: 2 }, steps: [step('a', { sql: 'CREATE TABLE a (id int)' })] });\n` });
  const url = withPassword(ctx.db.url);
  let out = clean(await cli(['apply'], { cwd: d.dir, url, env: { ZSETUP_CONCURRENCY: 'abc' } }), 2);
  assert.match(out, /^zsetup\.config\.ts: ZSETUP_CONCURRENCY: expected an integer/m);
  assert.not.match(out, /apply\.concurrency/);
  out = clean(await cli(['apply', '--lock-timeout', '30d'], { cwd: d.dir, url }), 2);
  assert.match(out, /--lock-timeout: "30d" is too long/);
  out = clean(await cli(['apply'], { cwd: d.dir, env: { ZSETUP_DATABASE_URL: `postgres://root:${PASSWORD}@127.0.0.1:5432:5433/x` } }), 2);
  assert.match(out, /ZSETUP_DATABASE_URL: more than one port/);
  await noState(ctx);
});

t('a plugin that replaces the pool but registers nothing: exit 2 naming it and the token', async (ctx) => {
  const d = dir(ctx, { 'zsetup.config.ts': `${HEADER}export default defineConfig({ plugins: [{ name: 'pool', register() {} }], steps: [step('a', { sql: 'SELECT 1' })] });\n` });
  const out = clean(await cli(['apply'], { cwd: d.dir, url: ctx.db.url }), 2);
  assert.match(out, /plugins\[0\] \(plugin "pool"\): replaces the built-in plugin "pool" but registers nothing for Tokens\.Database/);
  await noState(ctx);
});

t('a config whose promise never settles: exit 2 at once, naming the file', async (ctx) => {
  const d = dir(ctx, { 'zsetup.config.ts': 'export default new Promise(() => {});\n', 'fn.config.ts': 'export default () => new Promise(() => {});\n' });
  for (const args of [['plan'], ['apply', '-c', 'fn.config.ts']]) {
    const t0 = Date.now();
    // The bound is not what ends it: nothing is left to wait for, so it fails at once.
    const out = clean(await cli(args, { cwd: d.dir, url: ctx.db.url, env: { ZSETUP_CONFIG_TIMEOUT: '120s' } }), 2);
    assert.match(out, /^(zsetup|fn)\.config\.ts: the config never finishes loading/m);
    assert.ok(Date.now() - t0 < 30_000, `${Date.now() - t0} ms`);
  }
  // One that keeps the process busy meanwhile is ended by the bound.
  d.write({ 'busy.config.ts': 'export default new Promise(() => { setInterval(() => {}, 1000); });\n' });
  const out = clean(await cli(['plan', '-c', 'busy.config.ts'], { cwd: d.dir, url: ctx.db.url, env: { ZSETUP_CONFIG_TIMEOUT: '1s' } }), 2);
  assert.match(out, /^busy\.config\.ts: the config did not finish loading within 1\.00 s/m);
});

t('apply with its stdout closed early (| head -1) finishes its work and exits with its outcome', async (ctx) => {
  const steps = Array.from({ length: 12 }, (_, i) => `step('s${i}', { run: async () => { await new Promise((r) => setTimeout(r, 20)); } }),`).join('\n');
  const d = dir(ctx, { 'zsetup.config.ts': `${HEADER}export default defineConfig({ steps: [${steps}] });\n` });
  const child = spawn(process.execPath, [CLI, 'apply'], { cwd: d.dir, env: { ...process.env, ZSETUP_DATABASE_URL: ctx.db.url }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (b) => (stderr += b));
  // Read the first line, then close our end, as `head -1` does.
  await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
  child.stdout.destroy();
  const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
  assert.is(code, 0, stderr);
  assert.not.match(stderr, /^\s+at /m);
  const [n] = await ctx.db.query<{ n: number }>("SELECT count(*)::int AS n FROM zsetup.journal WHERE event = 'done'");
  assert.is(n!.n, 12, 'every step done');
});

t('PGlite data dirs that cannot be opened: one line naming the dir and the cause', async (ctx) => {
  const d = dir(ctx, { 'zsetup.config.ts': `${HEADER}export default defineConfig({ database: { pglite: { dataDir: process.env.DD } }, steps: [step('a', { sql: 'SELECT 1' })] });\n` });
  await pgliteDataDir(join(d.dir, 'v14'));
  writeFileSync(join(d.dir, 'v14/PG_VERSION'), '14\n');
  await pgliteDataDir(join(d.dir, 'torn'));
  truncateSync(join(d.dir, 'torn/global/pg_control'), 10);
  writeFileSync(join(d.dir, 'afile'), 'x');
  mkdirSync(join(d.dir, 'parent'));
  mkdirSync(join(d.dir, 'notes'));
  writeFileSync(join(d.dir, 'notes/todo.txt'), 'x');
  for (const [dd, re] of [
    ['notes', /it is not empty \(1 entry, such as "todo\.txt"\) and holds no PostgreSQL data dir/],
    ['v14', /its PG_VERSION says PostgreSQL 14, but the embedded PGlite runs PostgreSQL 18/],
    ['torn', /global\/pg_control is 10 bytes instead of 8192: the data dir is damaged/],
    ['afile', /or one of its parent folders is a file, not a folder/],
    ['afile/sub', /or one of its parent folders is a file, not a folder/],
  ] as const) {
    const r = await cli(['plan'], { cwd: d.dir, env: { DD: dd }, timeoutMs: 120_000 });
    const out = clean(r, 2);
    const line = out.split('\n').find((l) => re.test(l));
    assert.ok(line, out);
    assert.match(line!, new RegExp(`database\\.pglite\\.dataDir: cannot open the PGlite data dir ${join(d.dir, dd).replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}`));
    assert.not.match(out, /Aborted\(\)|\[object Object\]/);
  }
  assert.equal(readdirSync(join(d.dir, 'notes')), ['todo.txt'], 'nothing was created in a folder that is not a data dir');
});

t.run();
