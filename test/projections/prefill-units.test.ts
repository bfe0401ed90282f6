/**
 * Projection prefill against ZITADEL's own rules, unit by unit:
 * - the folded batches give exactly what ZITADEL's loop (one statement per change under a
 *   savepoint, BulkLimit 1000) gives, on ZITADEL's instances / orgs1 / users14 projections
 *   and ZITADEL-shaped events, with batches small enough to cut users' histories and pushes;
 * - failing events are counted in projections.failed_events2 as ZITADEL counts them and
 *   skipped at MaxFailureCount, the rest applied exactly;
 * - a checkpoint ZITADEL left mid-position (position, filter_offset) is continued from;
 * - a unit held with ZITADEL's advisory lock is left alone until it is let go.
 */
import * as assert from 'uvu/assert';
import pg from 'pg';
import { cli, createDb, dbEachSuite, dir, startCli, type DbCtx } from '../helpers.js';
import { CONFIG, until } from '../interrupt/util.js';
import { Prefill, STATE_TABLES_DDL, drain, tablesDdl, MAX_FAILURE_COUNT } from '../../plugins/projections/prefill.js';
import type { ProjectionSpec, TableSpec, Change, StoredEvent } from '../../plugins/projections/model.js';
import { instances, orgs1, users14 } from '../../plugins/zitadel/projections.js';
// @ts-ignore: a plain JavaScript module
import { events2Ddl, generateEvents } from '../../scripts/zitadel-events.mjs';

const t = dbEachSuite('projections: prefill units');

type Client = pg.ClientBase;

async function connect(url: string): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  return c;
}

const session = (c: Client) => ({
  query: async <R = Record<string, unknown>>(sql: string, params?: readonly unknown[]) => (await c.query(sql, params as unknown[] | undefined)).rows as R[],
  exec: async (sql: string) => {
    await c.query(sql);
  },
});

