/**
 * The move of ZITADEL's legacy event table (`eventstore.events`) to its events2 layout, as
 * step 14_events_push does, but in resumable units (issue 12):
 *
 * 1. **copy**: into `eventstore.events2_move` (made like events2, NOT NULL where events2 has
 *    it: a column constraint checked per row costs less than ZITADEL's scan to add it), in
 *    heap-page ranges of the legacy table (TID range scans): each range in one transaction
 *    with the checkpoint that says the next page, so a range is never copied twice nor
 *    skipped. Ranges are sized to take about BATCH_MS. The legacy table stays where it is
 *    and writable meanwhile (binaries from before events2 keep working).
 * 2. **key** and **indexes**, on the new table while nobody uses it: the primary key's unique
 *    index and ZITADEL's three indexes built at once in their own sessions (plain CREATE
 *    INDEX: they share the table; the server adds its parallel workers to each), the key
 *    then attached to its index. Each is skipped when present and valid, dropped and built
 *    again when INVALID.
 * 3. **switch**, one short transaction: lock the legacy table against writes, copy what was
 *    written since the last range (pages from the checkpoint on), rename `events` to
 *    `events_old` and `events2_move` to `events2`.
 * 4. **verify**: row counts and an ordered md5 of the key columns on both sides; a mismatch
 *    fails the step, naming the first range that differs. `events_old` is never dropped here.
 *
 * Skipped when events2 exists and no legacy table does (a new installation, or a move done).
 */
import type { Session, StepContext } from 'zsetup/plugin';

/** What a checkpoint says: the phase, and for the copy the next page of the legacy table. */
export interface MoveCheckpoint {
  phase: 'copy' | 'indexes' | 'verify' | 'switch';
  /** copy: the first page not copied yet; switch: where the copy ended. */
  page: number;
  /** The legacy table's pages when the copy started (its total, for progress). */
  pages: number;
}

const LEGACY = 'eventstore.events';
const BUILD = 'eventstore.events2_move';
const UNITS = 'eventstore.events2_move_units';
/**
 * Pages per unit: about 100 ms of copying here (23,000 pages/s at 2,000,000 events). A stop
 * cancels the unit in flight (its transaction rolls back), so the size bounds lost work, not
 * the stop.
 */
const UNIT_PAGES = 2048;

/** The units of the copy: page ranges of the legacy table, claimed by row locks, marked done with their copy. */
const UNITS_DDL = `CREATE TABLE ${UNITS} (unit INT PRIMARY KEY, first_page BIGINT NOT NULL, end_page BIGINT NOT NULL, done BOOLEAN NOT NULL DEFAULT false)`;

/** The columns of events2 from the legacy ones (ZITADEL's 14/02_create_and_fill_events2.sql). */
const SELECT = `instance_id, aggregate_type, aggregate_id, event_type, event_sequence, substr(aggregate_version, 2)::SMALLINT, creation_date, event_data,
       editor_user, resource_owner, EXTRACT(EPOCH FROM creation_date), event_sequence`;

/** events2 as ZITADEL's CREATE TABLE AS makes it (types from the legacy columns), with its NOT NULLs. */
const BUILD_DDL = `CREATE TABLE IF NOT EXISTS ${BUILD} (
    instance_id TEXT NOT NULL, aggregate_type TEXT NOT NULL, aggregate_id TEXT NOT NULL,
    event_type TEXT NOT NULL, "sequence" BIGINT NOT NULL, revision SMALLINT NOT NULL, created_at TIMESTAMPTZ NOT NULL,
    payload JSONB, creator TEXT NOT NULL, "owner" TEXT NOT NULL,
    "position" NUMERIC NOT NULL, in_tx_order BIGINT NOT NULL)`;

/** ZITADEL's key and indexes of events2 (14/03, 14/05): name, and CREATE statement for a table. */
const INDEXES: Array<{ name: string; ddl: (table: string) => string }> = [
  { name: 'events2_pkey', ddl: (t) => `CREATE UNIQUE INDEX events2_pkey ON ${t} (instance_id, aggregate_type, aggregate_id, "sequence")` },
  { name: 'es_active_instances', ddl: (t) => `CREATE INDEX es_active_instances ON ${t} (created_at DESC, instance_id)` },
  { name: 'es_wm', ddl: (t) => `CREATE INDEX es_wm ON ${t} (aggregate_id, instance_id, aggregate_type, event_type)` },
  { name: 'es_projection', ddl: (t) => `CREATE INDEX es_projection ON ${t} (instance_id, aggregate_type, event_type, "position")` },
];

