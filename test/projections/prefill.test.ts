/**
 * Projection prefill end to end, with the real CLI on real PostgreSQL: a projection that
 * records every event it reduces (a duplicate would break its primary key, a lost event
 * would be missing) is prefilled from events shaped as ZITADEL writes them (pushes that
 * share a position, in_tx_order within them), checkpointed in projections.current_states;
 * a kill mid-prefill resumes from there; --no-init-projections leaves it out, and plan says so.
 */
import * as assert from 'uvu/assert';
import { EVENTS2_DDL, cli, startCli, dbSuite, dir, type DbCtx, type TestDb } from '../helpers.js';
import pg from 'pg';
import { CONFIG, until, waitFor } from '../interrupt/util.js';

const t = dbSuite('projections: prefill');


/** n instances; per instance `perInstance` user events in pushes of 1-3 events sharing a position. */
async function fill(db: TestDb, instances: number, perInstance: number): Promise<number> {
  await db.query(`DROP SCHEMA IF EXISTS projections CASCADE; DROP SCHEMA IF EXISTS zsetup CASCADE; DROP SCHEMA IF EXISTS eventstore CASCADE`);
  await db.query(EVENTS2_DDL);
  // Loaded and never analyzed (no autovacuum racing the test): the prefill analyzes it.
  await db.query('ALTER TABLE eventstore.events2 SET (autovacuum_enabled = false)');
  await db.query(`
    WITH i AS (SELECT 'inst' || g AS id, g FROM generate_series(1, ${instances}) g)
    INSERT INTO eventstore.events2
    SELECT i.id, 'instance', i.id, 'instance.added', 1, 1, now(), '{"name":"x"}', 'sys', i.id, 1000 + i.g, 1 FROM i`);
  await db.query(`
    WITH e AS (
      SELECT 'inst' || (g % ${instances} + 1) AS inst, g,
             -- three events per push share one position: in_tx_order 1..3
             (2000000 + g / 3)::numeric + 0.000001 * (g / 3) AS pos, g % 3 + 1 AS ord
        FROM generate_series(0, ${instances * perInstance - 1}) g)
    INSERT INTO eventstore.events2
    SELECT inst, 'user', 'u' || (g / 3), CASE WHEN ord = 1 THEN 'user.human.added' ELSE 'user.human.email.changed' END,
           ord, 2, now(), jsonb_build_object('email', 'e' || g || '@x'), 'sys', 'org1', pos, ord FROM e`);
  const [r] = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM eventstore.events2`);
  return r!.n;
}

const PROJECTION = `const seen = {
  name: 'projections.seen1',
  tables: [{
    name: 'projections.seen1',
    columns: [
      { name: 'instance_id', type: 'text' }, { name: 'aggregate_type', type: 'text' }, { name: 'aggregate_id', type: 'text' },
      { name: 'sequence', type: 'bigint' }, { name: 'event_type', type: 'text' }, { name: 'position', type: 'numeric' },
    ],
    primaryKey: ['instance_id', 'aggregate_type', 'aggregate_id', 'sequence'],
  }],
  reducers: Object.fromEntries([['instance', ['instance.added']], ['user', ['user.human.added', 'user.human.email.changed']]].map(([agg, types]) => [agg,
    Object.fromEntries(types.map((type) => [type, (e) => ({ op: 'insert', table: 'projections.seen1', row: {
      instance_id: e.instanceId, aggregate_type: e.aggregateType, aggregate_id: e.aggregateId, sequence: e.sequence, event_type: e.eventType, position: e.position } })]))])),
};`;

const config = (extra = '') => `import { defineConfig, prefill } from 'zsetup';
${PROJECTION}
export default defineConfig({ ${extra} steps: [prefill(seen)] });
`;

/** Resolve once the prefill committed its first batch (a checkpoint row in current_states). */
function firstCheckpoint(db: TestDb): Promise<unknown> {
  return until(async () => {
    const r = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM projections.current_states WHERE projection_name = 'projections.seen1'`).catch(() => [{ n: 0 }]);
    return r[0]!.n > 0;
  }, 120_000, 'a first checkpoint');
}

async function expectExact(db: TestDb, events: number): Promise<void> {
  const [r] = await db.query<{ n: number; missing: number }>(
    `SELECT (SELECT count(*)::int FROM projections.seen1) AS n,
            (SELECT count(*)::int FROM eventstore.events2 e WHERE NOT EXISTS (SELECT 1 FROM projections.seen1 s
               WHERE s.instance_id = e.instance_id AND s.aggregate_type = e.aggregate_type AND s.aggregate_id = e.aggregate_id AND s.sequence = e."sequence")) AS missing`,
  );
  assert.is(r!.missing, 0, 'every event reduced');
  assert.is(r!.n, events, 'and each once');
}