async function inTx<T>(c: Client, fn: () => Promise<T>): Promise<T> {
  await c.query('BEGIN');
  try {
    const r = await fn();
    await c.query('COMMIT');
    return r;
  } catch (err) {
    await c.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

interface Drive {
  events: number;
  batches: number;
  /** Batches that ended inside a position (the checkpoint's filter_offset short of the projection's events there). */
  midPosition: number;
}

/**
 * A projection caught up as the step does it, one worker: ZITADEL's tables, then batches of
 * `limit` events per instance, one transaction each (as bench/prefill.mjs drives them).
 */
async function drive(c: Client, projection: ProjectionSpec, o: { mode?: 'folded' | 'per-event'; limit: number }): Promise<Drive> {
  const p = new Prefill(projection, { mode: o.mode });
  const s = session(c);
  await inTx(c, async () => {
    await s.exec(STATE_TABLES_DDL);
    await s.exec(tablesDdl(projection.tables));
  });
  const bound = await inTx(c, () => p.bound(s));
  const list = await inTx(c, () => Prefill.instances(s, bound));
  const out: Drive = { events: 0, batches: 0, midPosition: 0 };
  for (const inst of list) {
    for (let guard = 0; ; guard++) {
      assert.ok(guard < 10_000, `${projection.name} ${inst}: no end`);
      const r = await inTx(c, () => p.batch(s, inst, bound, o.limit));
      assert.not.equal(r.kind, 'locked', `${projection.name} ${inst}: nobody else holds it`);
      if (r.kind !== 'done') break;
      out.events += r.events;
      out.batches++;
      const [cs] = await s.query<{ off: number; at: number }>(
        `SELECT cs.filter_offset AS off,
                (SELECT count(*)::int FROM eventstore.events2 e WHERE e.instance_id = cs.instance_id AND e."position" = cs."position"
                    AND e.aggregate_type = ANY($3::text[]) AND e.event_type = ANY($4::text[])) AS at
           FROM projections.current_states cs WHERE cs.projection_name = $1 AND cs.instance_id = $2`,
        [projection.name, inst, p.filter.aggregateTypes, p.filter.eventTypes],
      );
      if (cs && cs.off < cs.at) out.midPosition++;
      if (!r.full && !r.failed.some((f) => !f.skipped)) break;
    }
  }
  return out;
}

/**
 * A projection caught up by drain(), the step's own loop: 2 workers, batches of `limit`
 * events, units with fewer than half a batch left packed into one batch (batchMany).
 */
async function drained(url: string, projection: ProjectionSpec, limit: number): Promise<{ events: number; packed: number }> {
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  const transaction = async <T>(fn: (tx: ReturnType<typeof session>) => Promise<T>): Promise<T> => {
    const c = await pool.connect();
    try {
      return await inTx(c, () => fn(session(c)));
    } finally {
      c.release();
    }
  };
  try {
    const p = new Prefill(projection);
    let packed = 0;
    const many = p.batchMany.bind(p);
    p.batchMany = (...args) => (packed++, many(...args));
    await transaction(async (s) => {
      await s.exec(STATE_TABLES_DDL);
      await s.exec(tablesDdl(projection.tables));
    });
    const bound = await transaction((s) => p.bound(s));
    const list = await transaction((s) => Prefill.instances(s, bound));
    const remaining = await transaction((s) => p.remaining(s, list, bound));
    let events = 0;
    const host = { transaction, stopped: () => false, batchDone: (n: number) => void (events += n) };
    await drain(p, list, remaining, bound, 2, host, limit);
    return { events, packed };
  } finally {
    await pool.end();
  }
}

/** A table's rows as text, in key order. */
async function rowsOf(c: Client, table: TableSpec): Promise<string[]> {
  const key = table.primaryKey.map((k) => `x."${k}"`).join(', ');
  return (await c.query(`SELECT x::text AS r FROM ${table.name} x ORDER BY ${key}`)).rows.map((r) => r.r as string);
}

async function sqlRows(c: Client, sql: string, params?: unknown[]): Promise<string[]> {
  return (await c.query(`SELECT x::text AS r FROM (${sql}) x`, params)).rows.map((r) => r.r as string);
}

function sameRows(actual: string[], expected: string[], what: string): void {
  const n = Math.max(actual.length, expected.length);
  for (let i = 0; i < n; i++) {
    if (actual[i] !== expected[i]) {
      assert.unreachable(
        `${what}: ${actual.length} rows, expected ${expected.length}; first difference at row ${i}:\n  got      ${actual[i] ?? '(none)'}\n  expected ${expected[i] ?? '(none)'}`,
      );
    }
  }
}

const CHECKPOINTS = `SELECT projection_name, instance_id, aggregate_id, aggregate_type, "sequence", event_date, "position", filter_offset
                       FROM projections.current_states ORDER BY 1, 2`;
const FAILED = `SELECT projection_name, instance_id, aggregate_type, aggregate_id, failed_sequence, failure_count, error
                  FROM projections.failed_events2 ORDER BY 1, 2, 3, 4, 5`;

// ---------------------------------------------------------------------------------------------
// 1. The oracle: ZITADEL's loop against the folded batches, on ZITADEL's projections.

t("ZITADEL's instances, orgs1, users14: folded batches (of 3 and 300, and drain()'s packed ones) leave every table, checkpoint and failed event exactly as ZITADEL's per-event loop", async (ctx: DbCtx) => {
  const other = await createDb();
  const third = await createDb();
  const ref = await connect(ctx.db.url);
  const folded = await connect(other.url);
  const viaDrain = await connect(third.url);
  try {
    for (const c of [ref, folded, viaDrain]) {
      await c.query(events2Ddl());
      // Every push at its own position (pushes sharing one: the next test).
      const gen = await generateEvents(c, { events: 3000, instances: 4, seed: 7 });
      assert.ok(gen.events >= 3000, `generated ${gen.events} events`);
    }
    const log = `SELECT md5(string_agg(e::text, '|' ORDER BY instance_id, aggregate_type, aggregate_id, "sequence")) AS h FROM eventstore.events2 e`;
    const h = (await ref.query(log)).rows[0].h;
    for (const c of [folded, viaDrain]) assert.is((await c.query(log)).rows[0].h, h, 'the same event log in every database');

    let midPosition = 0;
    for (const p of [instances, orgs1, users14]) {
      // ZITADEL's BulkLimit for the reference; batches of 300 split users' histories, and
      // batches of 3 end inside the setup push (five of the instance's events at one position).
      // The step's drain() with batches of 300 packs the small units (instances, orgs1) into shared batches.
      const [a, b, d] = await Promise.all([
        drive(ref, p, { mode: 'per-event', limit: 1000 }),
        drive(folded, p, { limit: p === instances ? 3 : 300 }),
        drained(third.url, p, 300),
      ]);
      midPosition += b.midPosition;
      assert.is(b.events, a.events, `${p.name}: events reduced`);
      assert.is(d.events, a.events, `${p.name}: events reduced by drain()`);
      if (p === instances) assert.ok(d.packed >= 1, `instances: units packed into shared batches (${d.packed})`);
      assert.ok(a.events > 0, `${p.name}: reduced something`);
      if (p === users14) assert.ok(b.batches >= 8, `users14: histories split over batches (${b.batches} batches)`);
      for (const table of p.tables) {
        const expected = await rowsOf(ref, table);
        if (table.name === users14.name) assert.ok(expected.length > 100, `users14 has users (${expected.length})`);
        sameRows(await rowsOf(folded, table), expected, table.name);
        sameRows(await rowsOf(viaDrain, table), expected, `${table.name} (drain)`);
      }
    }
    assert.ok(midPosition >= 1, `some batch ended inside a push (${midPosition})`);
    for (const [c, what] of [[folded, ''], [viaDrain, ' (drain)']] as const) {
      sameRows(await sqlRows(c, CHECKPOINTS), await sqlRows(ref, CHECKPOINTS), `projections.current_states${what}`);
      sameRows(await sqlRows(c, FAILED), await sqlRows(ref, FAILED), `projections.failed_events2${what}`);
    }
  } finally {
    for (const c of [ref, folded, viaDrain]) await c.end();
    await other.drop();
    await third.drop();
  }
});

/**
 * Failed before 405ac8c: the events were read `ORDER BY position, in_tx_order OFFSET
 * filter_offset`, and two pushes at one position both have in_tx_order 1, 2, so the order of
 * tied events was not defined and differed between a batch's query and the next one's: a batch
 * that ended among them made the next one read one of its events again (a duplicate key,
 * counted as a failed event and skipped) and never read another. ZITADEL's own query orders
 * by the same two columns; a total order (the primary key after them) makes zsetup's resumes exact.
 */
t('pushes that share a position, in_tx_order 1, 2 in each (two transactions in one microsecond): batches that end among them still apply every event once', async (ctx: DbCtx) => {
  const c = await connect(ctx.db.url);
  try {
    await c.query(events2Ddl());
    // inst1: at each of 30 positions two pushes (users a<k> and b<k>: added, email changed);
    // inst2's one event at 999 is the bound. Stored in a fixed shuffled order.
    await c.query(
      `INSERT INTO eventstore.events2
       SELECT i, 'instance', i, 'instance.added', 1, 1, now(), NULL::jsonb, 'sys', i, 100, 1 FROM unnest(ARRAY['inst1', 'inst2']) i
       UNION ALL SELECT 'inst2', 'user', 'z', 'user.human.added', 1, 2, now(), NULL, 'sys', 'o', 999, 1
       UNION ALL (SELECT 'inst1', 'user', w || k, CASE WHEN s = 1 THEN 'user.human.added' ELSE 'user.human.email.changed' END, s, 2, now(), NULL, 'sys', 'o', 200 + k, s
                    FROM generate_series(1, 30) k, unnest(ARRAY['a', 'b']) w, generate_series(1, 2) s ORDER BY md5(w || k || s))`,
    );
    const expected = await sqlRows(c, `SELECT instance_id, aggregate_id, "sequence" FROM eventstore.events2 WHERE aggregate_type IN ('instance', 'user') ORDER BY 1, 2, 3`);
    const results: string[] = [];
    for (const limit of [2, 3, 5]) {
      await c.query('DROP SCHEMA IF EXISTS projections CASCADE');
      const r = await drive(c, counter, { limit });
      const got = await sqlRows(c, `SELECT instance_id, aggregate_id, "sequence" FROM projections.count1 ORDER BY 1, 2, 3`);
      const [f] = (await c.query(`SELECT count(*)::int AS n, string_agg(aggregate_id || ' #' || failed_sequence || ': ' || error, '; ' ORDER BY aggregate_id, failed_sequence) AS which FROM projections.failed_events2`)).rows;
      const missing = expected.filter((e) => !got.includes(e));
      results.push(`limit ${limit}: ${got.length} of ${expected.length} rows, ${r.events} events, missing ${missing.length}, failed events ${f.n}${f.n ? ` (${String(f.which).slice(0, 160)}...)` : ''}`);
    }
    assert.equal(results, [2, 3, 5].map((l) => `limit ${l}: ${expected.length} of ${expected.length} rows, ${expected.length} events, missing 0, failed events 0`));
  } finally {
    await c.end();
  }
});

// ---------------------------------------------------------------------------------------------
// Events as ZITADEL pushes them: per instance an instance.added push, then pushes of three
// user events (added, email changed twice) sharing one position, in_tx_order 1..3, with a
// project event (no projection below reads it) in every fifth push.

async function fillUsers(url: string, nInstances: number, usersPerInstance: number): Promise<void> {
  const c = await connect(url);
  try {
    await c.query(events2Ddl());
    await c.query(
      `INSERT INTO eventstore.events2
       SELECT 'inst' || g, 'instance', 'inst' || g, 'instance.added', 1, 1, now(), '{"name":"x"}', 'sys', 'inst' || g, 1000 + g, 1
         FROM generate_series(1, $1::int) g`,
      [nInstances],
    );
    await c.query(
      `WITH p AS (SELECT i, u, 2000000 + u * 10 + i AS pos FROM generate_series(1, $1::int) i, generate_series(1, $2::int) u)
       INSERT INTO eventstore.events2
       SELECT 'inst' || i, 'user', 'u' || u, CASE WHEN s = 1 THEN 'user.human.added' ELSE 'user.human.email.changed' END, s, 2, now(),
              jsonb_build_object('email', 'e' || u || '.' || s || '@x'), 'sys', 'org1', pos, s + CASE WHEN u % 5 = 0 AND s > 1 THEN 1 ELSE 0 END
         FROM p, generate_series(1, 3) s
       UNION ALL
       SELECT 'inst' || i, 'project', 'p' || u, 'project.added', 1, 1, now(), NULL, 'sys', 'org1', pos, 2 FROM p WHERE u % 5 = 0`,
      [nInstances, usersPerInstance],
    );
  } finally {
    await c.end();
  }
}

/** A projection (plain JavaScript, for a config) with one row per event: `row` makes the row of an event. */
function recorder(name: string, row = `v: e.eventType`): string {
  return `{
  name: '${name}',
  tables: [{
    name: '${name}',
    columns: [{ name: 'instance_id', type: 'text' }, { name: 'aggregate_id', type: 'text' }, { name: 'sequence', type: 'bigint' },
              { name: 'position', type: 'numeric' }, { name: 'v', type: 'text' }],
    primaryKey: ['instance_id', 'aggregate_id', 'sequence'],
  }],
  reducers: {
    instance: { 'instance.added': (e) => ({ op: 'insert', table: '${name}', row: { instance_id: e.instanceId, aggregate_id: e.aggregateId, sequence: e.sequence, position: e.position, ${row} } }) },
    user: Object.fromEntries(['user.human.added', 'user.human.email.changed'].map((type) => [type, (e) => ({ op: 'insert', table: '${name}',
      row: { instance_id: e.instanceId, aggregate_id: e.aggregateId, sequence: e.sequence, position: e.position, ${row} } })])),
  },
}`;
}

/** The rows a recorder should hold: one per event of its types, minus `except` (instance/aggregate/sequence). */
function expectedRecorderRows(except: string[] = []): string {
  return `SELECT instance_id, aggregate_id, "sequence", "position", event_type AS v FROM eventstore.events2
           WHERE event_type IN ('instance.added', 'user.human.added', 'user.human.email.changed')
             AND NOT (instance_id || '/' || aggregate_id || '/' || "sequence") = ANY(ARRAY[${except.map((x) => `'${x}'`).join(', ') || "''"}]::text[])
           ORDER BY instance_id, aggregate_id, "sequence"`;
}

// ---------------------------------------------------------------------------------------------
// 2. Failed events, as ZITADEL counts them.

t('failed events: a reducer that throws and changes that break a constraint are counted to MaxFailureCount (2), skipped, named in the summary; everything else applied exactly; the checkpoint past them', async (ctx: DbCtx) => {
  await fillUsers(ctx.db.url, 2, 100);
  const d = dir(ctx, {
    [CONFIG]: `import { defineConfig, prefill } from 'zsetup';
// The reducer throws for inst1's u5 #2 (a payload it cannot read).
const fail1 = ${recorder('projections.fail1', `v: (() => { if (e.instanceId === 'inst1' && e.aggregateId === 'u5' && e.sequence === 2) throw new Error('cannot read u5'); return e.eventType; })()`)};
// Data faults: inst2's u9 #3 writes NULL into a NOT NULL column; inst1's u3 #3 inserts the key of u3 #1 again.
const fault1 = ${recorder('projections.fault1', `v: e.instanceId === 'inst2' && e.aggregateId === 'u9' && e.sequence === 3 ? null : e.eventType`)
      .replace(/sequence: e\.sequence, position/g, "sequence: e.instanceId === 'inst1' && e.aggregateId === 'u3' && e.sequence === 3 ? 1 : e.sequence, position")};
export default defineConfig({ steps: [prefill(fail1), prefill(fault1)] });
`,
  });
  const a = await cli(['apply'], { cwd: d.dir, url: ctx.db.url, timeoutMs: 120_000 });
  assert.is(a.code, 0, a.stdout + a.stderr);
  assert.match(a.stdout, /projections\.fail1: failed events: .*user\.human\.email\.changed user\/u5 #2 of instance inst1: cannot read u5 \(failure 2, skipped\)/);
  assert.match(a.stdout, /projections\.fault1: failed events: .*user\/u9 #3 of instance inst2: [^;]*null value in column "v"[^;]*\(failure 2, skipped\)/);
  assert.match(a.stdout, /projections\.fault1: failed events: .*user\/u3 #3 of instance inst1: [^;]*duplicate key[^;]*\(failure 2, skipped\)/);

  const c = await connect(ctx.db.url);
  try {
    const failed = (await c.query(`SELECT projection_name AS p, instance_id AS i, aggregate_type AS t, aggregate_id AS a, failed_sequence::int AS s, failure_count AS n
                                     FROM projections.failed_events2 ORDER BY 1, 2, 4`)).rows;
    assert.equal(failed, [
      { p: 'projections.fail1', i: 'inst1', t: 'user', a: 'u5', s: 2, n: MAX_FAILURE_COUNT },
      { p: 'projections.fault1', i: 'inst1', t: 'user', a: 'u3', s: 3, n: MAX_FAILURE_COUNT },
      { p: 'projections.fault1', i: 'inst2', t: 'user', a: 'u9', s: 3, n: MAX_FAILURE_COUNT },
    ]);
    sameRows(await sqlRows(c, 'SELECT instance_id, aggregate_id, "sequence", "position", v FROM projections.fail1 ORDER BY 1, 2, 3'), await sqlRows(c, expectedRecorderRows(['inst1/u5/2'])), 'projections.fail1');
    sameRows(
      await sqlRows(c, 'SELECT instance_id, aggregate_id, "sequence", "position", v FROM projections.fault1 ORDER BY 1, 2, 3'),
      await sqlRows(c, expectedRecorderRows(['inst1/u3/3', 'inst2/u9/3'])),
      'projections.fault1',
    );
    // Every unit's checkpoint at its last event (past the failed ones), in ZITADEL's format.
    const cps = (await c.query(
      `SELECT cs.projection_name AS p, cs.instance_id AS i, cs."position"::text AS pos, cs.filter_offset AS off,
              (SELECT max("position")::text FROM eventstore.events2 e WHERE e.instance_id = cs.instance_id AND e.event_type IN ('instance.added', 'user.human.added', 'user.human.email.changed')) AS last
         FROM projections.current_states cs ORDER BY 1, 2`,
    )).rows;
    assert.is(cps.length, 4, JSON.stringify(cps));
    for (const cp of cps) {
      assert.is(cp.pos, cp.last, `${cp.p} ${cp.i}: checkpoint at the last event`);
      assert.is(cp.off, 3, `${cp.p} ${cp.i}: filter_offset = the 3 user events of the last push`);
    }
  } finally {
    await c.end();
  }
});

/**
 * Failed before 405ac8c: perEvent put a savepoint around each change, not around
 * the event's changes as ZITADEL does (one Statement per event, executed under
 * `SAVEPOINT exec_stmt`), so a failing event's earlier changes stayed, and the first attempt's
 * commit kept them even while the event is below MaxFailureCount.
 */
t("failed events: an event whose second change fails is skipped whole, as under ZITADEL's one savepoint per event (its first change is not kept)", async (ctx: DbCtx) => {
  await fillUsers(ctx.db.url, 1, 20);
  // Each event: a row in atom1, then one in atom1_side; u4 #2's side row breaks NOT NULL.
  const row = (e: StoredEvent) => ({ instance_id: e.instanceId, aggregate_id: e.aggregateId, sequence: e.sequence });
  const reduce = (e: StoredEvent): Change[] => [
    { op: 'insert', table: 'projections.atom1', row: row(e) },
    { op: 'insert', table: 'projections.atom1_side', row: { ...row(e), v: e.aggregateId === 'u4' && e.sequence === 2 ? null : e.eventType } },
  ];
  const cols = [{ name: 'instance_id', type: 'text' }, { name: 'aggregate_id', type: 'text' }, { name: 'sequence', type: 'bigint' }];
  const atom: ProjectionSpec = {
    name: 'projections.atom1',
    tables: [
      { name: 'projections.atom1', columns: cols, primaryKey: ['instance_id', 'aggregate_id', 'sequence'] },
      { name: 'projections.atom1_side', columns: [...cols, { name: 'v', type: 'text' }], primaryKey: ['instance_id', 'aggregate_id', 'sequence'] },
    ],
    reducers: { user: { 'user.human.added': reduce, 'user.human.email.changed': reduce } },
  };
  const c = await connect(ctx.db.url);
  try {
    const results: string[] = [];
    for (const mode of ['per-event', 'folded'] as const) {
      await c.query('DROP SCHEMA IF EXISTS projections CASCADE');
      await drive(c, atom, { mode, limit: 1000 });
      const [r] = (await c.query(
        `SELECT (SELECT count(*)::int FROM projections.atom1) AS main, (SELECT count(*)::int FROM projections.atom1_side) AS side,
                (SELECT count(*)::int FROM projections.atom1 WHERE aggregate_id = 'u4' AND "sequence" = 2) AS partial,
                (SELECT max(failure_count)::int FROM projections.failed_events2) AS failures`,
      )).rows;
      results.push(`${mode}: ${JSON.stringify(r)}`);
    }
    // 60 user events, one skipped: 59 rows in each table, and nothing of u4 #2.
    const want = JSON.stringify({ main: 59, side: 59, partial: 0, failures: MAX_FAILURE_COUNT });
    assert.equal(results, [`per-event: ${want}`, `folded: ${want}`]);
  } finally {
    await c.end();
  }
});

// ---------------------------------------------------------------------------------------------
// 3. Continuing from ZITADEL's checkpoint, mid-position.

/**
 * inst1: instance.added at 100; a push at 200 of five events, one of which (a project event,
 * in_tx_order 2) the projection does not read; pushes at 300 and 400 (400 again with an
 * unread event in the middle). inst2 has events at the same positions (its own unit). With
 * `later`, inst3 has a user event at 500, so that 400 is not the bound.
 */
async function fillPushes(c: Client, later: boolean): Promise<void> {
  await c.query(events2Ddl());
  const ev = (inst: string, agg: string, id: string, type: string, seq: number, pos: number, ord: number) =>
    `('${inst}', '${agg}', '${id}', '${type}', ${seq}, 1, now(), NULL, 'sys', 'org1', ${pos}, ${ord})`;
  const rows: string[] = [];
  for (const inst of ['inst1', 'inst2']) {
    rows.push(
      ev(inst, 'instance', inst, 'instance.added', 1, 100, 1),
      ev(inst, 'user', 'u1', 'user.human.added', 1, 200, 1),
      ev(inst, 'project', 'p1', 'project.added', 1, 200, 2),
      ev(inst, 'user', 'u2', 'user.human.added', 1, 200, 3),
      ev(inst, 'user', 'u1', 'user.human.email.changed', 2, 200, 4),
      ev(inst, 'user', 'u2', 'user.human.email.changed', 2, 200, 5),
      ev(inst, 'user', 'u1', 'user.human.email.changed', 3, 300, 1),
      ev(inst, 'user', 'u3', 'user.human.added', 1, 300, 2),
      ev(inst, 'user', 'u2', 'user.human.email.changed', 3, 400, 1),
      ev(inst, 'project', 'p1', 'project.changed', 2, 400, 2),
      ev(inst, 'user', 'u3', 'user.human.email.changed', 2, 400, 3),
    );
  }
  if (later) rows.push(ev('inst3', 'instance', 'inst3', 'instance.added', 1, 100, 1), ev('inst3', 'user', 'u1', 'user.human.added', 1, 500, 1));
  await c.query(`INSERT INTO eventstore.events2 VALUES ${rows.join(',\n')}`);
}

const counter: ProjectionSpec = (() => {
  const name = 'projections.count1';
  const reduce = (e: StoredEvent): Change => ({ op: 'insert', table: name, row: { instance_id: e.instanceId, aggregate_id: e.aggregateId, sequence: e.sequence, position: e.position, in_tx_order: e.inTxOrder } });
  return {
    name,
    tables: [
      {
        name,
        columns: [
          { name: 'instance_id', type: 'text' }, { name: 'aggregate_id', type: 'text' }, { name: 'sequence', type: 'bigint' },
          { name: 'position', type: 'numeric' }, { name: 'in_tx_order', type: 'integer' },
        ],
        primaryKey: ['instance_id', 'aggregate_id', 'sequence'],
      },
    ],
    reducers: { instance: { 'instance.added': reduce }, user: { 'user.human.added': reduce, 'user.human.email.changed': reduce } },
  };
})();

/** A ZITADEL handler's checkpoint of count1 for inst1: two of the projection's events at position 200 done (u1 #1, u2 #1). */
async function zitadelCheckpoint(c: Client, filterOffset: number): Promise<void> {
  await c.query('DROP SCHEMA IF EXISTS projections CASCADE');
  await c.query(STATE_TABLES_DDL);
  await c.query(
    `INSERT INTO projections.current_states (projection_name, instance_id, last_updated, aggregate_id, aggregate_type, "sequence", event_date, "position", filter_offset)
     VALUES ('projections.count1', 'inst1', now(), 'u2', 'user', 1, now(), 200, $1)`,
    [filterOffset],
  );
}

async function checkMidPosition(c: Client, limit: number, later: boolean): Promise<void> {
  await zitadelCheckpoint(c, 2);
  const r = await drive(c, counter, { limit });
  const got = (await c.query(`SELECT instance_id || ' ' || aggregate_id || ' #' || "sequence" || ' @' || "position" || '/' || in_tx_order AS e FROM projections.count1 ORDER BY instance_id, "position", in_tx_order`)).rows.map((x) => x.e);
  const all = ['inst2 inst2 #1 @100/1', 'inst2 u1 #1 @200/1', 'inst2 u2 #1 @200/3', 'inst2 u1 #2 @200/4', 'inst2 u2 #2 @200/5', 'inst2 u1 #3 @300/1', 'inst2 u3 #1 @300/2', 'inst2 u2 #3 @400/1', 'inst2 u3 #2 @400/3'];
  if (later) all.push('inst3 inst3 #1 @100/1', 'inst3 u1 #1 @500/1');
  // inst1: after the first two of the projection's events at 200 (the project event at 200 is not one of them).
  assert.equal(got, ['inst1 u1 #2 @200/4', 'inst1 u2 #2 @200/5', 'inst1 u1 #3 @300/1', 'inst1 u3 #1 @300/2', 'inst1 u2 #3 @400/1', 'inst1 u3 #2 @400/3', ...all], `limit ${limit}`);
  assert.is(r.events, 6 + 9 + (later ? 2 : 0), `limit ${limit}: events reduced`);
  const cps = (await c.query(`SELECT instance_id AS i, "position"::text AS pos, filter_offset AS off, aggregate_id AS a, "sequence"::int AS s FROM projections.current_states ORDER BY 1`)).rows;
  assert.equal(cps, [
    { i: 'inst1', pos: '400', off: 2, a: 'u3', s: 2 },
    { i: 'inst2', pos: '400', off: 2, a: 'u3', s: 2 },
    ...(later ? [{ i: 'inst3', pos: '500', off: 1, a: 'u1', s: 1 }] : []),
  ], `limit ${limit}: checkpoints (last position, the projection's events there)`);
}

t("a ZITADEL checkpoint mid-position (position 200, filter_offset 2): exactly the projection's events after the first two there, and all later; final checkpoint (400, 2)", async (ctx: DbCtx) => {
  const c = await connect(ctx.db.url);
  try {
    await fillPushes(c, false);
    await checkMidPosition(c, 1000, false);
  } finally {
    await c.end();
  }
});

t('a ZITADEL checkpoint mid-position, then batches of 1, 2 and 4 events (batches end inside pushes: each continues from its own filter_offset)', async (ctx: DbCtx) => {
  const c = await connect(ctx.db.url);
  try {
    await fillPushes(c, true);
    for (const limit of [1, 2, 4]) await checkMidPosition(c, limit, true);
  } finally {
    await c.end();
  }
});

/**
 * Failed before 405ac8c: Prefill.batch returned caught-up when the checkpoint's
 * position >= the bound, even when filter_offset leaves events at the bound position still
 * to do: a full batch ending inside the last push left the rest of that push out.
 */
t('a batch that ends inside the last push (at the bound): the rest of that push is still applied, the step catches up to the bound', async (ctx: DbCtx) => {
  const c = await connect(ctx.db.url);
  try {
    // The pushes at 400 are the last: a batch of 1 (inst1, inst2) or 2 (inst2) ends at (400, 1).
    await fillPushes(c, false);
    for (const limit of [1, 2]) await checkMidPosition(c, limit, false);
  } finally {
    await c.end();
  }
});

// ---------------------------------------------------------------------------------------------
// 4. ZITADEL holding a unit.

t("a unit held by ZITADEL's advisory lock: the other instances are done, the held one waits until the lock is let go, then every event once", async (ctx: DbCtx) => {
  await fillUsers(ctx.db.url, 4, 50);
  const d = dir(ctx, {
    [CONFIG]: `import { defineConfig, prefill } from 'zsetup';
const held1 = ${recorder('projections.held1')};
export default defineConfig({ apply: { prefillWorkers: 2 }, steps: [prefill(held1)] });
`,
  });
  const gate = await connect(ctx.db.url);
  const watch = await connect(ctx.db.url);
  let run: ReturnType<typeof startCli> | undefined;
  try {
    // As a running ZITADEL handler: its transaction holds the unit's lock.
    await gate.query('BEGIN');
    await gate.query(`SELECT pg_advisory_xact_lock(hashtext('projections.held1'), hashtext('inst2'))`);
    run = startCli(['apply'], { cwd: d.dir, url: ctx.db.url, timeoutMs: 180_000 });
    const exited = run.done.then((r) => r);
    const perInstance = `SELECT i.id AS i,
        (SELECT count(*)::int FROM projections.held1 h WHERE h.instance_id = i.id) AS n,
        (SELECT count(*)::int FROM eventstore.events2 e WHERE e.instance_id = i.id AND e.event_type IN ('instance.added', 'user.human.added', 'user.human.email.changed')) AS total,
        (SELECT count(*)::int FROM projections.current_states cs WHERE cs.projection_name = 'projections.held1' AND cs.instance_id = i.id) AS cp
      FROM (VALUES ('inst1'), ('inst2'), ('inst3'), ('inst4')) i(id) ORDER BY 1`;
    let early: unknown;
    void exited.then((r) => (early = r));
    const mid = await until(async () => {
      if (early) throw new Error(`the apply ended while inst2 was held: ${JSON.stringify(early)}`);
      const rows = (await watch.query(perInstance).catch(() => ({ rows: [] }))).rows;
      return rows.length === 4 && rows.filter((r) => r.i !== 'inst2').every((r) => r.n === r.total && r.cp === 1) ? rows : undefined;
    }, 120_000, 'inst1, inst3 and inst4 done');
    const held = mid!.find((r) => r.i === 'inst2')!;
    assert.is(held.n, 0, 'nothing of the held unit written');
    assert.is(held.cp, 0, 'no checkpoint of the held unit');
    assert.is(run.child.exitCode, null, 'the apply is still running (coming back to inst2)');
    await gate.query('COMMIT');
    const r = await exited;
    assert.is(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /projections\.held1: 604 events over 4 instance\(s\)/);
    const end = (await watch.query(perInstance)).rows;
    for (const row of end) assert.is(row.n, row.total, `${row.i}: every event`);
    sameRows(await sqlRows(watch, 'SELECT instance_id, aggregate_id, "sequence", "position", v FROM projections.held1 ORDER BY 1, 2, 3'), await sqlRows(watch, expectedRecorderRows()), 'projections.held1');
  } finally {
    await gate.end().catch(() => undefined);
    await watch.end().catch(() => undefined);
    if (run && run.child.exitCode === null) run.child.kill('SIGKILL');
  }
});

t.run();
