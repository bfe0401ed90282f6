/**
 * Prefill: a projection caught up with the event log, instance by instance, in batches.
 *
 * One batch is one transaction, as in ZITADEL's handler (internal/eventstore/handler/v2):
 * 1. `pg_try_advisory_xact_lock(hashtext(projection), hashtext(instance))`: false means
 *    someone else (a running ZITADEL, another zsetup) reduces this unit now: skip it;
 * 2. the unit's checkpoint row in `projections.current_states`, `FOR UPDATE NOWAIT`;
 * 3. the next events of the instance after the checkpoint, up to the step's bound;
 * 4. every event through its reducer, the row changes folded into a few statements
 *    (fold.ts) instead of one statement under a savepoint per event;
 * 5. the checkpoint of the last event, in ZITADEL's format; COMMIT.
 * A batch that fails as folded statements (an SQL error) runs again one event at a time,
 * each under a savepoint, as ZITADEL does: the failing event is found and goes to
 * `projections.failed_events2` with its failure count, and is skipped once that count
 * reaches the maximum (ZITADEL's MaxFailureCount, 2). A reducer that throws is the same.
 *
 * Batches are bounded by count and by time (the size adapts so one takes ~300 ms), so a
 * stop is never far: the engine cancels the batch in flight, it rolls back, and the next
 * run continues from `current_states`.
 */
import type { Session, StepContext } from '../../src/plugin.js';
import { Folder, FoldConflict, Tables, changeStatement, inline, quoteTable, type Statement } from './fold.js';
import { EventTime, type Change, type ProjectionSpec, type StoredEvent, type TableSpec } from './model.js';

/** ZITADEL's defaults: MaxFailureCount 2; the batch size adapts from here. */
export const MAX_FAILURE_COUNT = 2;
const FIRST_BATCH = 4000;
const MAX_BATCH = 20_000;
const BATCH_TARGET_MS = 300;
/** Events folded between two turns of the event loop. */
const FOLD_SLICE = 1000;

/** ZITADEL's checkpoint and failed-event tables (setup steps 15 and 17), if missing. */
export const STATE_TABLES_DDL = `CREATE SCHEMA IF NOT EXISTS projections;
CREATE TABLE IF NOT EXISTS projections.current_states (
    projection_name TEXT NOT NULL,
    instance_id     TEXT NOT NULL,
    last_updated    TIMESTAMPTZ,
    aggregate_id    TEXT,
    aggregate_type  TEXT,
    "sequence"      BIGINT,
    event_date      TIMESTAMPTZ,
    "position"      DECIMAL,
    filter_offset   INTEGER,
    PRIMARY KEY (projection_name, instance_id)
);
CREATE TABLE IF NOT EXISTS projections.failed_events2 (
    projection_name     TEXT        NOT NULL,
    instance_id         TEXT        NOT NULL,
    aggregate_type      TEXT        NOT NULL,
    aggregate_id        TEXT        NOT NULL,
    event_creation_date TIMESTAMPTZ NOT NULL,
    failed_sequence     BIGINT      NOT NULL,
    failure_count       SMALLINT    DEFAULT 0,
    error               TEXT,
    last_failed         TIMESTAMPTZ,
    PRIMARY KEY (projection_name, instance_id, aggregate_type, aggregate_id, failed_sequence)
)`;

/** A projection's own tables, as ZITADEL's handler creates them (IF NOT EXISTS). */
export function tablesDdl(tables: readonly TableSpec[]): string {
  const q = (c: string) => `"${c.replace(/"/g, '""')}"`;
  const out: string[] = [];
  const schemas = new Set(tables.map((t) => t.name.split('.')[0]!).filter((s, _i, a) => a.length > 0));
  for (const s of schemas) if (tables.some((t) => t.name.includes('.'))) out.push(`CREATE SCHEMA IF NOT EXISTS ${q(s)}`);
  for (const t of tables) {
    const cols = t.columns.map((c) =>
      c.generated !== undefined
        ? `${q(c.name)} ${c.type} GENERATED ALWAYS AS (${c.generated}) STORED`
        : `${q(c.name)} ${c.type}${c.nullable ? '' : ' NOT NULL'}${c.default !== undefined ? ` DEFAULT ${c.default}` : ''}`,
    );
    cols.push(`PRIMARY KEY (${t.primaryKey.map(q).join(', ')})`);
    if (t.parent) cols.push(`FOREIGN KEY (${t.parent.columns.map(q).join(', ')}) REFERENCES ${quoteTable(t.parent.table)} (${t.parent.references.map(q).join(', ')}) ON DELETE CASCADE`);
    out.push(`CREATE TABLE IF NOT EXISTS ${quoteTable(t.name)} (\n  ${cols.join(',\n  ')}\n)`);
    const bare = t.name.slice(t.name.indexOf('.') + 1);
    // A column name is quoted; anything else is an expression, as ZITADEL writes some (`LOWER(email)`).
    const col = (c: string) => (/^[A-Za-z_][A-Za-z0-9_]*$/.test(c) ? q(c) : c);
    for (const ix of t.indexes ?? []) out.push(`CREATE INDEX IF NOT EXISTS ${q(ix.fullName ?? `${bare}_${ix.name}_idx`)} ON ${quoteTable(t.name)} (${ix.columns.map(col).join(', ')})`);
  }
  return out.join(';\n');
}

