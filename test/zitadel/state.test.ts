/**
 * ZITADEL's step records (the zitadel-state plugin), with the real CLI on PostgreSQL:
 * - steps ZITADEL already ran (its events, shaped as internal/migration writes them) plan
 *   as `skip`, "applied by ZITADEL at ...", and apply leaves them alone;
 * - after apply, the records ZITADEL's checkExec reads (the latest event per name, and the
 *   unique constraints) say done for exactly the steps zsetup reproduces: a step it does not
 *   reproduce gets no ZITADEL record (ZITADEL still runs it);
 * - a stop mid-step leaves what ZITADEL's cleanup leaves (failed, "migration canceled
 *   manually", migration_started removed); a step ZITADEL left started is recovered the
 *   same way;
 * - the StateStore contract holds for the store.
 */
import { randomBytes } from 'node:crypto';
import * as assert from 'uvu/assert';
import { quoteIdent, type Database } from 'zsetup';
import { stateStoreContract } from 'zsetup/testing';
import { EVENTS2_DDL, cli, createDb, dbSuite, dir, startCli, type DbCtx, type TestDb } from '../helpers.js';
import { holdGate } from '../interrupt/util.js';
// @ts-expect-error: a plain ES module of scripts/, without types
import { legacyEventsDdl } from '../../scripts/zitadel-legacy-events.mjs';
import { openDatabase } from '../contract/open.js';
import { CANCELED_MANUALLY, ZitadelStateStore } from '../../plugins/zitadel/state.js';
import { JournalStore } from '../../plugins/journal/index.js';

/** ZITADEL's init tables the records go to (cmd/initialise: events2, unique_constraints). */
const EVENTSTORE = `${EVENTS2_DDL}
CREATE TABLE IF NOT EXISTS eventstore.unique_constraints (instance_id TEXT, unique_type TEXT, unique_field TEXT, PRIMARY KEY (instance_id, unique_type, unique_field));`;

const t = dbSuite('zitadel: ZITADEL step records');

/** A ZITADEL-shaped record, as its setup pushes it (sequence going on, statement time). */
async function zitadelEvent(db: TestDb, type: string, payload: Record<string, unknown>, at: string): Promise<void> {
  await db.query(
    `INSERT INTO eventstore.events2 (instance_id, aggregate_type, aggregate_id, event_type, "sequence", revision, created_at, payload, creator, "owner", "position", in_tx_order)
     SELECT '', 'system', 'SYSTEM', $1, coalesce(max("sequence"), 0) + 1, 1, $3::timestamptz, $2::jsonb, 'system', 'SYSTEM', EXTRACT(EPOCH FROM $3::timestamptz)::numeric, 1
       FROM eventstore.events2 WHERE instance_id = '' AND aggregate_type = 'system' AND aggregate_id = 'SYSTEM'`,
    [type, JSON.stringify(payload), at],
  );
}

/** What ZITADEL's checkExec reads: per name, the latest event type (and its payload). */
async function zitadelState(db: TestDb): Promise<Record<string, { type: string; payload: Record<string, unknown> }>> {
  const rows = await db.query<{ name: string; event_type: string; payload: Record<string, unknown> }>(
    `SELECT DISTINCT ON (payload->>'name') payload->>'name' AS name, event_type, payload FROM eventstore.events2
      WHERE instance_id = '' AND aggregate_type = 'system' AND aggregate_id = 'SYSTEM' AND event_type LIKE 'system.migration.%'
      ORDER BY payload->>'name', "position" DESC, in_tx_order DESC`,
  );
  return Object.fromEntries(rows.map((r) => [r.name, { type: r.event_type, payload: r.payload }]));
}

async function constraints(db: TestDb): Promise<string[]> {
  const rows = await db.query<{ c: string }>(`SELECT unique_type || ':' || unique_field AS c FROM eventstore.unique_constraints WHERE instance_id = '' ORDER BY 1`);
  return rows.map((r) => r.c);
}

const PLUGIN = new URL('../../plugins/zitadel/state.js', import.meta.url).pathname;
const EXTERNAL = new URL('../../plugins/zitadel/external.js', import.meta.url).pathname;

/**
 * 01_a and 02_B are reproduced (02_B has capitals: ZITADEL's constraint is lower case);
 * 03_logic is ZITADEL's own (external: zsetup never runs it); 04_rep is a reproduced
 * repeatable (after 02_B: ZITADEL's own step is a side branch); 06_waits needs what 03_logic
 * makes: it waits, skipped, until ZITADEL has run 03_logic.
 */
