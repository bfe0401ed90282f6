/**
 * Identifiers from the config are quoted (no SQL injection through the state schema
 * name), and the database password never appears in any output: text, --json, errors,
 * a failing step, an unreachable server.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import { adminQuery, cli, createDb, scratch, HEADER, type TestDb } from '../helpers.js';

type Scratch = ReturnType<typeof scratch>;
interface Ctx {
  db: TestDb;
  dirs: Scratch[];
  role: string;
}

const PASSWORD = 'S3cr3t-xyz';
const t = suite<Ctx>('security');

t.before(async (ctx) => {
  ctx.db = await createDb();
  ctx.dirs = [];
  ctx.role = `zs_pw_${randomBytes(4).toString('hex')}`;
  // The server trusts 127.0.0.1, so the password is not checked: it only has to be in the URL.
  await adminQuery(`CREATE ROLE ${ctx.role} LOGIN PASSWORD '${PASSWORD}'`);
  await ctx.db.query(`GRANT ALL ON SCHEMA public TO ${ctx.role}; GRANT CREATE ON DATABASE ${ctx.db.name} TO ${ctx.role}`);
  // What an injection through a config identifier would drop.
  await ctx.db.query('CREATE TABLE victim (id int); INSERT INTO victim VALUES (1)');
});
t.after(async (ctx) => {
  await ctx.db.drop();
  await adminQuery(`DROP ROLE IF EXISTS ${ctx.role}`);
  for (const d of ctx.dirs) d.remove();
});

function dir(ctx: Ctx, files: Record<string, string>): Scratch {
  const d = scratch(files);
  ctx.dirs.push(d);
  return d;
}

t('a state schema name cannot inject SQL; the schema with that exact name is created', async (ctx) => {
  const evil = 'x"; DROP TABLE victim; --';
  const d = dir(ctx, {
    'zsetup.config.ts': `${HEADER}export default defineConfig({
  state: { schema: ${JSON.stringify(evil)} },
  lock: { name: ${JSON.stringify("it's; DROP TABLE victim; --")} },
  steps: [
    step("01_it's", { sql: 'CREATE TABLE quoted (id int)' }),
    step('02_x', { sql: 'INSERT INTO quoted VALUES (1)' }),
  ],
});`,
  });
  for (const args of [['plan'], ['apply'], ['status'], ['status', '--history'], ['apply']]) {
    const r = await cli(args, { cwd: d.dir, url: ctx.db.url });
    assert.is(r.code, 0, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
  }
  const [v] = await ctx.db.query<{ n: number }>('SELECT count(*)::int AS n FROM victim');
  assert.is(v!.n, 1, 'the victim table survived');
  const schemas = await ctx.db.query<{ nspname: string }>(`SELECT nspname FROM pg_namespace WHERE nspname = $1`, [evil]);
  assert.is(schemas.length, 1, 'the schema with that exact name exists');
  const journal = await ctx.db.query<{ step: string; event: string }>(`SELECT step, event FROM "x""; DROP TABLE victim; --".journal ORDER BY id`);
  assert.equal(
    journal.map((r) => [r.step, r.event]),
    [
      ["01_it's", 'started'],
      ["01_it's", 'done'],
      ['02_x', 'started'],
      ['02_x', 'done'],
    ],
  );
  const [q] = await ctx.db.query<{ n: number }>('SELECT count(*)::int AS n FROM quoted');
  assert.is(q!.n, 1);
});

t('the lease lock quotes the schema and the lock name too', async (ctx) => {
  const evil = 'y"; DROP TABLE victim; --';
  const d = dir(ctx, {
    'zsetup.config.ts': `${HEADER}export default defineConfig({
  state: { schema: ${JSON.stringify(evil)} },
  lock: { kind: 'lease', name: ${JSON.stringify("l'; DROP TABLE victim; --")} },
  steps: [step('01', { sql: 'CREATE TABLE quoted_lease (id int)' })],
});`,
  });
  const a = await cli(['apply'], { cwd: d.dir, url: ctx.db.url });
  assert.is(a.code, 0, a.stdout + a.stderr);
  const [v] = await ctx.db.query<{ n: number }>('SELECT count(*)::int AS n FROM victim');
  assert.is(v!.n, 1, 'the victim table survived');
  const lease = await ctx.db.query<{ name: string }>(`SELECT name FROM "y""; DROP TABLE victim; --".lease`);
  assert.equal(lease.map((r) => r.name), ["l'; DROP TABLE victim; --"]);
  const b = await cli(['apply'], { cwd: d.dir, url: ctx.db.url });
  assert.is(b.code, 0, b.stdout + b.stderr);
  assert.match(b.stdout, /up to date/);
});

t('the password never appears in any output', async (ctx) => {
  const url = `postgres://${ctx.role}:${PASSWORD}@127.0.0.1:5432/${ctx.db.name}`;
  const d = dir(ctx, {
    'zsetup.config.ts': `${HEADER}export default defineConfig({ state: { schema: 'zs_pw' }, steps: [
  step('01_ok', { sql: 'CREATE TABLE pw_t (id int)' }),
  step('02_fails', { sql: "SELECT current_setting('no.such_setting')" }),
  step('03_fn_fails', { after: ['01_ok'], run: async ({ config }) => { throw new Error('could not use ' + config.database.url); } }),
  // A step that logs what it connects with: the bare password is in the message.
  step('04_logs', { after: ['01_ok'], run: async ({ config, log }) => {
    const u = new URL(config.database.url!);
    log('connecting as ' + u.username + ' with ' + decodeURIComponent(u.password) + ' to ' + config.database.url);
  } }),
] });`,
  });
  const seen: string[] = [];
  const check = (label: string, r: { code: number | null; stdout: string; stderr: string }, code: number) => {
    seen.push(label);
    assert.is(r.code, code, `${label}: ${r.stdout}${r.stderr}`);
    assert.not.ok(r.stdout.includes(PASSWORD), `${label}: password on stdout:\n${r.stdout}`);
    assert.not.ok(r.stderr.includes(PASSWORD), `${label}: password on stderr:\n${r.stderr}`);
  };
  for (const args of [['plan'], ['plan', '--json']]) check(args.join(' '), await cli(args, { cwd: d.dir, url }), 0);
  for (const args of [['apply'], ['apply', '--json']]) {
    const r = await cli(args, { cwd: d.dir, url });
    check(args.join(' '), r, 1);
    assert.match(r.stdout + r.stderr, /unrecognized configuration parameter/, 'the failing step is reported');
    assert.match(r.stdout + r.stderr, /could not use postgres:\/\//, 'the function step error is reported, redacted');
    if (args.length === 1) assert.match(r.stdout, /04_logs: connecting as zs_pw_/, 'the log line is shown, redacted');
  }
  for (const args of [['status'], ['status', '--json'], ['status', '--history'], ['status', '--history', '--json']]) {
    check(args.join(' '), await cli(args, { cwd: d.dir, url }), 0);
  }
  // the recorded error does not hold it either
  const errors = await ctx.db.query<{ error: string }>(`SELECT error FROM zs_pw.journal WHERE error IS NOT NULL`);
  assert.ok(errors.length >= 2);
  for (const e of errors) assert.not.ok(e.error.includes(PASSWORD), `journal: ${e.error}`);

  // unreachable, text and JSON, through the env var and through the config file
  const down = `postgres://u:${PASSWORD}@127.0.0.1:1/db`;
  for (const args of [['apply'], ['apply', '--json'], ['plan', '--json'], ['status']]) {
    check(`unreachable ${args.join(' ')}`, await cli([...args, '--connect-timeout', '1s'], { cwd: d.dir, url: down }), 5);
  }
  const inFile = dir(ctx, {
    'zsetup.config.ts': `${HEADER}export default defineConfig({ database: { url: ${JSON.stringify(down)} }, steps: [step('01', { sql: 'SELECT 1' })] });`,
  });
  check('unreachable, url in the config', await cli(['apply', '--connect-timeout', '1s'], { cwd: inFile.dir }), 5);
  // a bad config with the URL in it
  const badCfg = dir(ctx, {
    'zsetup.config.ts': `${HEADER}export default defineConfig({ database: { url: ${JSON.stringify(down)}, pool: { max: 0 } }, steps: [step('01', { sql: 'SELECT 1' })] });`,
  });
  check('config error', await cli(['apply', '--json'], { cwd: badCfg.dir }), 2);
  assert.ok(seen.length >= 13);
});

t.run();
