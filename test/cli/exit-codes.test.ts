/**
 * Exit codes 3 (lock not acquired within --lock-timeout) and 4 (drift refused; applied
 * with --allow-drift), through the real CLI on PostgreSQL.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import pg from 'pg';
import { cli, createDb, scratch, HEADER, type TestDb } from '../helpers.js';
import { hash32 } from '../../plugins/lock/advisory.js';

type Scratch = ReturnType<typeof scratch>;
interface Ctx {
  db: TestDb;
  dir: Scratch;
  dirs: Scratch[];
}

const t = suite<Ctx>('exit codes 3 and 4');

const CONFIG = `${HEADER}const v = process.env.REP_V ?? '1';
export default defineConfig({ steps: [
  step('01_t', { sql: 'CREATE TABLE t (id int)' }),
  repeatable('02_r', { lastRun: () => ({ v }), check: (last: any) => last?.v !== v, sql: 'INSERT INTO t VALUES (3)' }),
] });
`;

t.before(async (ctx) => {
  ctx.db = await createDb();
  ctx.dir = scratch({ 'zsetup.config.ts': CONFIG });
  ctx.dirs = [];
  const a = await cli(['apply'], { cwd: ctx.dir.dir, url: ctx.db.url });
  assert.is(a.code, 0, a.stdout + a.stderr);
});
t.after(async (ctx) => {
  await ctx.db.drop();
  ctx.dir.remove();
  for (const d of ctx.dirs) d.remove();
});

const z = (ctx: Ctx, args: string[], env?: Record<string, string>) => cli(args, { cwd: ctx.dir.dir, url: ctx.db.url, env });
const rows = async (db: TestDb, sql: string) => db.query<Record<string, string>>(sql);

t('lock held elsewhere: exit 3 after --lock-timeout, naming the holder', async (ctx) => {
  // Hold the run lock from a test connection, as another zsetup would.
  const c = new pg.Client({ connectionString: ctx.db.url, application_name: 'zsetup@1700000000 other-pod:42:abc' });
  await c.connect();
  try {
    const [r] = (await c.query('SELECT pg_try_advisory_lock($1, $2) AS ok', [0x7a736574, hash32('zsetup')])).rows;
    assert.ok(r.ok);
    const t0 = Date.now();
    const a = await z(ctx, ['apply', '--lock-timeout', '1s'], { REP_V: '3' });
    const took = Date.now() - t0;
    assert.is(a.code, 3, a.stdout + a.stderr);
    assert.match(a.stderr, /could not acquire the advisory lock/);
    assert.match(a.stderr, /other-pod:42:abc/);
    assert.ok(took < 8000, `gave up after ${took} ms`);
    assert.not.match(a.stdout + a.stderr, /^\s+at .+:\d+:\d+\)?$/m);
    // Nothing ran: 02_r would have re-run with REP_V=3.
    const [n] = await rows(ctx.db, `SELECT count(*) AS n FROM t WHERE id = 3`);
    assert.is(n!.n, '1');
    // --json: the error is one JSON object.
    const j = await z(ctx, ['apply', '--lock-timeout', '1s', '--json'], { REP_V: '3' });
    assert.is(j.code, 3);
    const err = j.json().find((o) => o.type === 'error');
    assert.is(err?.status, 'lock-timeout');
  } finally {
    await c.end();
  }
  // Released: the same apply goes through.
  const ok = await z(ctx, ['apply', '--lock-timeout', '1s'], { REP_V: '3' });
  assert.is(ok.code, 0, ok.stderr);
  const [n] = await rows(ctx.db, `SELECT count(*) AS n FROM t WHERE id = 3`);
  assert.is(n!.n, '2');
});

t('drift: a changed once-only step is refused with exit 4 and nothing runs; --allow-drift goes on', async (ctx) => {
  const dir = scratch({
    'zsetup.config.ts': `${HEADER}export default defineConfig({ state: { schema: 'zs_drift' }, steps: [
  step('d1', { sql: 'CREATE TABLE d (id int)' }),
  step('d2', { sql: 'INSERT INTO d VALUES (1)' }),
] });`,
  });
  ctx.dirs.push(dir);
  const run = (args: string[]) => cli(args, { cwd: dir.dir, url: ctx.db.url });
  const a = await run(['apply']);
  assert.is(a.code, 0, a.stderr);

  // d1 changes after it ran; a new step d3 is added after it.
  dir.write({
    'zsetup.config.ts': `${HEADER}export default defineConfig({ state: { schema: 'zs_drift' }, steps: [
  step('d1', { sql: 'CREATE TABLE d (id bigint)' }),
  step('d2', { sql: 'INSERT INTO d VALUES (1)' }),
  step('d3', { sql: 'INSERT INTO d VALUES (3)', after: [] }),
] });`,
  });
  const p = await run(['plan', '--json']);
  assert.is(p.code, 0, p.stderr);
  assert.equal(
    p.json().map((e) => [e.step, e.action]),
    [
      ['d1', 'drift'],
      ['d2', 'skip'],
      ['d3', 'run'],
    ],
  );
  const b = await run(['apply']);
  assert.is(b.code, 4, b.stdout + b.stderr);
  assert.match(b.stderr, /refusing to apply/);
  assert.match(b.stderr, /"d1"/);
  assert.match(b.stderr, /--allow-drift/);
  const [n] = await rows(ctx.db, 'SELECT count(*) AS n FROM d');
  assert.is(n!.n, '1', 'nothing ran, not even the independent d3');
  const events = await rows(ctx.db, `SELECT count(*) AS n FROM zs_drift.journal`);
  assert.is(events[0]!.n, '4', 'nothing recorded');

  const c = await run(['apply', '--allow-drift']);
  assert.is(c.code, 0, c.stdout + c.stderr);
  const ids = await rows(ctx.db, 'SELECT id FROM d ORDER BY id');
  assert.equal(ids.map((r) => r.id), [1, 3] as any);
  const [type] = await rows(ctx.db, `SELECT data_type FROM information_schema.columns WHERE table_name = 'd' AND column_name = 'id'`);
  assert.is(type!.data_type, 'integer', 'the drifted step is left as applied');
});

t.run();