/** The aggregate and event types a projection reads. */
export function filterOf(p: ProjectionSpec): { aggregateTypes: string[]; eventTypes: string[] } {
  const aggregateTypes = Object.keys(p.reducers).sort();
  const eventTypes = [...new Set(aggregateTypes.flatMap((a) => Object.keys(p.reducers[a]!)))].sort();
  return { aggregateTypes, eventTypes };
}

/** The instance ids of the event log, by a skip scan of an index led by instance_id (a WITH clause, `ids`). */
const INSTANCE_IDS = `WITH RECURSIVE ids AS (
         SELECT min(instance_id) AS id FROM eventstore.events2
         UNION ALL
         SELECT (SELECT min(instance_id) FROM eventstore.events2 WHERE instance_id > ids.id) FROM ids WHERE ids.id IS NOT NULL)`;

/** A unit a batch works on: its instance, its checkpoint, its next events. */
interface Unit {
  readonly instance: string;
  readonly cp: Cursor | undefined;
  readonly events: EventRow[];
}

interface Cursor {
  position: string;
  /** ZITADEL's filter_offset: how many of this projection's events at `position` are done. */
  offset: number;
}

interface EventRow {
  instance_id: string;
  aggregate_type: string;
  aggregate_id: string;
  event_type: string;
  sequence: string;
  position: string;
  in_tx_order: number;
  /** ISO 8601 in UTC, to the microsecond. */
  created_at: string;
  creator: string;
  owner: string;
  revision: number;
  payload: unknown;
}

export interface FailedEvent {
  instanceId: string;
  aggregateType: string;
  aggregateId: string;
  sequence: number;
  eventType: string;
  error: string;
  failureCount: number;
  skipped: boolean;
}

/** What batchMany did to each unit: `more` when it read `limit` events (there may be more). */
export type ManyOutcome =
  | { kind: 'split' }
  | { kind: 'done'; events: number; units: Map<string, { kind: 'locked' | 'caught-up' | 'more'; events: number }> };

export type BatchOutcome =
  | { kind: 'locked' }
  | { kind: 'caught-up' }
  | { kind: 'done'; events: number; full: boolean; failed: FailedEvent[] };

export interface PrefillOptions {
  /** `folded` (the engine) or `per-event` (ZITADEL's loop: a statement under a savepoint each). */
  readonly mode?: 'folded' | 'per-event';
  readonly maxFailureCount?: number;
}

/** One projection's batches: what the step's workers (and the reference loop) call. */
export class Prefill {
  readonly tables: Tables;
  readonly filter: { aggregateTypes: string[]; eventTypes: string[] };
  private readonly reducers: ProjectionSpec['reducers'];

  /** `folded` (the engine) or `per-event` (ZITADEL's loop). */
  get mode(): 'folded' | 'per-event' {
    return this.options.mode ?? 'folded';
  }

  constructor(readonly projection: ProjectionSpec, private readonly options: PrefillOptions = {}) {
    this.tables = new Tables(projection.tables);
    this.filter = filterOf(projection);
    this.reducers = projection.reducers;
  }

  /**
   * The bound: the position of this projection's last event now (what a step catches up to).
   * Read from ZITADEL's index es_projection (instance_id, aggregate_type, event_type,
   * position): the instance ids by a skip scan, then the last position per instance and
   * event type, one index probe each; not a scan of the event log.
   */
  async bound(s: Session): Promise<string> {
    // Without that index (an event table not made by ZITADEL's DDL), one scan is cheaper.
    const [ix] = await s.query<{ ok: boolean }>(
      `SELECT EXISTS (SELECT 1 FROM pg_indexes WHERE schemaname = 'eventstore' AND tablename = 'events2'
                        AND indexdef LIKE '%(instance_id, aggregate_type, event_type, "position"%') AS ok`,
      [],
    );
    if (!ix?.ok) {
      const [r] = await s.query<{ p: string }>('SELECT coalesce(max("position"), 0)::text AS p FROM eventstore.events2', []);
      return r!.p;
    }
    const [r] = await s.query<{ p: string }>(
      `${INSTANCE_IDS}
       SELECT coalesce(max(m.p), 0)::text AS p
         FROM ids, unnest($1::text[]) a, unnest($2::text[]) t,
              LATERAL (SELECT "position" AS p FROM eventstore.events2 e
                        WHERE e.instance_id = ids.id AND e.aggregate_type = a AND e.event_type = t
                        ORDER BY "position" DESC LIMIT 1) m
        WHERE ids.id IS NOT NULL`,
      [this.filter.aggregateTypes, this.filter.eventTypes],
    );
    return r!.p;
  }