export interface MoveResult {
  skipped?: string;
  rows?: number;
  ms?: number;
}

interface Exists {
  legacy: boolean;
  events2: boolean;
  build: boolean;
  old: boolean;
}

async function exists(ctx: StepContext): Promise<Exists> {
  const [r] = await ctx.query<Exists>(
    `SELECT to_regclass('${LEGACY}') IS NOT NULL AS legacy, to_regclass('eventstore.events2') IS NOT NULL AS events2,
            to_regclass('${BUILD}') IS NOT NULL AS build, to_regclass('eventstore.events_old') IS NOT NULL AS old`,
  );
  return r!;
}

/** The legacy table's size in pages now. */
async function pagesOf(q: Pick<Session, 'query'> | StepContext): Promise<number> {
  const [r] = await q.query<{ n: string }>(`SELECT (pg_relation_size('${LEGACY}') / current_setting('block_size')::int)::bigint AS n`);
  return Number(r!.n);
}

export interface MoveOptions {
  /** Pages of the legacy table per unit (default UNIT_PAGES). */
  readonly unitPages?: number | undefined;
  /** Sessions copying at once (default 2). */
  readonly workers?: number | undefined;
}

/** Move the legacy events (see the module comment). Resumes from ctx.checkpoint. */
export async function moveEvents(ctx: StepContext, o: MoveOptions = {}): Promise<MoveResult> {
  const t0 = performance.now();
  const e = await exists(ctx);
  let cp = ctx.checkpoint as MoveCheckpoint | undefined;
  if (!e.legacy && e.events2) return { skipped: e.old ? 'already moved (events2 and events_old exist)' : 'events2 exists and no legacy eventstore.events: nothing to move (a new installation)' };
  if (!e.legacy && !e.events2 && !e.build) return { skipped: 'no eventstore.events and no events2: nothing to move (ZITADEL\'s init creates events2)' };
  if (e.legacy && e.events2) {
    throw new Error('both eventstore.events and eventstore.events2 exist: events2 was made before the legacy events were moved (an init step ran on a legacy database?); move or rename one of them by hand after checking which holds the events');
  }

  if (!cp || !e.build) {
    // The copy, its units and the checkpoint that says they exist: together, or none.
    const pages = await pagesOf(ctx);
    const unit = o.unitPages ?? UNIT_PAGES;
    const first: MoveCheckpoint = { phase: 'copy', page: pages, pages };
    await ctx.transaction(async (tx) => {
      await tx.exec(`DROP TABLE IF EXISTS ${BUILD}, ${UNITS}; ${BUILD_DDL}; ${UNITS_DDL};
        INSERT INTO ${UNITS} (unit, first_page, end_page) SELECT g / ${unit}, g, least(g + ${unit}, ${pages}) FROM generate_series(0, ${pages} - 1, ${unit}) g`);
      await ctx.saveCheckpoint(tx, first, { done: 0, total: pages });
    });
    cp = first;
  }

  const lap = (what: string, since: number) => ctx.log(`${what} in ${((performance.now() - since) / 1000).toFixed(2)} s`);
  if (cp.phase === 'copy') {
    const t = performance.now();
    await copyUnits(ctx, cp, o.workers ?? 2);
    if (ctx.signal.aborted) return {};
    lap(`copied ${cp.pages} pages`, t);
    await ctx.transaction((tx) => ctx.saveCheckpoint(tx, (cp = { ...cp!, phase: 'indexes' }), { done: cp.pages, total: cp.pages }));
  }
  if (cp.phase === 'indexes' || cp.phase === 'verify') {
    // The copy checked against the legacy pages it came from (events are only appended:
    // those pages do not change while the legacy table stays writable).
    let t = performance.now();
    if (cp.phase === 'indexes') {
      await buildIndexes(ctx);
      lap('built the key and the indexes', t);
      ctx.signal.throwIfAborted();
      await ctx.transaction((tx) => ctx.saveCheckpoint(tx, (cp = { ...cp!, phase: 'verify' }), { done: cp.pages, total: cp.pages }));
    }
    t = performance.now();
    await verify(ctx, cp.page);
    lap('verified', t);
    ctx.signal.throwIfAborted();
    await ctx.transaction((tx) => ctx.saveCheckpoint(tx, (cp = { ...cp!, phase: 'switch' }), { done: cp.pages, total: cp.pages }));
  }
  if (cp.phase !== 'switch') throw new Error(`unknown checkpoint ${JSON.stringify(cp)}`);
  const done = cp;
  let rows = 0;
  const ts = performance.now();
  await ctx.transaction(async (tx) => {
    // Writers of the legacy table wait from here to the commit: the tail, a count, two renames.
    await tx.exec(`SET LOCAL lock_timeout = '10s'; LOCK TABLE ${LEGACY} IN EXCLUSIVE MODE`);
    await tx.exec(`INSERT INTO ${BUILD} SELECT ${SELECT} FROM ${LEGACY} WHERE ctid >= '(${done.page},0)'::tid`);
    const [c] = await tx.query<{ old: string; now: string }>(`SELECT (SELECT count(*) FROM ${LEGACY}) AS old, (SELECT count(*) FROM ${BUILD}) AS now`);
    if (c!.old !== c!.now) throw new Error(`verification failed: eventstore.events has ${c!.old} rows, the copy ${c!.now} (rows written into pages copied before?): nothing was switched; the legacy table is untouched`);
    rows = Number(c!.now);
    await tx.exec(`ALTER TABLE ${LEGACY} RENAME TO events_old; ALTER TABLE ${BUILD} RENAME TO events2; ALTER TABLE eventstore.events2 ADD CONSTRAINT events2_pkey PRIMARY KEY USING INDEX events2_pkey; DROP TABLE IF EXISTS ${UNITS}`);
  });
  lap('switched', ts);
  return { rows, ms: performance.now() - t0 };
}