t('prefill: every event once, checkpoints in current_states (ZITADEL format), plan skips it after; --no-init-projections leaves it out', async (ctx: DbCtx) => {
  const events = await fill(ctx.db, 4, 600);
  const d = dir(ctx, { [CONFIG]: config() });
  const off = await cli(['plan', '--no-init-projections', '--json'], { cwd: d.dir, url: ctx.db.url });
  assert.is(off.code, 0, off.stdout + off.stderr);
  const p = off.json().find((e) => e.step === 'projections.seen1');
  assert.is(p.action, 'skip');
  assert.match(p.reason, /projection prefill is off \(--no-init-projections\)/);
  const offApply = await cli(['apply', '--no-init-projections'], { cwd: d.dir, url: ctx.db.url });
  assert.is(offApply.code, 0, offApply.stdout + offApply.stderr);
  assert.is((await ctx.db.query(`SELECT to_regclass('projections.seen1') AS t`))[0]!.t, null, 'nothing ran');

  const stats = () => ctx.db.query(`SELECT 1 FROM pg_stats WHERE schemaname = 'eventstore' AND tablename = 'events2'`);
  assert.is((await stats()).length, 0, 'the events were never analyzed');
  const a = await cli(['apply'], { cwd: d.dir, url: ctx.db.url });
  assert.is(a.code, 0, a.stdout + a.stderr);
  assert.match(a.stdout, /projections\.seen1: \d+ events over 4 instance\(s\)/);
  assert.match(a.stdout, /eventstore\.events2 had no planner statistics: analyzed it first \(\d+ ms\)/);
  assert.ok((await stats()).length > 0, 'the prefill analyzed the event table');
  await expectExact(ctx.db, events);
  const states = await ctx.db.query<{ instance_id: string; position: string; filter_offset: number; aggregate_type: string }>(
    `SELECT instance_id, "position"::text AS position, filter_offset, aggregate_type FROM projections.current_states WHERE projection_name = 'projections.seen1' ORDER BY 1`,
  );
  assert.is(states.length, 4);
  for (const s of states) {
    const [last] = await ctx.db.query<{ position: string }>(`SELECT max("position")::text AS position FROM eventstore.events2 WHERE instance_id = $1`, [s.instance_id]);
    assert.is(s.position, last!.position, `${s.instance_id}: checkpoint at its last event`);
    assert.ok(s.filter_offset >= 1);
  }
  const again = await cli(['plan', '--json'], { cwd: d.dir, url: ctx.db.url });
  assert.is(again.json().find((e) => e.step === 'projections.seen1').action, 'skip');
});

t('SIGKILL mid-prefill: the next apply continues from current_states; every event exactly once', async (ctx: DbCtx) => {
  const events = await fill(ctx.db, 2, 25_000);
  const d = dir(ctx, { [CONFIG]: config() });
  const run = startCli(['apply'], { cwd: d.dir, url: ctx.db.url, timeoutMs: 300_000 });
  // Killed once some batches committed, well before the end.
  await firstCheckpoint(ctx.db);
  run.child.kill('SIGKILL');
  await run.done;
  const [mid] = await ctx.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM projections.seen1`);
  assert.ok(mid!.n < events, `killed mid-way (${mid!.n} of ${events})`);
  const b = await cli(['apply', '--json'], { cwd: d.dir, url: ctx.db.url, timeoutMs: 300_000 });
  assert.is(b.code, 0, b.stdout + b.stderr);
  await expectExact(ctx.db, events);
});

t('two applies at once: the one waiting for the run lock joins the prefill (a join longer than its lock timeout is not a timeout), and every event is still reduced once', async (ctx: DbCtx) => {
  const events = await fill(ctx.db, 8, 4_000);
  const d = dir(ctx, { [CONFIG]: config("apply: { prefillWorkers: 1 },") });
  // Every unit held with ZITADEL's own lock, as a running ZITADEL would: no batch runs
  // until the test lets go, so the second apply is there to join before the work starts.
  const gate = new pg.Client({ connectionString: ctx.db.url });
  await gate.connect();
  await gate.query('BEGIN');
  for (let i = 1; i <= 8; i++) await gate.query(`SELECT pg_advisory_xact_lock(hashtext('projections.seen1'), hashtext('inst${i}'))`);
  try {
    const a = startCli(['apply'], { cwd: d.dir, url: ctx.db.url, timeoutMs: 300_000 });
    await until(async () => {
      const r = await ctx.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM zsetup.checkpoints WHERE step = 'projections.seen1'`).catch(() => [{ n: 0 }]);
      return r[0]!.n > 0;
    }, 120_000, 'the prefill started');
    // A lock timeout of 2 s: the join cannot finish while the units are held, and each timeout
    // that finds the join still running waits again (it printed the wait three more times).
    // The wait in which the join ends counts as help too, which leaves the holder a whole
    // timeout to finish after it.
    const b = startCli(['apply', '--lock-timeout', '2s'], { cwd: d.dir, url: ctx.db.url, timeoutMs: 300_000 });
    await waitFor(b.child, /joining the run of/, 120_000);
    await waitFor(b.child, /(waiting for lock held by[^]*){3}/, 120_000);
    await gate.query('COMMIT');
    const [ra, rb] = await Promise.all([a.done, b.done]);
    assert.is(ra.code, 0, ra.stdout + ra.stderr);
    assert.is(rb.code, 0, rb.stdout + rb.stderr);
    const joined = /joined: (\d+) events/.exec(rb.stdout);
    assert.ok(joined && Number(joined[1]) > 0, `the second did part of the work:\n${rb.stdout}`);
    await expectExact(ctx.db, events);
  } finally {
    await gate.end().catch(() => undefined);
  }
});

t('SIGTERM mid-prefill: the batch in flight is cancelled and rolls back (no event counted as failed), exit 143; the next apply finishes exactly', async (ctx: DbCtx) => {
  const events = await fill(ctx.db, 2, 25_000);
  const d = dir(ctx, { [CONFIG]: config() });
  const run = startCli(['apply'], { cwd: d.dir, url: ctx.db.url, timeoutMs: 300_000 });
  await firstCheckpoint(ctx.db);
  run.child.kill('SIGTERM');
  const r = await run.done;
  assert.is(r.code, 143, r.stdout + r.stderr);
  assert.match(r.stdout, /■ projections\.seen1: stopped/);
  const [failed] = await ctx.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM projections.failed_events2`);
  assert.is(failed!.n, 0, 'a stop is not a failed event');
  const b = await cli(['apply'], { cwd: d.dir, url: ctx.db.url, timeoutMs: 300_000 });
  assert.is(b.code, 0, b.stdout + b.stderr);
  await expectExact(ctx.db, events);
});

t.run();