  /** The instances, as ZITADEL lists them: added and not removed, up to the bound (index probes per instance id). */
  static async instances(s: Session, bound: string): Promise<string[]> {
    const rows = await s.query<{ id: string }>(
      `${INSTANCE_IDS}
       SELECT id FROM ids
        WHERE id IS NOT NULL
          AND EXISTS (SELECT 1 FROM eventstore.events2 e WHERE e.instance_id = ids.id AND e.aggregate_type = 'instance' AND e.event_type = 'instance.added' AND e."position" <= $1::numeric)
          AND NOT EXISTS (SELECT 1 FROM eventstore.events2 e WHERE e.instance_id = ids.id AND e.aggregate_type = 'instance' AND e.event_type = 'instance.removed' AND e."position" <= $1::numeric)
        ORDER BY 1`,
      [bound],
    );
    return rows.map((r) => r.id);
  }

  /**
   * Events of this projection left per instance: after its checkpoint (less the events its
   * filter_offset says are done at that position), up to the bound. Exact; an index range per
   * instance, so a resumed step counts only what is left.
   */
  async remaining(s: Session, instances: readonly string[], bound: string): Promise<Map<string, number>> {
    const rows = await s.query<{ id: string; n: number }>(
      `SELECT u.id, greatest(0, (SELECT count(*) FROM eventstore.events2 e
                                  WHERE e.instance_id = u.id AND e.aggregate_type = ANY($2::text[]) AND e.event_type = ANY($3::text[])
                                    AND e."position" >= coalesce(cs."position", 0) AND e."position" <= $4::numeric)
                                - coalesce(cs.filter_offset, 0))::int AS n
         FROM unnest($1::text[]) u(id)
         LEFT JOIN projections.current_states cs ON cs.instance_id = u.id AND cs.projection_name = $5`,
      [instances, this.filter.aggregateTypes, this.filter.eventTypes, bound, this.projection.name],
    );
    return new Map(rows.map((r) => [r.id, r.n]));
  }

  /**
   * ZITADEL's unit lock, then the unit's checkpoint row FOR UPDATE NOWAIT, for each instance,
   * in one round trip (the lateral row is read after the lock: a nested loop runs its outer
   * side first). Undefined when a checkpoint row is locked by someone else (55P03). The
   * batch commits without waiting for the WAL flush: its rows and its checkpoint are lost or
   * kept together (the step makes everything durable before it is recorded done). Joins by
   * key only: a projection table filled this fast has no statistics yet, and the planner then
   * hashes the whole table for a batch of keys (7-36 ms per statement seen, growing with the
   * table); every statement of a batch has an index to use instead.
   */
  private async lockUnits(tx: Session, instances: readonly string[]): Promise<Map<string, { ok: boolean; cp: Cursor | undefined }> | undefined> {
    try {
      const rows = await tx.query<{ id: string; ok: boolean; position: string | null; filter_offset: number | null }>(
        `SELECT u.id, l.ok, cs.position, cs.filter_offset
           FROM (SELECT set_config('synchronous_commit', 'off', true), set_config('enable_seqscan', 'off', true),
                        set_config('enable_hashjoin', 'off', true), set_config('enable_mergejoin', 'off', true)) cfg,
                unnest($2::text[]) WITH ORDINALITY u(id, n)
          CROSS JOIN LATERAL (SELECT pg_try_advisory_xact_lock(hashtext($1), hashtext(u.id)) AS ok) l
           LEFT JOIN LATERAL (SELECT "position"::text AS position, filter_offset FROM projections.current_states
                               WHERE l.ok AND instance_id = u.id AND projection_name = $1 FOR UPDATE NOWAIT) cs ON true
          ORDER BY u.n`,
        [this.projection.name, instances],
      );
      return new Map(rows.map((r) => [r.id, { ok: r.ok, cp: r.position == null ? undefined : { position: r.position, offset: r.filter_offset ?? 0 } }]));
    } catch (err) {
      if ((err as { code?: string })?.code === '55P03') return undefined;
      throw err;
    }
  }

  /** The next events of each unit after its checkpoint, up to the bound, at most `limit` each, in one round trip. */
  private async readEvents(tx: Session, units: ReadonlyArray<{ instance: string; cp: Cursor | undefined }>, bound: string, limit: number): Promise<Map<string, EventRow[]>> {
    const rows = await tx.query<EventRow>(
      `SELECT ev.instance_id, ev.aggregate_type, ev.aggregate_id, ev.event_type, ev.sequence, ev.position, ev.in_tx_order,
              ev.created_at, ev.creator, ev."owner", ev.revision, ev.payload
         FROM unnest($1::text[], $2::numeric[], $3::int[]) WITH ORDINALITY u(id, pos, off, n)
        CROSS JOIN LATERAL (
              SELECT e.instance_id, e.aggregate_type, e.aggregate_id, e.event_type, e."sequence"::text AS sequence, e."position"::text AS position,
                     e."position" AS pos_n, e."sequence" AS seq_n, e.in_tx_order,
                     to_char(e.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS created_at, e.creator, e."owner", e.revision, e.payload
                FROM eventstore.events2 e
               WHERE e.instance_id = u.id AND e.aggregate_type = ANY($4::text[]) AND e.event_type = ANY($5::text[])
                 AND e."position" >= u.pos AND e."position" <= $6::numeric
               -- e."position": the column (numeric), not the output column of that name (text).
               -- ZITADEL orders by position and in_tx_order; two pushes can share a position (two
               -- transactions in one microsecond), so the event's key breaks ties: the offset
               -- of a checkpoint then always counts the same events.
               ORDER BY e."position", e.in_tx_order, e.aggregate_type, e.aggregate_id, e."sequence"
              OFFSET u.off LIMIT $7) ev
        ORDER BY u.n, ev.pos_n, ev.in_tx_order, ev.aggregate_type, ev.aggregate_id, ev.seq_n`,
      [
        units.map((u) => u.instance),
        units.map((u) => u.cp?.position ?? '0'),
        units.map((u) => u.cp?.offset ?? 0),
        this.filter.aggregateTypes,
        this.filter.eventTypes,
        bound,
        limit,
      ],
    );
    const out = new Map<string, EventRow[]>(units.map((u) => [u.instance, []]));
    for (const r of rows) out.get(r.instance_id)!.push(r);
    return out;
  }