function config(more = ''): string {
  return `import { defineConfig, step, repeatable } from 'zsetup';
import { zitadelState } from ${JSON.stringify(PLUGIN)};
import { external } from ${JSON.stringify(EXTERNAL)};
export default defineConfig({
  plugins: [zitadelState({ reproduces: ['01_a', '02_B', '04_rep', '05_after', '06_waits'] })],
  steps: [
    step('00_init', { sql: ${JSON.stringify(EVENTSTORE)} }),
    step('01_a', { sql: 'CREATE TABLE IF NOT EXISTS a (id int)' }),
    step('02_B', { sql: 'CREATE TABLE IF NOT EXISTS b (id int)' }),
    external('03_logic', 'the first instance, through its commands'),
    repeatable('04_rep', { after: ['02_B'], lastRun: () => ({ externalDomain: 'localhost', externalPort: 8080 }), check: (last) => last?.externalDomain !== 'localhost', sql: 'SELECT 1' }),
    step('05_after', { sql: 'CREATE TABLE IF NOT EXISTS after_logic (id int)' }),
    step('06_waits', { after: ['03_logic'], sql: 'CREATE TABLE IF NOT EXISTS needs_logic (id int)' }),
    ${more}
  ],
});
`;
}

t('after apply, ZITADEL reads done for exactly the reproduced steps (repeatable.done with its lastRun), with its unique constraints; plan reads them back', async (ctx: DbCtx) => {
  await ctx.db.query('DROP SCHEMA IF EXISTS eventstore CASCADE; DROP SCHEMA IF EXISTS zsetup CASCADE');
  const d = dir(ctx, { 'zsetup.config.ts': config() });
  const a = await cli(['apply'], { cwd: d.dir, url: ctx.db.url });
  assert.is(a.code, 0, a.stdout + a.stderr);
  const z = await zitadelState(ctx.db);
  assert.equal(Object.keys(z).sort(), ['01_a', '02_B', '04_rep', '05_after'], 'records for the reproduced steps only (not 00_init, not the external 03_logic)');
  assert.equal(z['01_a'], { type: 'system.migration.done', payload: { name: '01_a' } });
  assert.equal(z['02_B'], { type: 'system.migration.done', payload: { name: '02_B' } });
  assert.equal(z['04_rep'], { type: 'system.migration.repeatable.done', payload: { name: '04_rep', lastRun: { externalDomain: 'localhost', externalPort: 8080 } } });
  assert.equal(await constraints(ctx.db), ['migration_done:01_a', 'migration_done:02_b', 'migration_done:05_after', 'migration_started:01_a', 'migration_started:02_b', 'migration_started:05_after']);
  const [shape] = await ctx.db.query<Record<string, unknown>>(
    `SELECT count(*)::int AS n, count(DISTINCT "sequence")::int AS seqs, min("sequence")::int AS first, bool_and(creator = 'system' AND "owner" = 'SYSTEM' AND revision = 1) AS who
       FROM eventstore.events2 WHERE aggregate_type = 'system'`,
  );
  assert.equal(shape, { n: 8, seqs: 8, first: 1, who: true }, 'started + done per step, sequences 1..8, ZITADEL creator, owner and revision');
  assert.equal((await ctx.db.query(`SELECT count(*)::int AS n FROM zsetup.journal WHERE step = '03_logic'`))[0], { n: 0 }, 'the external step is never run nor recorded');
  const plan = await cli(['plan', '--json'], { cwd: d.dir, url: ctx.db.url });
  assert.is(plan.code, 0, plan.stdout + plan.stderr);
  for (const e of plan.json()) assert.is(e.action, 'skip', `${e.step}: ${e.reason}`);
  assert.match(plan.json().find((e: { step: string }) => e.step === '03_logic').reason, /^run by `zitadel setup` \(the first instance, through its commands\)/);
  assert.match(plan.json().find((e: { step: string }) => e.step === '06_waits').reason, /^waits for "03_logic", run by `zitadel setup`/);
  assert.equal(plan.json().filter((e: { leftOut?: boolean }) => e.leftOut).map((e: { step: string }) => e.step), ['03_logic', '06_waits'], 'left out: not counted as up to date');
  const text = await cli(['plan'], { cwd: d.dir, url: ctx.db.url });
  assert.match(text.stdout, /: 0 to run, 5 up to date, 2 left out \(off, or run elsewhere\)/);
  assert.equal((await ctx.db.query(`SELECT to_regclass('needs_logic') IS NULL AS none`))[0], { none: true }, '06_waits did not run');
  assert.not.match(JSON.stringify(plan.json()), /by ZITADEL/, 'zsetup wrote these records: they are its own');
});

