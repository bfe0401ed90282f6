/**
 * zitadel.setup.ts and ZITADEL's records, with the real CLI on PostgreSQL:
 * - after `apply` on a fresh database, the records ZITADEL's checkExec reads (the latest
 *   system.migration.* event per name, and the migration_done unique constraint) say done
 *   for exactly the steps zsetup reproduces: every SQL step of setup; not init (ZITADEL does
 *   not record it), not ZITADEL's own steps (external()) nor the ones waiting for them;
 * - a database with ZITADEL's records for its first N setup steps (and not zsetup's) plans
 *   those N as skip, "applied by ZITADEL at", and runs the rest.
 */
import * as assert from 'uvu/assert';
import { ROOT, cli, dbSuite, type DbCtx, type TestDb } from '../helpers.js';

const t = dbSuite('zitadel: zitadel.setup.ts and ZITADEL records');
const opts = (db: TestDb) => ({ cwd: ROOT, url: db.url });

interface Entry {
  step: string;
  kind: string;
  action: string;
  reason: string;
}

/** Per name, the latest event type, as ZITADEL's reader orders them. */
async function zitadelLatest(db: TestDb): Promise<Map<string, string>> {
  const rows = await db.query<{ name: string; t: string }>(
    `SELECT DISTINCT ON (payload->>'name') payload->>'name' AS name, event_type AS t FROM eventstore.events2
      WHERE instance_id = '' AND aggregate_type = 'system' AND aggregate_id = 'SYSTEM'
      ORDER BY payload->>'name', "position" DESC, in_tx_order DESC`,
  );
  return new Map(rows.map((r) => [r.name, r.t]));
}

t('after apply, ZITADEL reads done for exactly the SQL steps of setup; a database with ZITADEL records for the first N plans them as applied by ZITADEL', async (ctx: DbCtx) => {
  const first = await cli(['plan', '--json', '--no-init-projections'], opts(ctx.db));
  assert.is(first.code, 0, first.stdout + first.stderr);
  const entries = first.json() as Entry[];
  const external = entries.filter((e) => e.kind === 'zitadel.external').map((e) => e.step);
  const waiting = entries.filter((e) => /^waits for "/.test(e.reason)).map((e) => e.step);
  const reproduced = entries
    .filter((e) => e.kind !== 'zitadel.external' && e.kind !== 'prefill' && !e.step.startsWith('init_') && !waiting.includes(e.step))
    .map((e) => e.step);
  assert.ok(external.includes('03_default_instance') && external.includes('projection_tables'), 'ZITADEL\'s own steps are declared');
  assert.ok(waiting.includes('18_add_lower_fields_to_login_names'), 'batch C waits for projection_tables');
  assert.ok(reproduced.length >= 40, `the SQL steps of setup: ${reproduced.length}`);

  const a = await cli(['apply', '--no-init-projections'], opts(ctx.db));
  assert.is(a.code, 0, a.stdout + a.stderr);
  const latest = await zitadelLatest(ctx.db);
  const done = [...latest].filter(([, type]) => type === 'system.migration.done').map(([n]) => n).sort();
  assert.equal(done, [...reproduced].sort(), 'done in ZITADEL\'s records: exactly the reproduced steps');
  assert.equal([...latest.keys()].sort(), [...reproduced].sort(), 'and no record of anything else');
  const uc = await ctx.db.query<{ f: string }>(`SELECT unique_field AS f FROM eventstore.unique_constraints WHERE instance_id = '' AND unique_type = 'migration_done' ORDER BY 1`);
  assert.equal(uc.map((r) => r.f), reproduced.map((n) => n.toLowerCase()).sort(), 'migration_done for each, lower-cased as ZITADEL stores it');

  // As if ZITADEL had set up the first N steps: its records, not zsetup's (the journal gone,
  // and ZITADEL's records of the later steps too).
  const N = 10;
  const firstN = reproduced.slice(0, N);
  await ctx.db.query(`DROP SCHEMA zsetup CASCADE`);
  await ctx.db.query(
    `DELETE FROM eventstore.events2 WHERE instance_id = '' AND aggregate_type = 'system' AND NOT (payload->>'name' = ANY($1::text[]))`,
    [firstN],
  );
  const p = await cli(['plan', '--json', '--no-init-projections'], opts(ctx.db));
  assert.is(p.code, 0, p.stdout + p.stderr);
  const by = new Map((p.json() as Entry[]).map((e) => [e.step, e]));
  for (const n of firstN) {
    assert.is(by.get(n)!.action, 'skip', n);
    assert.match(by.get(n)!.reason, /^applied by ZITADEL at \d{4}-\d\d-\d\dT\d\d:\d\dZ$/, n);
  }
  for (const n of reproduced.slice(N)) assert.is(by.get(n)!.action, 'run', n);
  const again = await cli(['apply', '--no-init-projections'], opts(ctx.db));
  assert.is(again.code, 0, again.stdout + again.stderr);
  for (const n of firstN) assert.not.match(again.stdout, new RegExp(`✓ ${n} `), `${n} is not run again`);
  const after = await zitadelLatest(ctx.db);
  assert.equal([...after.keys()].sort(), [...reproduced].sort());
});

t.run();