/**
 * One worker: claim a unit nobody holds (FOR UPDATE SKIP LOCKED: a claim is a row lock,
 * released by the commit or by the death of its session), copy its pages, mark it done, in
 * one transaction; until no unit is left. With `cp`, each commit also saves the step's
 * checkpoint (the run that holds the lock); a joining process only copies.
 */
async function worker(ctx: StepContext, cp: MoveCheckpoint | undefined, onUnit: (pages: number) => void): Promise<void> {
  for (;;) {
    if (ctx.signal.aborted) return;
    let got = false;
    await ctx.transaction(async (tx) => {
      const [u] = await tx.query<{ unit: number; first_page: string; end_page: string }>(
        `SELECT unit, first_page, end_page FROM ${UNITS} WHERE NOT done ORDER BY unit LIMIT 1 FOR UPDATE SKIP LOCKED`,
      );
      if (!u) return;
      got = true;
      await tx.exec(`INSERT INTO ${BUILD} SELECT ${SELECT} FROM ${LEGACY} WHERE ctid >= '(${u.first_page},0)'::tid AND ctid < '(${u.end_page},0)'::tid;
        UPDATE ${UNITS} SET done = true WHERE unit = ${u.unit}`);
      if (cp) {
        const [d] = await tx.query<{ n: string }>(`SELECT coalesce(sum(end_page - first_page), 0) AS n FROM ${UNITS} WHERE done`);
        await ctx.saveCheckpoint(tx, cp, { done: Number(d!.n), total: cp.pages });
      }
      onUnit(Number(u.end_page) - Number(u.first_page));
    });
    if (!got) return;
  }
}

/**
 * The copy by `workers` sessions at once, then a wait for units other processes still hold
 * (joiners: a blocking claim returns once their commit or death decides).
 */
async function copyUnits(ctx: StepContext, cp: MoveCheckpoint, workers: number): Promise<void> {
  const [d] = await ctx.query<{ n: string }>(`SELECT coalesce(sum(end_page - first_page), 0) AS n FROM ${UNITS} WHERE done`);
  let done = Number(d!.n);
  ctx.progress({ done, total: cp.pages });
  const onUnit = (pages: number) => ctx.progress({ done: (done += pages), total: cp.pages });
  await Promise.all(Array.from({ length: Math.max(1, workers) }, () => worker(ctx, cp, onUnit)));
  while (!ctx.signal.aborted) {
    const [left] = await ctx.query<{ n: string }>(`SELECT count(*) AS n FROM ${UNITS} WHERE NOT done`);
    if (Number(left!.n) === 0) return;
    // Held by another process: wait for its claim to end, then take what is left.
    await ctx.transaction(async (tx) => {
      await tx.query(`SELECT unit FROM ${UNITS} WHERE NOT done ORDER BY unit LIMIT 1 FOR UPDATE`);
    });
    await worker(ctx, cp, onUnit);
  }
}