  /**
   * What a batch works on: the units locked (ZITADEL's lock and checkpoint row), those past
   * the bound left out, and the next events of the others. `busy` when a checkpoint row is
   * locked by someone else (the transaction is then aborted).
   */
  private async claim(
    tx: Session,
    instances: readonly string[],
    bound: string,
    limit: number,
    stopped?: () => boolean,
  ): Promise<{ busy: true } | { busy: false; skipped: Map<string, 'locked' | 'caught-up'>; units: Unit[] }> {
    const locks = await this.lockUnits(tx, instances);
    stopIf(stopped);
    if (!locks) return { busy: true };
    const skipped = new Map<string, 'locked' | 'caught-up'>();
    const open: Array<{ instance: string; cp: Cursor | undefined }> = [];
    for (const instance of instances) {
      const u = locks.get(instance)!;
      if (!u.ok) skipped.set(instance, 'locked');
      // Past the bound: caught up. At the bound, the rest of the last push may be left (offset).
      else if (u.cp && compareNumeric(u.cp.position, bound) > 0) skipped.set(instance, 'caught-up');
      else open.push({ instance, cp: u.cp });
    }
    const events = open.length > 0 ? await this.readEvents(tx, open, bound, limit) : new Map<string, EventRow[]>();
    stopIf(stopped);
    return { busy: false, skipped, units: open.map((u) => ({ ...u, events: events.get(u.instance)! })) };
  }

  /**
   * The units' events folded and written with their checkpoints, in one message (values
   * inlined as literals). False when they cannot be (a reducer threw, a change conflicts,
   * the data breaks a constraint): then nothing of them is written.
   */
  private async writeFolded(tx: Session, units: readonly Unit[], stopped?: () => boolean): Promise<boolean> {
    // Folded and written a part at a time: the server writes one part while the next is
    // folded here. Each message goes once the one before it is done; after an error, none.
    let failed: { err: unknown } | undefined;
    let sent: Promise<void> = Promise.resolve();
    const send = (script: string) => {
      sent = sent.then(() => (failed ? undefined : tx.exec(script))).catch((err: unknown) => void (failed ??= { err }));
    };
    const settle = async (): Promise<boolean> => {
      await sent;
      if (!failed) return true;
      if (!eventsFault(failed.err)) throw failed.err;
      await tx.query('ROLLBACK TO SAVEPOINT zsetup_batch', []);
      return false;
    };
    send('SAVEPOINT zsetup_batch');
    try {
      for (const part of parts(units)) {
        const folded = await this.fold(part, stopped);
        if (folded === undefined) {
          // A reducer threw or a change conflicts: what was sent is undone (the caller goes event by event).
          if (await settle()) await tx.query('ROLLBACK TO SAVEPOINT zsetup_batch', []);
          return false;
        }
        // A stop that came while folding: nothing more is sent (the batch rolls back).
        stopIf(stopped);
        if (failed) break;
        if (folded.length > 0) send(folded.map(inline).join(';\n'));
      }
    } catch (err) {
      await sent;
      throw err;
    }
    send(`${inline(this.cursorStatement(units.map((u) => ({ instance: u.instance, cp: u.cp, done: u.events }))))};\nRELEASE SAVEPOINT zsetup_batch`);
    return settle();
  }

  /**
   * One batch of `instance`, up to `limit` events, in the transaction `tx` (open): lock,
   * checkpoint, events, reduce, write, checkpoint. The caller commits (or rolls back).
   */
  async batch(tx: Session, instance: string, bound: string, limit: number, stopped?: () => boolean): Promise<BatchOutcome> {
    const c = await this.claim(tx, [instance], bound, limit, stopped);
    if (c.busy || c.skipped.get(instance) === 'locked') return { kind: 'locked' };
    const unit = c.units[0];
    if (!unit || unit.events.length === 0) return { kind: 'caught-up' };
    const { cp, events } = unit;
    if (this.mode !== 'per-event' && (await this.writeFolded(tx, [unit], stopped))) return { kind: 'done', events: events.length, full: events.length === limit, failed: [] };
    // ZITADEL's way, one event at a time: the reference loop, or finding the event that failed.
    const failed: FailedEvent[] = [];
    const applied = await this.perEvent(tx, events, failed);
    if (applied === 0) return { kind: 'done', events: 0, full: false, failed };
    const st = this.cursorStatement([{ instance, cp, done: events.slice(0, applied) }]);
    await tx.query(st.sql, st.params);
    return { kind: 'done', events: applied, full: events.length === limit && applied === events.length, failed };
  }

