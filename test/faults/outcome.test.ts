/**
 * A step's outcome is never misreported: whatever a function step throws (undefined, null,
 * a number, a plain object), however it ends its own transaction (rollback, commit), and
 * whatever its code leaves behind (process.exit, a throw in a timer, an unhandled
 * rejection), the step is recorded `failed` with a readable message, its dependant does
 * not run, the run exits 1, and no stack trace is printed. A transient SQLSTATE on a plain
 * object is still retried. One apply of many independent failing branches, on PostgreSQL
 * and on PGlite.
 */
import * as assert from 'uvu/assert';
import { cli, dbSuite, dir, pgliteDataDir, HEADER } from '../helpers.js';
import { join } from 'node:path';

/** [name, code of the step, what its recorded error must say] */
const CASES: Array<[string, string, RegExp]> = [
  ['undef', 'throw undefined;', /^undefined was thrown \(no error was given\)$/],
  ['null', 'throw null;', /^null was thrown/],
  ['number', 'throw 42;', /^the number 42 was thrown/],
  ['object', "throw { message: 'vault said no', code: 'E_VAULT' };", /^vault said no \(code E_VAULT\)$/],
  ['empty_object', 'throw {};', /^an object with no message was thrown: \{\}$/],
  ['rollback', 'await ctx.db.rollback();', /rolled back its own transaction/],
  ['nested_rollback', 'await ctx.db.transaction(async (trx) => { await trx.raw("SELECT 1"); await trx.rollback(); });', /rolled back without an error/],
  ['commit', 'await ctx.db.commit();', /do not commit it yourself/],
  ['exit0', 'process.exit(0);', /called process\.exit\(0\)/],
  ['timer_throw', "setTimeout(() => { throw new Error('late boom'); }, 0); await new Promise((r) => setTimeout(r, 100));", /^late boom \(an uncaught exception/],
  ['unhandled', "Promise.reject(new Error('nobody listens'));", /^nobody listens \(an unhandled promise rejection/],
  ['raw_rollback', "await ctx.db.raw('ROLLBACK');", /ended the transaction zsetup runs it in/],
  ['abort', 'process.abort();', /called process\.abort\(\)/],
  // An SQL step (the code is its SQL): a ROLLBACK in it is not recorded done over nothing.
  ['sql_rollback', 'sql:CREATE TABLE t_sql_rollback (id int); ROLLBACK;', /ended the transaction zsetup runs it in/],
];

function config(counter: string): string {
  const steps = CASES.flatMap(([name, code]) => [
    code.startsWith('sql:')
      ? `step('f_${name}', { after: [], sql: ${JSON.stringify(code.slice(4))} }),`
      : `step('f_${name}', { after: [], run: async (ctx: any) => { await ctx.db.raw('CREATE TABLE t_${name} (id int)'); ${code} } }),`,
    `step('d_${name}', { after: ['f_${name}'], sql: 'CREATE TABLE d_${name} (id int)' }),`,
  ]);
  return `${HEADER}import { readFileSync, writeFileSync, existsSync } from 'node:fs';
export default defineConfig({
  apply: { retries: 2 },
  steps: [
    ${steps.join('\n    ')}
    // Session settings a step makes do not follow the connection into the next step.
    step('setter', { after: [], run: async (ctx: any) => { await ctx.db.raw('SET default_transaction_read_only = on'); await ctx.db.raw('SET search_path = nowhere'); } }),
    step('after_setter', { after: ['setter'], sql: 'CREATE TABLE public.t_after_setter (id int)' }),
    // Fails once with a transient SQLSTATE on a plain object, then succeeds: retried.
    step('transient', { after: [], run: async (ctx: any) => {
      const n = existsSync(${JSON.stringify(counter)}) ? Number(readFileSync(${JSON.stringify(counter)}, 'utf8')) : 0;
      writeFileSync(${JSON.stringify(counter)}, String(n + 1));
      if (n === 0) throw { code: '40001', message: 'could not serialize access' };
      await ctx.db.raw('CREATE TABLE t_transient (id int)');
    } }),
  ],
});
`;
}

const t = dbSuite('step outcome');

async function check(r: Awaited<ReturnType<typeof cli>>, journal: Array<{ step: string; event: string; error: string | null }>, tables: string[]) {
  const out = r.stdout + r.stderr;
  assert.is(r.code, 1, out);
  assert.not.match(out, /^\s+at .+:\d+/m, 'no stack trace');
  assert.not.match(out, /\[object Object\]/);
  const latest = new Map<string, { event: string; error: string | null }>();
  for (const j of journal) latest.set(j.step, j);
  for (const [name, , re] of CASES) {
    const f = latest.get(`f_${name}`);
    assert.is(f?.event, 'failed', `f_${name}: ${JSON.stringify(f)}`);
    assert.match(f!.error ?? '', re, `f_${name}`);
    assert.not.ok(latest.has(`d_${name}`), `d_${name} did not run`);
    assert.not.ok(tables.includes(`d_${name}`), `d_${name}'s table`);
    assert.not.ok(tables.includes(`t_${name}`), `t_${name}: the failed step's work rolled back`);
  }
  assert.is(latest.get('after_setter')?.event, 'done', 'a SET of the step before did not leak');
  assert.is(latest.get('transient')?.event, 'done');
  assert.ok(tables.includes('t_transient'));
  const events = r.json();
  assert.ok(events.some((e) => e.type === 'step.retry' && e.step === 'transient'), 'the transient fault was retried');
  assert.is(events.at(-1).status, 'failed');
}

t('on PostgreSQL', async (ctx) => {
  const d = dir(ctx, {});
  d.write({ 'zsetup.config.ts': config(join(d.dir, 'counter')) });
  const r = await cli(['apply', '--json'], { cwd: d.dir, url: ctx.db.url });
  const journal = await ctx.db.query<{ step: string; event: string; error: string | null }>('SELECT step, event, error FROM zsetup.journal ORDER BY id');
  const tables = (await ctx.db.query<{ t: string }>("SELECT tablename AS t FROM pg_tables WHERE schemaname = 'public'")).map((x) => x.t);
  await check(r, journal, tables);
  // status shows them failed too.
  const s = await cli(['status', '--json'], { cwd: d.dir, url: ctx.db.url });
  for (const [name] of CASES) assert.is(s.json().find((x) => x.step === `f_${name}`)?.state, 'failed');
});

t('on PGlite', async (ctx) => {
  const d = dir(ctx, {});
  await pgliteDataDir(join(d.dir, '.zsetup/pglite'));
  d.write({ 'zsetup.config.ts': config(join(d.dir, 'counter')), 'verify.config.ts': `${HEADER}export default defineConfig({ steps: [] });\n` });
  const r = await cli(['apply', '--json'], { cwd: d.dir, timeoutMs: 120_000 });
  const h = await cli(['status', '--history', '--json'], { cwd: d.dir, timeoutMs: 120_000 });
  assert.is(h.code, 0, h.stderr);
  const journal = h.json().map((e) => ({ step: e.step, event: e.event, error: e.error ?? null }));
  // Tables: the failed steps' and dependants' must not exist; read through a step-less plan is not
  // possible, so the journal decides for the dependants and the transient step's table is implied.
  const tables = journal.some((j) => j.step === 'transient' && j.event === 'done') ? ['t_transient'] : [];
  await check(r, journal, tables);
});

t("a plugin hook's fault fails the run, not the step it was told about", async (ctx) => {
  const d = dir(ctx, {});
  d.write({
    'zsetup.config.ts': `${HEADER}import { Tokens } from 'zsetup';
export default defineConfig({
  plugins: [{ name: 'audit', register(c: any) { c.register(Tokens.Hooks, { useValue: { onEvent: async (e: any) => { if (e.type === 'step.done') throw new Error('audit sink down'); } } }); } }],
  steps: [step('a', { sql: 'CREATE TABLE a (id int)' })],
});
`,
  });
  const r = await cli(['apply'], { cwd: d.dir, url: ctx.db.url });
  assert.is(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stderr, /onEvent hook \(#\d+ of Tokens\.Hooks\) left an unhandled promise rejection behind: audit sink down/);
  const journal = await ctx.db.query<{ event: string }>("SELECT event FROM zsetup.journal WHERE step = 'a' ORDER BY id");
  assert.equal(journal.map((j) => j.event), ['started', 'done'], 'the step keeps its record');
  const again = await cli(['apply'], { cwd: d.dir, url: ctx.db.url });
  assert.is(again.code, 0, again.stdout + again.stderr);
  assert.match(again.stdout, /up to date/);
});

t.run();