/** A process waiting for the run lock takes units of a copy the holder runs (StepKind.join). */
export async function joinCopy(ctx: StepContext): Promise<number> {
  const [u] = await ctx.query<{ ok: boolean }>(`SELECT to_regclass('${UNITS}') IS NOT NULL AS ok`);
  if (!u?.ok) return 0;
  let pages = 0;
  await worker(ctx, undefined, (n) => (pages += n)).catch((err: unknown) => {
    // The holder switched meanwhile (the units table is gone): nothing left to join.
    if ((err as { code?: string })?.code !== '42P01') throw err;
  });
  return pages;
}

/** The key's unique index and the three indexes, each skipped when valid, rebuilt when INVALID, built at once. */
async function buildIndexes(ctx: StepContext): Promise<void> {
  const present = new Map(
    (
      await ctx.query<{ name: string; valid: boolean }>(
        `SELECT c.relname AS name, i.indisvalid AS valid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = to_regclass('${BUILD}')`,
      )
    ).map((r) => [r.name, r.valid]),
  );
  const todo = INDEXES.filter((ix) => present.get(ix.name) !== true);
  for (const ix of todo) if (present.get(ix.name) === false) await ctx.exec(`DROP INDEX IF EXISTS eventstore.${ix.name}`);
  if (todo.length === 0) return;
  ctx.log(`building ${todo.map((ix) => ix.name).join(', ')} on the copied events, at once`);
  // Progress of each build, from the server (pg_stat_progress_create_index), every few seconds.
  const t0 = performance.now();
  const report = setInterval(() => {
    ctx
      .query<{ name: string; phase: string; done: string; total: string }>(
        `SELECT c.relname AS name, p.phase, CASE WHEN p.tuples_total > 0 THEN p.tuples_done ELSE p.blocks_done END AS done,
                CASE WHEN p.tuples_total > 0 THEN p.tuples_total ELSE p.blocks_total END AS total
           FROM pg_stat_progress_create_index p JOIN pg_class c ON c.oid = p.index_relid WHERE p.relid = to_regclass('${BUILD}') ORDER BY 1`,
      )
      .then((rows) => {
        if (rows.length === 0) return;
        const s = Math.round((performance.now() - t0) / 1000);
        ctx.log(`indexes after ${s} s: ${rows.map((r) => `${r.name} ${r.phase}${Number(r.total) > 0 ? ` ${Math.floor((100 * Number(r.done)) / Number(r.total))}%` : ''}`).join('; ')}`);
      })
      .catch(() => undefined);
  }, 5000);
  report.unref();
  try {
    await Promise.all(todo.map((ix) => ctx.transaction((tx) => tx.exec(ix.ddl(BUILD)))));
  } finally {
    clearInterval(report);
  }
}

/**
 * The copied rows against the legacy pages they came from: per instance, the row count and a
 * checksum of the key columns (the sum of a 64-bit hash of each key: equal sums mean the same
 * keys, whatever the order; an ordered md5 of all keys cost 4.5 s more at 2,000,000 events
 * than this, measured); the first instance that differs fails the step, with its counts.
 */
async function verify(ctx: StepContext, page: number): Promise<void> {
  const key = (seq: string) => `hashtextextended(aggregate_type || '/' || aggregate_id || '/' || ${seq}, 0)::numeric`;
  const rows = await ctx.query<{ instance_id: string; na: string | null; nb: string | null }>(
    `SELECT coalesce(o.instance_id, n.instance_id) AS instance_id, o.n AS na, n.n AS nb FROM
       (SELECT instance_id, count(*) AS n, sum(${key('event_sequence')}) AS s FROM ${LEGACY} WHERE ctid < '(${page},0)'::tid GROUP BY instance_id) o
       FULL JOIN
       (SELECT instance_id, count(*) AS n, sum(${key('"sequence"')}) AS s FROM ${BUILD} GROUP BY instance_id) n ON n.instance_id = o.instance_id
     WHERE o.s IS DISTINCT FROM n.s OR o.n IS DISTINCT FROM n.n ORDER BY 1 LIMIT 1`,
  );
  const d = rows[0];
  if (d) {
    throw new Error(
      `verification failed for instance ${d.instance_id}: the legacy pages 0-${page - 1} hold ${d.na ?? 0} of its events, the copy ${d.nb ?? 0}${d.na === d.nb ? ' (their keys differ)' : ''}. Nothing was switched; eventstore.events is untouched. Drop eventstore.events2_move to copy again from the start`,
    );
  }
  ctx.log(`verified: the copy of legacy pages 0-${page - 1} has the same keys, instance by instance`);
}