  /**
   * One batch over several small units (instances with few events each, up to `limit` each):
   * one transaction, one lock query, one read, one fold, one message of writes and
   * checkpoints, instead of one of each per instance. A unit locked by someone else is left
   * out. `split` when the batch cannot be written as folded statements (a reducer threw, a
   * change conflicts, the data violates a constraint, a checkpoint row is locked): nothing of
   * it is written, and the caller runs its units one by one (batch()), where failing events
   * are found and counted.
   */
  async batchMany(tx: Session, instances: readonly string[], bound: string, limit: number, stopped?: () => boolean): Promise<ManyOutcome> {
    const c = await this.claim(tx, instances, bound, limit, stopped);
    if (c.busy) return { kind: 'split' };
    const withEvents = c.units.filter((u) => u.events.length > 0);
    if (withEvents.length > 0 && (this.mode === 'per-event' || !(await this.writeFolded(tx, withEvents, stopped)))) return { kind: 'split' };
    const result: ManyOutcome = { kind: 'done', events: 0, units: new Map() };
    for (const [instance, kind] of c.skipped) result.units.set(instance, { kind, events: 0 });
    for (const u of c.units) {
      result.units.set(u.instance, { kind: u.events.length === limit ? 'more' : 'caught-up', events: u.events.length });
      result.events += u.events.length;
    }
    return result;
  }

  /** The batch's changes folded, or undefined when a reducer threw or a change conflicts (the per-event path decides). */
  private async fold(events: readonly EventRow[], stopped?: () => boolean): Promise<Statement[] | undefined> {
    const folder = new Folder(this.tables);
    try {
      for (let i = 0; i < events.length; i++) {
        // Let the other workers' I/O and a stop in every so often (a big batch folds for tens of ms).
        if (i > 0 && i % FOLD_SLICE === 0) {
          await new Promise((r) => setImmediate(r));
          stopIf(stopped);
        }
        for (const c of this.reduce(events[i]!)) folder.add(c);
      }
    } catch (err) {
      if (err instanceof ReducerError || err instanceof FoldConflict) return undefined;
      throw err;
    }
    return folder.flush();
  }

  private reduce(e: EventRow): Change[] {
    const reducer = this.reducers[e.aggregate_type]?.[e.event_type];
    if (!reducer) return [];
    let out: ReturnType<typeof reducer>;
    try {
      out = reducer(toStored(e));
    } catch (err) {
      throw new ReducerError(err);
    }
    return out === undefined || out === null ? [] : Array.isArray(out) ? (out as Change[]) : [out as Change];
  }

  /**
   * ZITADEL's way: each event's statements under a savepoint. A failing event is counted in
   * failed_events2; below the maximum the batch ends before it (the next batch tries it
   * again), at the maximum it is skipped. How many events were applied (or skipped).
   */
  private async perEvent(tx: Session, events: readonly EventRow[], failed: FailedEvent[]): Promise<number> {
    const max = this.options.maxFailureCount ?? MAX_FAILURE_COUNT;
    for (let i = 0; i < events.length; i++) {
      const e = events[i]!;
      let error: unknown;
      let changes: Change[] = [];
      try {
        changes = this.reduce(e);
      } catch (err) {
        error = err instanceof ReducerError ? err.cause : err;
      }
      // ZITADEL's handler (executeStatement): one savepoint per event, over all its statements;
      // a failing statement rolls back the event's earlier ones too. ZITADEL never releases it
      // (the reference does the same); the search for a failing event does.
      if (error === undefined && changes.length > 0) {
        await tx.query('SAVEPOINT exec_stmt', []);
        try {
          for (const c of changes) {
            const st = changeStatement(this.tables, c);
            await tx.query(st.sql, st.params);
          }
          if (this.mode !== 'per-event') await tx.query('RELEASE SAVEPOINT exec_stmt', []);
        } catch (err) {
          if (!eventsFault(err)) throw err;
          await tx.query('ROLLBACK TO SAVEPOINT exec_stmt', []);
          error = err;
        }
      }
      if (error === undefined) continue;
      const count = await this.countFailure(tx, e, error);
      const skipped = count >= max;
      failed.push({ instanceId: e.instance_id, aggregateType: e.aggregate_type, aggregateId: e.aggregate_id, sequence: Number(e.sequence), eventType: e.event_type, error: messageOf(error), failureCount: count, skipped });
      if (!skipped) return i;
    }
    return events.length;
  }

