/**
 * The events2 move at its edges, with the real CLI on PostgreSQL (the main cases are in
 * move.test.ts): a verification that finds a difference (named, then repaired by the next
 * apply), a writer of the legacy table throughout the move, and the opt-in events2.drop-old.
 */
import * as assert from 'uvu/assert';
import pg from 'pg';
import { HEADER, cli, dbEachSuite, dir, startCli, type DbCtx, type TestDb } from '../helpers.js';
import { until } from '../interrupt/util.js';
import { PLUGIN, fingerprint, legacy, moveConfig } from './util.js';

const t = dbEachSuite('events2: the move at its edges');
const config = (unitPages?: number, extra = '') => moveConfig(unitPages ? `{ unitPages: ${unitPages} }` : '', extra);

/** What events2 must hold: events_old's rows mapped as ZITADEL's CREATE TABLE AS maps them, as an ordered md5. */
async function expectedFromOld(db: TestDb): Promise<{ md5: string; n: number }> {
  const [r] = await db.query<{ md5: string; n: string }>(
    `SELECT md5(string_agg(t::text, E'\\n' ORDER BY instance_id, aggregate_type, aggregate_id, "sequence")) AS md5, count(*) AS n FROM
       (SELECT instance_id, aggregate_type, aggregate_id, event_type, event_sequence AS "sequence", substr(aggregate_version, 2)::SMALLINT AS revision, creation_date AS created_at,
               event_data AS payload, editor_user AS creator, resource_owner AS "owner", EXTRACT(EPOCH FROM creation_date) AS "position", event_sequence AS in_tx_order FROM eventstore.events_old) t`,
  );
  return { md5: r!.md5, n: Number(r!.n) };
}

/** Start an apply and SIGKILL it once a tenth of the copy is checkpointed. */
async function killMidCopy(ctx: DbCtx, cwd: string): Promise<void> {
  const run = startCli(['apply'], { cwd, url: ctx.db.url });
  await until(
    async () => {
      const r = await ctx.db.query<{ done: number; total: number }>(`SELECT done::int, total::int FROM zsetup.checkpoints WHERE step = '14_events_push'`).catch(() => []);
      return r[0] && r[0].done > r[0].total / 10 ? r[0] : undefined;
    },
    60_000,
    'a tenth of the copy',
  );
  run.child.kill('SIGKILL');
  await run.done;
}

t('a verification that finds a difference fails the step naming the instance, the first differing key and its legacy page; the next apply copies that instance again; events written meanwhile are moved too', async (ctx: DbCtx) => {
  await legacy(ctx.db, 20_000);
  const d = dir(ctx, { 'zsetup.config.ts': config(2) });
  await killMidCopy(ctx, d.dir);
  // Harm done while no apply runs: an event lost from the copy, and new events (a writer of the legacy table).
  const [gone] = await ctx.db.query<{ instance_id: string; aggregate_type: string; aggregate_id: string; sequence: string }>(
    `DELETE FROM eventstore.events2_move WHERE ctid = (SELECT min(ctid) FROM eventstore.events2_move) RETURNING instance_id, aggregate_type, aggregate_id, "sequence"::text`,
  );
  await ctx.db.query(`INSERT INTO eventstore.events (event_type, aggregate_type, aggregate_id, aggregate_version, event_sequence, creation_date, event_data, editor_user, editor_service, resource_owner, instance_id)
    SELECT 'user.human.added', 'user', 'late' || g, 'v2', 1000000 + g, now(), '{}', 'system', 'MANAGEMENT-API', 'org', 'i-late' FROM generate_series(1, 10) g`);
  const a = await cli(['apply'], { cwd: d.dir, url: ctx.db.url });
  assert.is(a.code, 1, a.stdout + a.stderr);
  const out = a.stdout + a.stderr;
  assert.match(out, new RegExp(`verification failed for instance "${gone!.instance_id}"`));
  assert.match(out, new RegExp(`the first differing key in key order: \\(${gone!.aggregate_type}, ${gone!.aggregate_id}, ${gone!.sequence}\\), only in the legacy table \\(legacy page \\d+\\)`));
  assert.match(out, /The next apply copies the events of this instance again/);
  assert.equal(await ctx.db.query(`SELECT to_regclass('eventstore.events') IS NOT NULL AS legacy, to_regclass('eventstore.events2') IS NULL AS none`), [{ legacy: true, none: true }]);
  const b = await cli(['apply'], { cwd: d.dir, url: ctx.db.url });
  assert.is(b.code, 0, b.stdout + b.stderr);
  assert.match(b.stdout, /copied the events of ".+" again, after a verification found them different/);
  const want = await expectedFromOld(ctx.db);
  const got = await fingerprint(ctx.db);
  assert.is(got.n, want.n);
  assert.is(got.md5, want.md5);
  assert.ok((await ctx.db.query(`SELECT 1 FROM eventstore.events2 WHERE instance_id = 'i-late'`)).length === 10, 'the events written during the move are in events2');
});

