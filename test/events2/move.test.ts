/**
 * The events2 plugin's move of a legacy eventstore.events (ZITADEL's 14_events_push), with
 * the real CLI on PostgreSQL, on legacy tables from scripts/zitadel-legacy-events.mjs:
 * - the result equals ZITADEL's own statements run on a copy (schema of events2, and an
 *   ordered md5 over all columns), the legacy table kept as events_old;
 * - SIGKILL and SIGTERM mid-copy (synchronised on the step's checkpoint): plan says resume
 *   with the percentage, the next apply continues, and the result is the same;
 * - a new installation (events2, no legacy table) is skipped;
 * - zitadel.setup.ts on a legacy database: init does not make an empty events2 first, the
 *   move runs, and ZITADEL's records of the steps it ran before are read from the legacy table.
 */
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { HEADER, ROOT, cli, dbEachSuite, dir, scratch, startCli, type DbCtx } from '../helpers.js';
import { until } from '../interrupt/util.js';
import { PLUGIN, ZITADEL_STATEMENTS, fingerprint, legacy, moveConfig, reference } from './util.js';
// @ts-expect-error: plain ES modules of scripts/, without types
import { legacyEventsDdl } from '../../scripts/zitadel-legacy-events.mjs';

const t = dbEachSuite('events2: the move of a legacy eventstore.events');
const config = (unitPages?: number) => moveConfig(unitPages ? `{ unitPages: ${unitPages} }` : '');

t('the move equals ZITADEL\'s statements (schema and every row), keeps events_old, and a second apply has nothing to do', async (ctx: DbCtx) => {
  await legacy(ctx.db, 20_000);
  const d = dir(ctx, { 'zsetup.config.ts': config() });
  const a = await cli(['apply'], { cwd: d.dir, url: ctx.db.url });
  assert.is(a.code, 0, a.stdout + a.stderr);
  assert.match(a.stdout, /14_events_push: \d+ events moved to eventstore\.events2 in/);
  const [mine, theirs] = [await fingerprint(ctx.db), await reference(20_000)];
  assert.ok(mine.n >= 20_000);
  assert.equal(mine, theirs);
  assert.equal(await ctx.db.query(`SELECT to_regclass('eventstore.events_old') IS NOT NULL AS kept, to_regclass('eventstore.events') IS NULL AS gone, to_regclass('eventstore.events2_move') IS NULL AS clean`), [{ kept: true, gone: true, clean: true }]);
  const again = await cli(['apply'], { cwd: d.dir, url: ctx.db.url });
  assert.match(again.stdout, /Everything is up to date/);
});

for (const signal of ['SIGKILL', 'SIGTERM'] as const) {
  t(`${signal} mid-copy: plan says resume with the percentage; the next apply goes on from the checkpoint; the result is ZITADEL's`, async (ctx: DbCtx) => {
    await legacy(ctx.db, 20_000);
    const d = dir(ctx, { 'zsetup.config.ts': config(2) });
    const run = startCli(['apply'], { cwd: d.dir, url: ctx.db.url });
    // Stopped once a tenth of the pages are copied (units of 2 pages: hundreds of them).
    const at = await until(
      async () => {
        const r = await ctx.db.query<{ done: number; total: number }>(`SELECT done::int, total::int FROM zsetup.checkpoints WHERE step = '14_events_push'`).catch(() => []);
        return r[0] && r[0].done > r[0].total / 10 ? r[0] : undefined;
      },
      60_000,
      'a tenth of the copy',
    );
    run.child.kill(signal);
    const r = await run.done;
    assert.ok(signal === 'SIGKILL' ? r.signal === 'SIGKILL' : r.code === 143, r.stdout + r.stderr);
    const p = await cli(['plan', '--json'], { cwd: d.dir, url: ctx.db.url });
    const e = p.json().find((x: { step: string }) => x.step === '14_events_push');
    if (e.action === 'resume') assert.match(e.reason, /at checkpoint .*\(\d+%\)/);
    else assert.is(e.action, 'run', e.reason);
    const [cp] = await ctx.db.query<{ done: number }>(`SELECT done::int FROM zsetup.checkpoints WHERE step = '14_events_push'`);
    assert.ok(cp!.done >= at.done, 'the checkpoint did not go back');
    const [units] = await ctx.db.query<{ done: number }>(`SELECT coalesce(sum(end_page - first_page), 0)::int AS done FROM eventstore.events2_move_units WHERE done`);
    assert.ok(units!.done >= cp!.done, 'the checkpoint never says more than the units done (two sessions save it; the last to commit may lag)');
    const b = await cli(['apply'], { cwd: d.dir, url: ctx.db.url });
    assert.is(b.code, 0, b.stdout + b.stderr);
    assert.match(b.stdout, /resuming from checkpoint/);
    assert.equal(await fingerprint(ctx.db), await reference(20_000));
  });
}