  private async countFailure(tx: Session, e: EventRow, error: unknown): Promise<number> {
    const [r] = await tx.query<{ n: number }>(
      `INSERT INTO projections.failed_events2 (projection_name, instance_id, aggregate_type, aggregate_id, event_creation_date, failed_sequence, failure_count, error, last_failed)
       VALUES ($1, $2, $3, $4, $5, $6::bigint, 1, $7, now())
       ON CONFLICT (projection_name, instance_id, aggregate_type, aggregate_id, failed_sequence)
       DO UPDATE SET failure_count = coalesce(failed_events2.failure_count, 0) + 1, error = excluded.error, last_failed = excluded.last_failed
       RETURNING failure_count AS n`,
      [this.projection.name, e.instance_id, e.aggregate_type, e.aggregate_id, e.created_at, e.sequence, messageOf(error)],
    );
    return Number(r?.n ?? 1);
  }

  /** The checkpoint of each unit's last applied event, in ZITADEL's format (position and filter_offset): one statement. */
  private cursorStatement(units: ReadonlyArray<{ instance: string; cp: Cursor | undefined; done: readonly EventRow[] }>): Statement {
    const params: unknown[] = [this.projection.name];
    const values = units.map(({ instance, cp, done }) => {
      const last = done[done.length - 1]!;
      let atLast = 0;
      for (let i = done.length - 1; i >= 0 && compareNumeric(done[i]!.position, last.position) === 0; i--) atLast++;
      const offset = cp && compareNumeric(cp.position, last.position) === 0 ? cp.offset + atLast : atLast;
      const n = params.push(instance, last.aggregate_id, last.aggregate_type, last.sequence, last.created_at, last.position, offset);
      return `($1, $${n - 6}, $${n - 5}, $${n - 4}, $${n - 3}::bigint, $${n - 2}::timestamptz, $${n - 1}::numeric, statement_timestamp(), $${n}::integer)`;
    });
    return {
      sql: `INSERT INTO projections.current_states (projection_name, instance_id, aggregate_id, aggregate_type, "sequence", event_date, "position", last_updated, filter_offset)
       VALUES ${values.join(', ')}
       ON CONFLICT (projection_name, instance_id) DO UPDATE SET
         aggregate_id = excluded.aggregate_id, aggregate_type = excluded.aggregate_type, "sequence" = excluded."sequence",
         event_date = excluded.event_date, "position" = excluded."position", last_updated = excluded.last_updated, filter_offset = excluded.filter_offset`,
      params,
    };
  }
}

/** Events per part of a batch that is folded and sent on its own (see writeFolded). */
const PART = 2000;

/**
 * A batch's events in parts of about PART events, in order: whole units together while they
 * fit, a big unit's events cut in slices (each slice folds on its own: the next one's
 * statements run after it, as the next batch's would).
 */
function* parts(units: readonly Unit[]): Generator<EventRow[]> {
  let part: EventRow[] = [];
  for (const u of units) {
    if (part.length > 0 && part.length + u.events.length > PART) {
      yield part;
      part = [];
    }
    for (let i = 0; i < u.events.length; i += PART) {
      const slice = u.events.slice(i, i + PART);
      if (part.length === 0 && slice.length === PART) yield slice;
      else part.push(...slice);
    }
  }
  if (part.length > 0) yield part;
}

/**
 * An error an event's own changes caused (its data: class 22, a constraint: 23, a statement
 * that does not fit the table: 42), to be found and counted as a failed event. Anything else
 * (a stop's cancel, a lost connection or lock, a deadlock, no memory) is the batch's, not an
 * event's: it ends the batch, which rolls back and is run again later.
 */
function eventsFault(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'string' && /^(22|23|42)/.test(code);
}

/** The run stopped while a batch was being prepared: it is not written (its transaction rolls back). */
export class PrefillStopped extends Error {
  constructor() {
    super('prefill stopped: the batch in progress was not written');
    this.name = 'PrefillStopped';
  }
}

function stopIf(stopped: (() => boolean) | undefined): void {
  if (stopped?.()) throw new PrefillStopped();
}