t('a writer of the legacy table during the move (a binary from before events2): every event it committed is in events2; after the switch its writes fail (42P01), none lands in events_old unseen', async (ctx: DbCtx) => {
  await legacy(ctx.db, 20_000);
  const d = dir(ctx, { 'zsetup.config.ts': config(2) });
  const run = startCli(['apply'], { cwd: d.dir, url: ctx.db.url });
  const w = new pg.Client({ connectionString: ctx.db.url });
  await w.connect();
  let committed = 0;
  let ended: string | undefined;
  try {
    // Writes from the start of the copy until the legacy table is gone (renamed by the switch).
    await until(async () => (await ctx.db.query(`SELECT 1 FROM zsetup.checkpoints WHERE step = '14_events_push'`).catch(() => [])).length > 0, 60_000, 'the copy to start');
    for (let seq = 1; ; seq++) {
      try {
        await w.query(
          `INSERT INTO eventstore.events (event_type, aggregate_type, aggregate_id, aggregate_version, event_sequence, creation_date, event_data, editor_user, editor_service, resource_owner, instance_id)
           VALUES ('user.human.added', 'user', $1, 'v2', $2, clock_timestamp(), '{"live": true}', 'writer', 'MANAGEMENT-API', 'org', 'i-live')`,
          [`live${seq % 50}`, seq],
        );
        committed++;
      } catch (err) {
        ended = (err as { code?: string }).code;
        break;
      }
    }
  } finally {
    await w.end();
  }
  const r = await run.done;
  assert.is(r.code, 0, r.stdout + r.stderr);
  assert.is(ended, '42P01', 'the writer stops on the renamed table, not on another error');
  assert.ok(committed > 0, 'the writer wrote during the move');
  const [live] = await ctx.db.query<{ n: number; old: number }>(
    `SELECT (SELECT count(*)::int FROM eventstore.events2 WHERE instance_id = 'i-live') AS n, (SELECT count(*)::int FROM eventstore.events_old WHERE instance_id = 'i-live') AS old`,
  );
  assert.is(live!.n, committed, 'every event the writer committed is in events2');
  assert.is(live!.old, committed, 'and none reached events_old after the switch');
  const want = await expectedFromOld(ctx.db);
  const got = await fingerprint(ctx.db);
  assert.is(got.n, want.n);
  assert.is(got.md5, want.md5);
});

t('events2.drop-old (opt-in) drops events_old after the move, refuses before it, and when events2 holds fewer rows', async (ctx: DbCtx) => {
  await legacy(ctx.db, 3_000);
  // Before the move: events_old of some other origin next to the legacy table.
  await ctx.db.query('CREATE TABLE eventstore.events_old (id int)');
  const early = dir(ctx, { 'zsetup.config.ts': `${HEADER}import { events2, eventsDropOld } from ${JSON.stringify(PLUGIN)};
export default defineConfig({ plugins: [events2()], steps: [eventsDropOld('drop', { after: [] })] });\n` });
  const r = await cli(['apply'], { cwd: early.dir, url: ctx.db.url });
  assert.is(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stdout + r.stderr, /eventstore\.events_old is kept: the move of the legacy events has not switched yet/);
  await ctx.db.query('DROP TABLE eventstore.events_old');
  const d = dir(ctx, { 'zsetup.config.ts': config(undefined, `, eventsDropOld()`) });
  const a = await cli(['apply'], { cwd: d.dir, url: ctx.db.url });
  assert.is(a.code, 0, a.stdout + a.stderr);
  assert.match(a.stdout, /14_events_drop_old: dropped eventstore\.events_old \(3\d{3} legacy rows; eventstore\.events2 holds them all\)/);
  assert.equal(await ctx.db.query(`SELECT to_regclass('eventstore.events_old') IS NULL AS dropped, (SELECT count(*)::int FROM eventstore.events2) >= 3000 AS kept`), [{ dropped: true, kept: true }]);
  // An events_old bigger than events2 is not dropped.
  await ctx.db.query('CREATE TABLE eventstore.events_old AS SELECT * FROM eventstore.events2 UNION ALL SELECT * FROM eventstore.events2 LIMIT 5000');
  const again = dir(ctx, { 'zsetup.config.ts': `${HEADER}import { events2, eventsDropOld } from ${JSON.stringify(PLUGIN)};
export default defineConfig({ plugins: [events2()], steps: [eventsDropOld('drop_again', { after: [] })] });\n` });
  const c = await cli(['apply'], { cwd: again.dir, url: ctx.db.url });
  assert.is(c.code, 1, c.stdout + c.stderr);
  assert.match(c.stdout + c.stderr, /it has 5000 rows and eventstore\.events2 only 3\d{3}/);
  assert.equal(await ctx.db.query(`SELECT to_regclass('eventstore.events_old') IS NOT NULL AS kept`), [{ kept: true }]);
});

t.run();