t('steps ZITADEL already ran plan as skip "applied by ZITADEL at"; a failed one runs again; apply leaves the done ones alone', async (ctx: DbCtx) => {
  await ctx.db.query(`DROP SCHEMA IF EXISTS eventstore CASCADE; DROP SCHEMA IF EXISTS zsetup CASCADE; DROP TABLE IF EXISTS a, b, logic; ${EVENTSTORE}`);
  // ZITADEL's setup ran 01_a and 04_rep, and 02_B failed; 03_logic is its own business.
  await zitadelEvent(ctx.db, 'system.migration.started', { name: '01_a' }, '2026-11-30T10:00:00Z');
  await zitadelEvent(ctx.db, 'system.migration.done', { name: '01_a' }, '2026-11-30T10:00:01Z');
  await zitadelEvent(ctx.db, 'system.migration.started', { name: '02_B' }, '2026-11-30T10:00:02Z');
  await zitadelEvent(ctx.db, 'system.migration.failed', { name: '02_B', error: 'ERROR: boom (SQLSTATE XX000)' }, '2026-11-30T10:00:03Z');
  await zitadelEvent(ctx.db, 'system.migration.started', { name: '03_logic' }, '2026-11-30T10:00:03Z');
  await zitadelEvent(ctx.db, 'system.migration.done', { name: '03_logic' }, '2026-11-30T10:00:03Z');
  await zitadelEvent(ctx.db, 'system.migration.started', { name: '04_rep' }, '2026-11-30T10:00:04Z');
  await zitadelEvent(ctx.db, 'system.migration.repeatable.done', { name: '04_rep', lastRun: { externalDomain: 'localhost', externalPort: 8080 } }, '2026-11-30T10:00:05Z');
  const d = dir(ctx, { 'zsetup.config.ts': config() });
  const plan = await cli(['plan', '--json'], { cwd: d.dir, url: ctx.db.url });
  assert.is(plan.code, 0, plan.stdout + plan.stderr);
  const by = Object.fromEntries(plan.json().map((e: { step: string; action: string; reason: string }) => [e.step, e]));
  assert.is(by['01_a'].action, 'skip');
  assert.is(by['01_a'].reason, 'applied by ZITADEL at 2026-11-30T10:00Z');
  assert.is(by['02_B'].action, 'run');
  assert.match(by['02_B'].reason, /previous attempt failed .*boom/);
  assert.is(by['04_rep'].action, 'skip', "its check() is given ZITADEL's lastRun");
  assert.match(by['04_rep'].reason, /applied by ZITADEL at 2026-11-30T10:00Z/);
  assert.is(by['03_logic'].action, 'skip');
  assert.is(by['03_logic'].reason, 'applied by ZITADEL at 2026-11-30T10:00Z');
  const text = await cli(['plan'], { cwd: d.dir, url: ctx.db.url });
  assert.match(text.stdout, /01_a\s+skip\s+applied by ZITADEL at 2026-11-30T10:00Z/);

  const a = await cli(['apply'], { cwd: d.dir, url: ctx.db.url });
  assert.is(a.code, 0, a.stdout + a.stderr);
  assert.equal((await ctx.db.query(`SELECT to_regclass('a') IS NULL AS none`))[0], { none: true }, '01_a was not run again');
  const z = await zitadelState(ctx.db);
  assert.is(z['02_B']!.type, 'system.migration.done', 'the failed step ran and ZITADEL reads it done');
  assert.is(z['01_a']!.type, 'system.migration.done');
  assert.equal(Object.keys(z).sort(), ['01_a', '02_B', '03_logic', '04_rep', '05_after', '06_waits'], 'ZITADEL ran 03_logic: 06_waits ran');
});