class ReducerError extends Error {
  constructor(cause: unknown) {
    super(messageOf(cause), { cause });
    this.name = 'ReducerError';
  }
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function toStored(e: EventRow): StoredEvent {
  return {
    instanceId: e.instance_id,
    aggregateType: e.aggregate_type,
    aggregateId: e.aggregate_id,
    eventType: e.event_type,
    sequence: Number(e.sequence),
    position: e.position,
    inTxOrder: e.in_tx_order,
    createdAt: new EventTime(e.created_at),
    creator: e.creator,
    owner: e.owner,
    revision: e.revision,
    payload: e.payload ?? null,
  };
}

/** Compare two non-negative decimal numbers given as text. */
export function compareNumeric(a: string, b: string): number {
  const [ai = '0', af = ''] = a.split('.');
  const [bi = '0', bf = ''] = b.split('.');
  const ia = ai.replace(/^0+(?=\d)/, '');
  const ib = bi.replace(/^0+(?=\d)/, '');
  if (ia.length !== ib.length) return ia.length < ib.length ? -1 : 1;
  if (ia !== ib) return ia < ib ? -1 : 1;
  const n = Math.max(af.length, bf.length);
  const fa = af.padEnd(n, '0');
  const fb = bf.padEnd(n, '0');
  return fa === fb ? 0 : fa < fb ? -1 : 1;
}

/** The next batch size: grow while batches are quick, shrink when one is slow. */
function adapt(limit: number, tookMs: number): number {
  if (tookMs > 2 * BATCH_TARGET_MS) return Math.max(100, Math.floor(limit / 2));
  if (tookMs < BATCH_TARGET_MS / 2) return Math.min(MAX_BATCH, limit * 2);
  return limit;
}


/** Run a prefill: workers over the instances, until each is caught up to the bound or the run stops. */
export async function runPrefill(
  ctx: StepContext,
  projection: ProjectionSpec,
  o: { workers?: number; mode?: 'folded' | 'per-event'; onFailed?: (f: FailedEvent) => void; joining?: boolean } = {},
): Promise<{ events: number; instances: number; failed: FailedEvent[]; ms: number }> {
  const t0 = performance.now();
  const prefill = new Prefill(projection, { mode: o.mode });
  // Tables first (ZITADEL's projection_tables does it for its projections); a process that
  // joins works to the holder's bound, with the holder's tables.
  const saved = ctx.checkpoint as { bound?: string; total?: number } | undefined;
  if (o.joining && typeof saved?.bound !== 'string') return { events: 0, instances: 0, failed: [], ms: 0 };
  if (!o.joining) {
    await ctx.transaction(async (tx) => {
      await tx.exec(STATE_TABLES_DDL);
      await tx.exec(tablesDdl(projection.tables));
    });
    const analyzed = await analyzeEvents(ctx);
    if (analyzed) ctx.log(analyzed);
  }
  const { bound, instances } = await ctx.transaction(async (tx) => {
    const b = typeof saved?.bound === 'string' ? saved.bound : await prefill.bound(tx);
    return { bound: b, instances: await Prefill.instances(tx, b) };
  });
  // What is left per unit (the holder's progress, and which units are small enough to share
  // a batch); a joiner does not count. The total is the first run's (kept in the checkpoint),
  // so a resumed step shows how far the whole is.
  const remaining = instances.length > 0 && !o.joining ? await ctx.transaction((tx) => prefill.remaining(tx, instances, bound)) : new Map<string, number>();
  let left = 0;
  for (const n of remaining.values()) left += n;
  const total = typeof saved?.total === 'number' && saved.total >= left ? saved.total : left;
  let done = total - left;
  const startDone = done;
  ctx.progress({ done, total });
  const poolMax = ctx.config.database.pool.max;
  const workers = Math.max(1, Math.min(o.workers ?? ctx.config.apply.prefillWorkers ?? Math.floor(poolMax / 4), Math.max(1, instances.length)));
  const failed: FailedEvent[] = [];
  let lastSave = performance.now();
  const save = async () => {
    lastSave = performance.now();
    await ctx.transaction((tx) => ctx.saveCheckpoint(tx, { bound, total }, { done, total }));
  };
  await save();
  // A stop ends the batches in progress (PrefillStopped: nothing of them written); what was
  // done is still counted (a joiner logs it; the engine records a stopped step interrupted).
  await drain(prefill, instances, o.joining ? undefined : remaining, bound, workers, {
    transaction: (fn) => ctx.transaction(fn),
    stopped: () => ctx.signal.aborted,
    async batchDone(events, f) {
      done += events;
      for (const x of f) {
        failed.push(x);
        o.onFailed?.(x);
      }
      ctx.progress({ done: Math.min(done, total), total });
      if (performance.now() - lastSave > 1000) await save();
    },
  }).catch((err: unknown) => {
    if (!(err instanceof PrefillStopped)) throw err;
  });
  if (!ctx.signal.aborted) await save();
  return { events: done - startDone, instances: instances.length, failed, ms: performance.now() - t0 };
}

/**
 * The event table without planner statistics (never analyzed, or more rows changed since than
 * it had then: events loaded into a new database, a restore, a copy) is analyzed first: without them
 * the planner scans instead of using ZITADEL's indexes, and counting and reading the events
 * took 2-7x longer (measured on 320k events: what is left 489 ms -> 65 ms, batches 11k -> 20k
 * events/s). ANALYZE reads a sample (30,000 rows by default), not the table; it needs the
 * table's owner, and without that the prefill goes on as it is. Returns what to log.
 */
async function analyzeEvents(ctx: StepContext): Promise<string | undefined> {
  const [st] = await ctx.transaction((tx) =>
    tx.query<{ stale: boolean }>(
      `SELECT NOT EXISTS (SELECT 1 FROM pg_stats WHERE schemaname = 'eventstore' AND tablename = 'events2')
              OR coalesce(s.n_mod_since_analyze, 0) > greatest(c.reltuples, 0) AS stale
         FROM pg_class c LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
        WHERE c.oid = to_regclass('eventstore.events2')`,
      [],
    ),
  );
  if (!st?.stale) return undefined;
  const t = performance.now();
  try {
    await ctx.transaction((tx) => tx.exec('ANALYZE eventstore.events2'));
  } catch (err) {
    return `eventstore.events2 has no planner statistics and could not be analyzed (${messageOf(err)}): the prefill reads it more slowly; an owner of the table can run ANALYZE eventstore.events2`;
  }
  return `eventstore.events2 had no planner statistics: analyzed it first (${Math.round(performance.now() - t)} ms)`;
}

/** What the workers of drain() need from their caller. */
export interface DrainHost {
  transaction<T>(fn: (tx: Session) => Promise<T>): Promise<T>;
  stopped(): boolean;
  /** After each committed batch: events applied (or skipped), and the events that failed in it. */
  batchDone(events: number, failed: readonly FailedEvent[]): Promise<void> | void;
}

/** At most this many units in one batch of small units. */
const MAX_UNITS_PER_BATCH = 200;

/**
 * `workers` loops over the units (instances) until each is caught up to the bound, locked by
 * someone else until the end, or the host stops. A unit with fewer events left than half a
 * batch (`remaining`, from the counts at the start) goes in one batch with other small units
 * (batchMany); a big one has batches of its own (batch()), whose size adapts so one takes
 * ~300 ms. A unit someone else holds (a running ZITADEL, another zsetup) is tried again once
 * the others are done.
 */
export async function drain(
  prefill: Prefill,
  instances: readonly string[],
  /** Events left per unit at the start (units not in it have none); undefined: not known, no unit shares a batch. */
  remaining: ReadonlyMap<string, number> | undefined,
  bound: string,
  workers: number,
  host: DrainHost,
  /** A fixed batch size (ZITADEL's BulkLimit, for the reference loop) instead of the adaptive one. */
  fixedLimit?: number,
): Promise<void> {
  // A process that joins starts at another place in the list than the one it joins (and
  // than other joiners): the processes then mostly take units nobody holds.
  const at = remaining === undefined ? Math.floor(Math.random() * instances.length) : 0;
  const queue = [...instances.slice(at), ...instances.slice(0, at)];
  let waiting = 0;
  let halted: { err: unknown } | undefined;
  const stopped = () => host.stopped() || halted !== undefined;
  // The batch size is shared: small units are packed up to it, and big units' batches adapt it.
  let limit = fixedLimit ?? FIRST_BATCH;
  const nextLimit = (l: number, ms: number) => (fixedLimit ? l : adapt(l, ms));
  // Events left per unit (an estimate: the counts at the start, less what was done since).
  const rest = new Map(remaining);
  const left = (id: string) => rest.get(id) ?? 0;
  const took = (id: string, events: number) => rest.set(id, Math.max(0, left(id) - events));
  // ZITADEL's loop (the reference) goes one unit at a time.
  const pack = prefill.mode !== 'per-event' && remaining !== undefined;
  const worker = async () => {
    while (!stopped()) {
      const first = queue.shift();
      if (first === undefined) return;
      const group = [first];
      if (pack && left(first) < limit / 2) {
        let sum = left(first);
        while (group.length < MAX_UNITS_PER_BATCH && queue.length > 0 && sum + left(queue[0]!) <= limit) {
          sum += left(queue[0]!);
          group.push(queue.shift()!);
        }
      }
      if (group.length > 1) {
        const t = performance.now();
        const r = await host.transaction((tx) => prefill.batchMany(tx, group, bound, limit, stopped));
        if (r.kind === 'done') {
          limit = nextLimit(limit, performance.now() - t);
          for (const [id, u] of r.units) {
            took(id, u.events);
            if (u.kind === 'more') queue.unshift(id);
            else if (u.kind === 'locked') queue.push(id); // someone else holds it: later
          }
          await host.batchDone(r.events, []);
          if (r.units.size > 0 && [...r.units.values()].every((u) => u.kind === 'locked')) await backoff();
          continue;
        }
      }
      // One unit at a time (a big unit, or the units of a batch that had to be split).
      for (const id of group) {
        for (;;) {
          if (stopped()) return;
          const t = performance.now();
          const r = await host.transaction((tx) => prefill.batch(tx, id, bound, limit, stopped));
          if (r.kind === 'locked') {
            queue.push(id);
            await backoff();
            break;
          }
          if (r.kind === 'caught-up') break;
          limit = nextLimit(limit, performance.now() - t);
          took(id, r.events);
          await host.batchDone(r.events, r.failed);
          // Fewer events than asked for, none left to try again: the unit is caught up.
          if (!r.full && !r.failed.some((f) => !f.skipped)) break;
        }
      }
    }
  };
  /** Everyone left holds a unit someone else has: wait a little before asking again. */
  const backoff = async () => {
    waiting++;
    if (waiting > queue.length * 4) await new Promise((res) => setTimeout(res, 50));
  };
  // The first error stops the other workers at their next check; drain returns once all have.
  await Promise.all(Array.from({ length: workers }, () => worker().catch((err: unknown) => void (halted ??= { err }))));
  if (halted) throw halted.err;
}