t('a new installation (events2, no legacy table) is skipped, and says why', async (ctx: DbCtx) => {
  await ctx.db.query('CREATE SCHEMA eventstore; CREATE TABLE eventstore.events2 (id int)');
  const d = dir(ctx, { 'zsetup.config.ts': config() });
  const a = await cli(['apply'], { cwd: d.dir, url: ctx.db.url });
  assert.is(a.code, 0, a.stdout + a.stderr);
  assert.match(a.stdout, /14_events_push: events2 exists and no legacy eventstore\.events: nothing to move \(a new installation\)/);
});

t('zitadel.setup.ts on a legacy database: no empty events2 first, the events moved, ZITADEL\'s earlier records read from the legacy table', async (ctx: DbCtx) => {
  await legacy(ctx.db, 5_000);
  // ZITADEL (before events2) had run 02_assets: its records, in the legacy layout, and its table.
  await ctx.db.query('CREATE SCHEMA IF NOT EXISTS system; CREATE TABLE system.assets (instance_id TEXT, asset_type TEXT, resource_owner TEXT, name TEXT, content_type TEXT, data BYTEA, updated_at TIMESTAMPTZ, PRIMARY KEY (instance_id, resource_owner, name))');
  await ctx.db.query(`INSERT INTO eventstore.events (event_type, aggregate_type, aggregate_id, aggregate_version, event_sequence, creation_date, event_data, editor_user, editor_service, resource_owner, instance_id)
    VALUES ('system.migration.started', 'system', 'SYSTEM', 'v1', 1, '2023-05-01T10:00:00Z', '{"name": "02_assets"}', 'system', 'SETUP', 'SYSTEM', ''),
           ('system.migration.done', 'system', 'SYSTEM', 'v1', 2, '2023-05-01T10:00:01Z', '{"name": "02_assets"}', 'system', 'SETUP', 'SYSTEM', '')`);
  const p = await cli(['plan', '--json', '--no-init-projections'], { cwd: ROOT, url: ctx.db.url });
  assert.is(p.code, 0, p.stdout + p.stderr);
  assert.match(p.json().find((e: { step: string }) => e.step === '02_assets').reason, /^applied by ZITADEL at 2023-05-01T10:00Z$/);
  const a = await cli(['apply', '--no-init-projections'], { cwd: ROOT, url: ctx.db.url });
  assert.is(a.code, 0, a.stdout + a.stderr);
  assert.match(a.stdout, /14_events_push: 5\d{3} events moved to eventstore\.events2/);
  const [n] = await ctx.db.query<{ old: string; moved: string }>(
    `SELECT (SELECT count(*) FROM eventstore.events_old) AS old, (SELECT count(*) FROM eventstore.events2 WHERE aggregate_type <> 'system') AS moved`,
  );
  assert.is(Number(n!.moved), Number(n!.old) - 2, 'every legacy event is in events2 (and ZITADEL\'s two legacy records)');
  const [z] = await ctx.db.query<{ t: string }>(
    `SELECT event_type AS t FROM eventstore.events2 WHERE aggregate_type = 'system' AND payload->>'name' = '14_events_push' ORDER BY "position" DESC LIMIT 1`,
  );
  assert.is(z!.t, 'system.migration.done', "ZITADEL's record of the move");
});

t('on PGlite (one connection: the workers and the index builds take turns): the same result as ZITADEL\'s statements', async () => {
  const d = scratch({
    'zsetup.config.ts': `${HEADER}import { events2, eventsMove } from ${JSON.stringify(PLUGIN)};
export default defineConfig({ database: { pglite: { dataDir: 'pgdata' } }, plugins: [events2()], steps: [eventsMove('14_events_push', { unitPages: 8 })] });\n`,
  });
  // A small legacy table of ZITADEL's layout (plain SQL: the generator speaks to a pg client).
  const fill = `${legacyEventsDdl()};
    INSERT INTO eventstore.events (event_type, aggregate_type, aggregate_id, aggregate_version, event_sequence, creation_date, event_data, editor_user, editor_service, resource_owner, instance_id)
    SELECT 'user.human.added', 'user', 'u' || (g % 97), 'v2', g, timestamptz '2024-01-01' + g * interval '1 second', jsonb_build_object('userName', 'u' || g), 'system', 'SETUP', 'org', 'i' || (g % 3)
      FROM generate_series(1, 3000) g`;
  const db = new PGlite(join(d.dir, 'pgdata'));
  try {
    await db.exec(fill);
  } finally {
    await db.close();
  }
  try {
    const a = await cli(['apply'], { cwd: d.dir });
    assert.is(a.code, 0, a.stdout + a.stderr);
    assert.match(a.stdout, /14_events_push: 3000 events moved to eventstore\.events2/);
    const ref = new PGlite();
    const mine = new PGlite(join(d.dir, 'pgdata'));
    try {
      await ref.exec(fill);
      for (const sql of ZITADEL_STATEMENTS) await ref.exec(sql);
      const sum = async (p: PGlite) => (await p.query<{ m: string }>(`SELECT md5(string_agg(t::text, E'\\n' ORDER BY instance_id, aggregate_type, aggregate_id, "sequence")) AS m FROM eventstore.events2 t`)).rows[0]!.m;
      assert.is(await sum(mine), await sum(ref));
    } finally {
      await mine.close();
      await ref.close();
    }
  } finally {
    d.remove();
  }
});

t.run();