t("a step ZITADEL left started is left to it (it may be running), its followers wait; `zsetup cleanup` writes what ZITADEL's cleanup writes; a stop mid-step too", async (ctx: DbCtx) => {
  await ctx.db.query(`DROP SCHEMA IF EXISTS eventstore CASCADE; DROP SCHEMA IF EXISTS zsetup CASCADE; DROP TABLE IF EXISTS a, b, logic; ${EVENTSTORE}`);
  // ZITADEL is in 01_a (or was killed there): its started record, and migration_started.
  await zitadelEvent(ctx.db, 'system.migration.started', { name: '01_a' }, '2026-11-30T10:00:00Z');
  await ctx.db.query(`INSERT INTO eventstore.unique_constraints VALUES ('', 'migration_started', '01_a')`);
  // ... and in its own 03_logic, which zsetup never runs.
  await zitadelEvent(ctx.db, 'system.migration.started', { name: '03_logic' }, '2026-11-30T10:00:01Z');
  await ctx.db.query(`INSERT INTO eventstore.unique_constraints VALUES ('', 'migration_started', '03_logic')`);
  // 02_B is slow (a deadline that its sleep overruns stands for any stop).
  const d = dir(ctx, { 'zsetup.config.ts': config().replace("sql: 'CREATE TABLE IF NOT EXISTS b (id int)'", "sql: 'SELECT pg_sleep(30)'") });
  const plan = await cli(['plan', '--json'], { cwd: d.dir, url: ctx.db.url });
  const by = Object.fromEntries(plan.json().map((e: { step: string; action: string; reason: string }) => [e.step, e]));
  assert.is(by['01_a'].action, 'skip');
  assert.match(by['01_a'].reason, /^started by ZITADEL at 2026-11-30T10:00Z and not finished: left to it \(if it is not running, `zsetup cleanup` records it stopped/);
  assert.is(by['02_B'].action, 'skip');
  assert.match(by['02_B'].reason, /^waits for "01_a", started by ZITADEL/);
  const a = await cli(['apply'], { cwd: d.dir, url: ctx.db.url });
  assert.is(a.code, 0, a.stdout + a.stderr);
  assert.not.match(a.stdout + a.stderr, /left started by ZITADEL/, 'apply does not take a ZITADEL step for stuck');
  assert.is((await zitadelState(ctx.db))['01_a']!.type, 'system.migration.started', 'left as it was');
  assert.ok((await constraints(ctx.db)).includes('migration_started:01_a'));

  // The operator knows no ZITADEL runs: cleanup, as ZITADEL's `setup cleanup`, for both.
  const c = await cli(['cleanup'], { cwd: d.dir, url: ctx.db.url });
  assert.is(c.code, 0, c.stdout + c.stderr);
  let z = await zitadelState(ctx.db);
  assert.equal(z['01_a'], { type: 'system.migration.failed', payload: { name: '01_a', error: CANCELED_MANUALLY } });
  assert.equal(z['03_logic'], { type: 'system.migration.failed', payload: { name: '03_logic', error: CANCELED_MANUALLY } }, "ZITADEL's own step: cleaned up, left to ZITADEL");
  assert.ok(!(await constraints(ctx.db)).some((x) => x === 'migration_started:01_a' || x === 'migration_started:03_logic'));

  // The next apply runs 01_a; 02_B is stopped by the deadline: what ZITADEL's cleanup writes.
  const b = await cli(['apply', '--deadline', '3s'], { cwd: d.dir, url: ctx.db.url });
  assert.is.not(b.code, 0, b.stdout + b.stderr);
  z = await zitadelState(ctx.db);
  assert.is(z['01_a']!.type, 'system.migration.done');
  const history = await ctx.db.query<{ t: string }>(`SELECT event_type AS t FROM eventstore.events2 WHERE payload->>'name' = '01_a' ORDER BY "sequence"`);
  assert.equal(history.map((h) => h.t), ['system.migration.started', 'system.migration.failed', 'system.migration.started', 'system.migration.done']);
  assert.equal(z['02_B'], { type: 'system.migration.failed', payload: { name: '02_B', error: CANCELED_MANUALLY } }, 'stopped: as ZITADEL cleanup writes it');
  assert.ok(!(await constraints(ctx.db)).includes('migration_started:02_b'), 'migration_started removed, so ZITADEL may run it');
});

t('a step ZITADEL starts while zsetup runs the one before it is refused with no record of zsetup\'s: left to ZITADEL, then read as ZITADEL\'s when it is done', async (ctx: DbCtx) => {
  await ctx.db.query(`DROP SCHEMA IF EXISTS eventstore CASCADE; DROP SCHEMA IF EXISTS zsetup CASCADE; DROP TABLE IF EXISTS a, b; ${EVENTSTORE}`);
  // 01_a waits at a gate the test holds (no lock_timeout for it), so ZITADEL can start 02_B
  // after zsetup planned it. 01_a and 02_B ride one train: 02_B's start goes with 01_a's done.
  const GATE = 424242;
  const gated = config().replace("sql: 'CREATE TABLE IF NOT EXISTS a (id int)'", `sql: 'SET LOCAL lock_timeout = 0; SELECT pg_advisory_xact_lock(${GATE}); CREATE TABLE IF NOT EXISTS a (id int)'`);
  const d = dir(ctx, { 'zsetup.config.ts': gated });
  const gate = await holdGate(ctx.db, GATE);
  let run: ReturnType<typeof startCli> | undefined;
  try {
    run = startCli(['apply'], { cwd: d.dir, url: ctx.db.url });
    await gate.waiting('01_a waiting at the gate');
    // ZITADEL's setup starts 02_B now: its event and its unique constraint, in one transaction.
    await ctx.db.query(`BEGIN; INSERT INTO eventstore.unique_constraints VALUES ('', 'migration_started', '02_b'); COMMIT`);
    await zitadelEvent(ctx.db, 'system.migration.started', { name: '02_B' }, new Date().toISOString());
  } finally {
    await gate.release();
  }
  const a = await run!.done;
  assert.is.not(a.code, 0, a.stdout + a.stderr);
  assert.match(a.stdout + a.stderr, /02_B.*ZITADEL's setup started "02_B" at .* and has not finished it: left to ZITADEL/);
  assert.not.match(a.stdout + a.stderr, /at .*\.(ts|js):\d+/, 'no stack trace');
  const z = await zitadelState(ctx.db);
  assert.is(z['01_a']!.type, 'system.migration.done', 'the step before ran (alone, after the refusal rolled back its train)');
  assert.is(z['02_B']!.type, 'system.migration.started', "ZITADEL's start is the latest: zsetup wrote nothing for 02_B");
  assert.equal(await ctx.db.query(`SELECT event FROM zsetup.journal WHERE step = '02_B'`), [], 'nor in its journal');
  assert.ok((await constraints(ctx.db)).includes('migration_started:02_b'));
  assert.equal(await ctx.db.query(`SELECT to_regclass('b') IS NULL AS none`), [{ none: true }], '02_B did not run');
  let plan = await cli(['plan', '--json'], { cwd: d.dir, url: ctx.db.url });
  const reason = (step: string) => plan.json().find((e: { step: string }) => e.step === step).reason as string;
  assert.match(reason('02_B'), /^started by ZITADEL at /);
  // ZITADEL finishes it: zsetup reads it as ZITADEL's.
  await zitadelEvent(ctx.db, 'system.migration.done', { name: '02_B' }, new Date(Date.now() + 1000).toISOString());
  plan = await cli(['plan', '--json'], { cwd: d.dir, url: ctx.db.url });
  assert.match(reason('02_B'), /^applied by ZITADEL at /);
});

t('a legacy database (eventstore.events, no events2): plan reads ZITADEL\'s records from the legacy table; a step recorded before the move fails saying what to declare', async (ctx: DbCtx) => {
  await ctx.db.query(`DROP SCHEMA IF EXISTS eventstore CASCADE; DROP SCHEMA IF EXISTS zsetup CASCADE; DROP TABLE IF EXISTS a`);
  await ctx.db.query(legacyEventsDdl());
  // ZITADEL (before events2) had run 02_B: its records in the legacy layout.
  await ctx.db.query(`INSERT INTO eventstore.events (event_type, aggregate_type, aggregate_id, aggregate_version, event_sequence, creation_date, event_data, editor_user, editor_service, resource_owner, instance_id)
    VALUES ('system.migration.started', 'system', 'SYSTEM', 'v1', 1, '2023-05-01T10:00:00Z', '{"name": "02_B"}', 'system', 'SETUP', 'SYSTEM', ''),
           ('system.migration.done', 'system', 'SYSTEM', 'v1', 2, '2023-05-01T10:00:01Z', '{"name": "02_B"}', 'system', 'SETUP', 'SYSTEM', '')`);
  const d = dir(ctx, {
    'zsetup.config.ts': `import { defineConfig, step } from 'zsetup';
import { zitadelState } from ${JSON.stringify(PLUGIN)};
export default defineConfig({ plugins: [zitadelState({ reproduces: ['01_a', '02_B'] })], steps: [step('01_a', { sql: 'CREATE TABLE IF NOT EXISTS a (id int)' }), step('02_B', { sql: 'SELECT 1' })] });
`,
  });
  const p = await cli(['plan', '--json'], { cwd: d.dir, url: ctx.db.url });
  assert.is(p.code, 0, p.stdout + p.stderr);
  assert.match(p.json().find((e: { step: string }) => e.step === '02_B').reason, /^applied by ZITADEL at 2023-05-01T10:00Z$/);
  const a = await cli(['apply'], { cwd: d.dir, url: ctx.db.url });
  assert.is(a.code, 1, a.stdout + a.stderr);
  assert.match(a.stdout, /01_a.*this database has ZITADEL's legacy event table eventstore\.events and no eventstore\.events2.*move step \(14_events_push\)/);
  assert.not.match(a.stdout + a.stderr, /at .*\.(ts|js):\d+/, 'no stack trace');
  assert.equal(await ctx.db.query(`SELECT to_regclass('a') IS NULL AS none`), [{ none: true }], 'its work rolled back with it');
  assert.equal(await ctx.db.query(`SELECT event FROM zsetup.journal WHERE step = '01_a' ORDER BY id`), [{ event: 'started' }, { event: 'failed' }], 'zsetup\'s own records');
});

t("a repeatable ZITADEL ran last: its check() gets ZITADEL's lastRun, and a changed setting runs it again", async (ctx: DbCtx) => {
  await ctx.db.query(`DROP SCHEMA IF EXISTS eventstore CASCADE; DROP SCHEMA IF EXISTS zsetup CASCADE; ${EVENTSTORE}`);
  await zitadelEvent(ctx.db, 'system.migration.started', { name: '04_rep' }, '2026-11-30T10:00:04Z');
  await zitadelEvent(ctx.db, 'system.migration.repeatable.done', { name: '04_rep', lastRun: { externalDomain: 'other.example', externalPort: 8080 } }, '2026-11-30T10:00:05Z');
  const d = dir(ctx, { 'zsetup.config.ts': config() });
  const plan = await cli(['plan', '--json'], { cwd: d.dir, url: ctx.db.url });
  const rep = plan.json().find((e: { step: string }) => e.step === '04_rep');
  assert.equal([rep.action, rep.reason], ['rerun', 'repeatable: check(lastRun) returned true']);
});


t('records written at the same time by two writers of the system aggregate each get their own sequence', async () => {
  const fx = await contractFixture();
  try {
    const store = fx.store;
    await store.init();
    // 12 records at once, each in its own transaction: the sequence is taken max + 1.
    await Promise.all(Array.from({ length: 12 }, (_, i) => store.record({ step: `s${i}`, event: 'started', owner: 'h:1:r' })));
    const [r] = await fx.db.withSession((s) =>
      s.query<{ n: number; seqs: number; max: number }>(
        `SELECT count(*)::int AS n, count(DISTINCT "sequence")::int AS seqs, max("sequence")::int AS max FROM eventstore.events2 WHERE aggregate_type = 'system'`,
        [],
      ),
    );
    assert.equal(r, { n: 12, seqs: 12, max: 12 });
  } finally {
    await fx.cleanup();
  }
});

// The StateStore contract, every step reproduced (each record also writes ZITADEL's).
let pgdb: TestDb | undefined;
let shared: Database | undefined;
async function contractFixture() {
  pgdb ??= await createDb();
  shared ??= await openDatabase({ url: pgdb.url });
  const db = shared;
  const schema = `zs_${randomBytes(4).toString('hex')}`;
  await db.withSession((s) => s.exec(`DROP SCHEMA IF EXISTS eventstore CASCADE; ${EVENTSTORE}`));
  return {
    store: new ZitadelStateStore(new JournalStore(db, schema), db, { reproduces: () => true }, () => false, `${quoteIdent(schema)}.journal`),
    db,
    cleanup: () => db.withSession((s) => s.exec(`DROP SCHEMA IF EXISTS ${quoteIdent(schema)} CASCADE; DROP SCHEMA IF EXISTS eventstore CASCADE`)),
  };
}
const contract = stateStoreContract('ZitadelStateStore on PostgreSQL (every step reproduced)', contractFixture);
contract.after(async () => {
  await shared?.close();
  await pgdb?.drop();
});

t.run();
contract.run();
