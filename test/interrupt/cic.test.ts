/**
 * An interrupted `CREATE INDEX CONCURRENTLY` leaves an INVALID index, which
 * `CREATE INDEX CONCURRENTLY IF NOT EXISTS` would then silently keep. The step drops it
 * and builds it again, and says so. Covered twice: an invalid index made by a unique
 * build that failed on duplicates, and one left by SIGTERM cancelling a real build.
 */
import pg from 'pg';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { cli, createDb, scratch, startCli, HEADER, type TestDb } from '../helpers.js';
import { CONFIG, journal, killTimed, until } from './util.js';

type Scratch = ReturnType<typeof scratch>;
interface Ctx {
  db: TestDb;
  dirs: Scratch[];
  clients: pg.Client[];
}

const t = suite<Ctx>('interrupt: invalid index from an interrupted CREATE INDEX CONCURRENTLY');
t.before((ctx) => {
  ctx.dirs = [];
});
t.before.each(async (ctx) => {
  ctx.db = await createDb();
  ctx.clients = [];
});
t.after.each(async (ctx) => {
  for (const c of ctx.clients) await c.end().catch(() => undefined);
  await ctx.db.drop();
});
t.after((ctx) => {
  for (const d of ctx.dirs) d.remove();
});

const TABLE = `step('01_table', { sql: 'CREATE TABLE cic_t (id int, c int); INSERT INTO cic_t SELECT g, g FROM generate_series(1, 5000) g' }),`;
const INDEX = `step('02_index', { transaction: false, sql: 'CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS cic_t_c ON cic_t (c)' }),`;

function dir(ctx: Ctx, steps: string): Scratch {
  const d = scratch({ [CONFIG]: `${HEADER}export default defineConfig({ steps: [\n  ${steps}\n] });` });
  ctx.dirs.push(d);
  return d;
}

async function indexState(db: TestDb): Promise<{ valid: boolean; ready: boolean } | undefined> {
  const rows = await db.query<{ valid: boolean; ready: boolean }>(`SELECT indisvalid AS valid, indisready AS ready FROM pg_index WHERE indexrelid = to_regclass('cic_t_c')`);
  return rows[0];
}

const REBUILT = /02_index: index public\.cic_t_c is INVALID \(left by an interrupted build\): dropping it to build it again/;

t('an INVALID index (a unique build that failed on duplicates) is dropped and built again: valid after apply, the log says so', async (ctx) => {
  const d = dir(ctx, TABLE);
  assert.is((await cli(['apply'], { cwd: d.dir, url: ctx.db.url })).code, 0);
  await ctx.db.query('INSERT INTO cic_t VALUES (5001, 7)');
  const failed = await ctx.db.query('CREATE UNIQUE INDEX CONCURRENTLY cic_t_c ON cic_t (c)').then(
    () => undefined,
    (err: Error) => err,
  );
  assert.match(String(failed?.message), /could not create unique index/);
  assert.equal(await indexState(ctx.db), { valid: false, ready: false }, 'the failed build left an INVALID index');
  await ctx.db.query('DELETE FROM cic_t WHERE id = 5001');

  d.write({ [CONFIG]: `${HEADER}export default defineConfig({ steps: [\n  ${TABLE}\n  ${INDEX}\n] });` });
  const r = await cli(['apply'], { cwd: d.dir, url: ctx.db.url });
  assert.is(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, REBUILT);
  assert.equal(await indexState(ctx.db), { valid: true, ready: true });
  const dup = await ctx.db.query('INSERT INTO cic_t VALUES (9999, 7)').then(
    () => undefined,
    (err: Error) => err,
  );
  assert.match(String(dup?.message), /duplicate key value violates unique constraint "cic_t_c"/, 'the rebuilt index enforces uniqueness');
});

t('SIGTERM while CREATE INDEX CONCURRENTLY waits: cancelled (exit 143), INVALID index left; the next apply rebuilds it', async (ctx) => {
  const d = dir(ctx, TABLE);
  assert.is((await cli(['apply'], { cwd: d.dir, url: ctx.db.url })).code, 0);
  // An open transaction that wrote to the table: the concurrent build waits for it after
  // creating its (still invalid) catalog entry.
  const holder = new pg.Client({ connectionString: ctx.db.url });
  ctx.clients.push(holder);
  await holder.connect();
  await holder.query('BEGIN');
  await holder.query('INSERT INTO cic_t VALUES (6000, 6000)');

  d.write({ [CONFIG]: `${HEADER}export default defineConfig({ steps: [\n  ${TABLE}\n  ${INDEX}\n] });` });
  const run = startCli(['apply'], { cwd: d.dir, url: ctx.db.url });
  await until(
    async () => (await ctx.db.query(`SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'CREATE UNIQUE INDEX CONCURRENTLY%' AND wait_event_type = 'Lock'`)).length > 0,
    10_000,
    'the index build to wait',
  );
  assert.equal(await indexState(ctx.db), { valid: false, ready: false }, 'mid-build the index exists, invalid');
  const { r, ms } = await killTimed(run, 'SIGTERM');
  console.log(`    SIGTERM during CREATE INDEX CONCURRENTLY to exit: ${ms.toFixed(0)} ms`);
  assert.is(r.code, 143, r.stdout + r.stderr);
  // Not cancelled, the build would wait for the test's transaction until the cleanup deadline (10 s).
  assert.ok(ms < 5000, `exited ${ms.toFixed(0)} ms after SIGTERM`);
  assert.match(r.stdout, /■ 02_index: stopped \(SIGTERM received\); its uncommitted work rolled back; the next apply runs it again/);
  const last = (await journal(ctx.db)).at(-1)!;
  assert.equal([last.step, last.event], ["02_index", "interrupted"], r.stdout + r.stderr);
  const [busy] = await ctx.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'CREATE UNIQUE INDEX%'`);
  assert.is(busy!.n, 0, 'the build was cancelled on the server, not left running');
  assert.equal(await indexState(ctx.db), { valid: false, ready: false }, 'the cancelled build left an INVALID index (the test\'s open write keeps it from being dropped)');
  assert.match(r.stdout, /! 02_index: index public\.cic_t_c is INVALID \(its build was stopped\) and could not be dropped now: run zsetup apply again/);
  await holder.query('ROLLBACK');

  const again = await cli(['apply'], { cwd: d.dir, url: ctx.db.url });
  assert.is(again.code, 0, again.stdout + again.stderr);
  assert.match(again.stdout, REBUILT);
  assert.equal(await indexState(ctx.db), { valid: true, ready: true });
  assert.equal(
    (await journal(ctx.db)).filter((e) => e.step === '02_index').map((e) => e.event),
    ['started', 'interrupted', 'started', 'done'],
  );
});

t.run();
