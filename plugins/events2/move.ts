/**
 * The move of ZITADEL's legacy event table (`eventstore.events`) to its events2 layout, as
 * step 14_events_push does, but in resumable units (issue 12):
 *
 * 1. **copy**: into `eventstore.events2_move` (made like events2, NOT NULL where events2 has
 *    it: a column constraint checked per row costs less than ZITADEL's scan to add it), in
 *    heap-page ranges of the legacy table (TID range scans). The ranges are small units
 *    listed in a table; a batch claims a few consecutive ones (FOR UPDATE SKIP LOCKED), copies
 *    them and marks them done in one transaction with the checkpoint, so a unit is never
 *    copied twice nor skipped; the number claimed adapts so that a batch takes about
 *    BATCH_TARGET_MS. Two sessions copy at once, and a waiting apply joins. The legacy table
 *    stays where it is and writable meanwhile (binaries from before events2 keep working): the
 *    units copy only the rows the copy's first snapshot saw (by their xmin), so what they copy
 *    does not depend on when writers wrote.
 * 2. **indexes**: the primary key's unique index and ZITADEL's three indexes on the new table
 *    while nobody uses it, built at once in their own sessions (plain CREATE INDEX: they share
 *    the table), each sorting in a small memory (sortMemory). Each is skipped when present
 *    and valid, dropped and built again when INVALID.
 * 3. **verify**: per instance (a range of the key), the row count and a checksum of the key
 *    columns of the legacy pages copied (read beside a copy this run starts, else beside the
 *    builds) and of the copy (beside the builds), each by a session of its own; a
 *    mismatch fails the step, naming the instance and the first differing key in key order
 *    with its legacy page, and the next run copies that instance again before verifying.
 * 4. **switch**, one short transaction: lock the legacy table against writes, copy every row
 *    the units did not take (appended since, or written by a newer transaction into a page
 *    with room), rename `events` to `events_old` and `events2_move` to `events2`, attach the key.
 *    `events_old` is never dropped here (see the events2.drop-old step).
 *
 * Skipped when events2 exists and no legacy table does (a new installation, or a move done).
 */
import type { Session, StepContext } from 'zsetup/plugin';

/** What a checkpoint says: the phase, and for the copy the next page of the legacy table. */
export interface MoveCheckpoint {
  phase: 'copy' | 'indexes' | 'verify' | 'switch';
  /** Where the copy's page ranges end: pages from here on are copied by the switch. */
  page: number;
  /** The legacy table's pages when the copy started (its total, for progress). */
  pages: number;
  /**
   * The copy's snapshot when it started (xids as text, modulo 2^32): `xmax`, the first xid not
   * yet assigned, and `xip`, the transactions then running. A legacy row written by one of
   * them or later is "new" and copied by the switch; the units copy only the rows that snapshot
   * saw, so what they copy does not depend on when writers wrote.
   */
  xmax: string;
  xip: string[];
  /** verify: instances whose events are copied again before the next verification. */
  repair?: string[];
  /** switch: the rows the verification found in the copy (the switch adds the tail's). */
  rows?: number;
}

const LEGACY = 'eventstore.events';
const BUILD = 'eventstore.events2_move';
const UNITS = 'eventstore.events2_move_units';
/** Pages per unit: the grain of a claim (a batch takes several), about 10 ms of copying here. */
const UNIT_PAGES = 128;
/**
 * What a batch aims at; the bound is about 200 ms (a stop cancels the batch in flight). 150 ms
 * gave a p95 of 224 ms beside other work; at 100 ms the commits (not waited for) cost nothing measurable.
 */
const BATCH_TARGET_MS = 100;
/** Units per batch at most (a slow start never claims half the table). */
const MAX_UNITS_PER_BATCH = 64;
/** How often the copy and the index builds log their rows, rate and ETA. */
const REPORT_MS = 5000;
/** The switch waits this long for writers of the legacy table, then lets them go and tries again. */
const SWITCH_LOCK_TIMEOUT = '3s';
const SWITCH_ATTEMPTS = 5;

/** The units of the copy: page ranges of the legacy table, claimed by row locks, marked done with their copy. */
const UNITS_DDL = `CREATE TABLE ${UNITS} (unit INT PRIMARY KEY, first_page BIGINT NOT NULL, end_page BIGINT NOT NULL, done BOOLEAN NOT NULL DEFAULT false)`;

/** The columns of events2 from the legacy ones (ZITADEL's 14/02_create_and_fill_events2.sql). */
const SELECT = `instance_id, aggregate_type, aggregate_id, event_type, event_sequence, substr(aggregate_version, 2)::SMALLINT, creation_date, event_data,
       editor_user, resource_owner, EXTRACT(EPOCH FROM creation_date), event_sequence`;
const COLUMNS = ['instance_id', 'aggregate_type', 'aggregate_id', 'event_type', '"sequence"', 'revision', 'created_at', 'payload', 'creator', '"owner"', '"position"', 'in_tx_order'];
const KEY = 'instance_id, aggregate_type, aggregate_id, "sequence"';

/** events2 as ZITADEL's CREATE TABLE AS makes it (types from the legacy columns), with its NOT NULLs. */
const BUILD_DDL = `CREATE TABLE IF NOT EXISTS ${BUILD} (
    instance_id TEXT NOT NULL, aggregate_type TEXT NOT NULL, aggregate_id TEXT NOT NULL,
    event_type TEXT NOT NULL, "sequence" BIGINT NOT NULL, revision SMALLINT NOT NULL, created_at TIMESTAMPTZ NOT NULL,
    payload JSONB, creator TEXT NOT NULL, "owner" TEXT NOT NULL,
    "position" NUMERIC NOT NULL, in_tx_order BIGINT NOT NULL)`;

/** ZITADEL's key and indexes of events2 (14/03, 14/05): name, and CREATE statement for a table. */
const INDEXES: Array<{ name: string; ddl: (table: string) => string }> = [
  { name: 'events2_pkey', ddl: (t) => `CREATE UNIQUE INDEX events2_pkey ON ${t} (${KEY})` },
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

/** The legacy table's size in pages now, and its row estimate (from its statistics). */
async function sizeOf(q: Pick<Session, 'query'> | StepContext): Promise<{ pages: number; rows: number }> {
  const [r] = await q.query<{ n: string; rows: string }>(
    `SELECT (pg_relation_size('${LEGACY}') / current_setting('block_size')::int)::bigint AS n, greatest(reltuples, 0)::bigint AS rows FROM pg_class WHERE oid = '${LEGACY}'::regclass`,
  );
  return { pages: Number(r!.n), rows: Number(r!.rows) };
}

const tid = (page: number) => `'(${page},0)'::tid`;
/** Rows of the legacy table the copy's first snapshot saw (see MoveCheckpoint.xmax): age() compares xids across wraparound. */
const older = (cp: Pick<MoveCheckpoint, 'xmax' | 'xip'>) =>
  `(age(xmin) > age('${Number(cp.xmax)}'::xid)${cp.xip.length ? ` AND NOT xmin = ANY('{${cp.xip.map(Number).join(',')}}'::xid[])` : ''})`;
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const secs = (ms: number) => (ms < 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 1000)} s`);

export interface MoveOptions {
  /** Pages of the legacy table per unit (default UNIT_PAGES). */
  readonly unitPages?: number | undefined;
  /** Sessions copying at once (default 2). */
  readonly workers?: number | undefined;
  /** `maintenance_work_mem` of each index build, a PostgreSQL memory size ('64MB'); default: sortMemory() of the copy. */
  readonly buildMemory?: string | undefined;
  /** How often the copy and the builds log their progress, ms (default REPORT_MS). */
  readonly reportMs?: number | undefined;
}

/** A PostgreSQL memory size as the move's `buildMemory` takes it. */
export const MEMORY_SIZE = /^[1-9][0-9]*(kB|MB|GB)$/;

/** The merge of a sort's runs reads each through a buffer of this much (PostgreSQL's tuplesort: 32 pages + 1). */
const MERGE_BUFFER = 264 * 1024;
/**
 * `maintenance_work_mem` for each of the four builds, from the copy's size: the least that
 * still merges the sort's runs in one pass (runs of M bytes, M / MERGE_BUFFER merged at once: M
 * >= sqrt(sorted bytes x MERGE_BUFFER); the index tuples are taken as half the heap), and at
 * least 8 MB. Measured (2,000,000 events, 564 MB copy, four builds at once, 2 vCPU): 2-16 MB
 * 13.3-17.0 s, the server's 64 MB (which also gives each build a parallel worker) 17.3-20.8 s:
 * a sort's runs that fit the CPU's cache are faster to make than the extra merging costs, and
 * below 32 MB a participant the server adds no parallel worker (four builds fill the CPUs).
 */
export function sortMemory(heapBytes: number): string {
  const onePass = Math.sqrt((heapBytes / 2) * MERGE_BUFFER);
  return `${Math.max(8, Math.ceil(onePass / 2 ** 20))}MB`;
}

/** Move the legacy events (see the module comment). Resumes from ctx.checkpoint. */
export async function moveEvents(ctx: StepContext, o: MoveOptions = {}): Promise<MoveResult> {
  const t0 = performance.now();
  const e = await exists(ctx);
  let cp = ctx.checkpoint as MoveCheckpoint | undefined;
  let first: MoveCheckpoint | undefined;
  if (!e.legacy && e.events2) return { skipped: e.old ? 'already moved (events2 and events_old exist)' : 'events2 exists and no legacy eventstore.events: nothing to move (a new installation)' };
  if (!e.legacy && !e.events2 && !e.build) return { skipped: 'no eventstore.events and no events2: nothing to move (ZITADEL\'s init creates events2)' };
  if (e.legacy && e.events2) {
    throw new Error('both eventstore.events and eventstore.events2 exist: events2 was made before the legacy events were moved (an init step ran on a legacy database?); move or rename one of them by hand after checking which holds the events');
  }

  if (!cp || !e.build || cp.xmax === undefined) {
    // The copy, its units and the checkpoint that says they exist: together, or none.
    const { pages } = await sizeOf(ctx);
    const unit = o.unitPages ?? UNIT_PAGES;
    await ctx.transaction(async (tx) => {
      const [x] = await tx.query<{ xmax: string; xip: string[] }>(
        `SELECT (pg_snapshot_xmax(s)::text::bigint % 4294967296)::text AS xmax, ARRAY(SELECT (x::text::bigint % 4294967296)::text FROM pg_snapshot_xip(s) x) AS xip FROM pg_current_snapshot() s`,
      );
      first = { phase: 'copy', page: pages, pages, xmax: x!.xmax, xip: x!.xip };
      await tx.exec(`DROP TABLE IF EXISTS ${BUILD}, ${UNITS}; ${BUILD_DDL}; ${UNITS_DDL};
        INSERT INTO ${UNITS} (unit, first_page, end_page) SELECT g / ${unit}, g, least(g + ${unit}, ${pages}) FROM generate_series(0, ${pages} - 1, ${unit}) g`);
      await ctx.saveCheckpoint(tx, first, { done: 0, total: pages });
    });
    cp = first!;
  }

  const lap = (what: string, since: number) => ctx.log(`${what} in ${((performance.now() - since) / 1000).toFixed(2)} s`);
  const next = async (phase: MoveCheckpoint['phase'], extra: Partial<MoveCheckpoint> = {}) => {
    const to: MoveCheckpoint = { phase, page: cp!.page, pages: cp!.pages, xmax: cp!.xmax, xip: cp!.xip, ...extra };
    await ctx.transaction((tx) => ctx.saveCheckpoint(tx, to, { done: to.pages, total: to.pages }));
    cp = to;
  };
  /** A verification's outcome: on to the switch, or the step fails and the next run copies the instance again. */
  const verified = async (v: Verification) => {
    if ('rows' in v) return next('switch', { rows: v.rows });
    // The next run copies this instance again, then verifies: never an operator's repair.
    await next('verify', { repair: v.instances });
    throw new Error(`${v.message}. Nothing was switched; eventstore.events is untouched. The next apply copies the events of ${v.instances.length > 1 ? 'these instances' : 'this instance'} again and verifies once more`);
  };
  /** The legacy side of the verification, when read beside this run's copy. */
  let legacySide: Sum[] | undefined;
  if (cp.phase === 'copy') {
    const t = performance.now();
    // The legacy side of the verification depends only on the copy's snapshot and bound, fixed
    // now: read beside a copy this run starts, which leaves part of the CPU idle (WAL), instead
    // of beside the builds, which use it all. A resumed copy (what is left of it may be short)
    // does not wait for it: the verification reads it then.
    const read: Reading = {};
    // Failed or dropped: undefined, and the verification reads it itself.
    const reading = first === undefined ? undefined : legacySums(ctx, cp, read).catch(() => undefined);
    /** A stop or a failure does not wait for the read: it is not sent, or cancelled while it runs. */
    const dropRead = async () => {
      read.halted = true;
      await read.running?.cancel?.().catch(() => undefined);
      await reading;
    };
    let s: CopyStats;
    try {
      s = await copyUnits(ctx, cp, o.workers ?? 2, o.reportMs ?? REPORT_MS);
    } catch (err) {
      await dropRead();
      throw err;
    }
    // A stop (a deadline's too, which cancels nothing at once) ends the read with the copy.
    if (ctx.signal.aborted) {
      await dropRead();
      return {};
    }
    legacySide = await reading;
    lap(`copied ${fmt(cp.pages)} pages (${fmt(s.rows)} rows in this run) in ${fmt(s.batches.length)} batches of p50 ${pct(s.batches, 0.5)} ms, p95 ${pct(s.batches, 0.95)} ms, max ${pct(s.batches, 1)} ms,`, t);
    await next('indexes');
  }
  // A switch checkpoint without the verified count (an earlier version's): verify again.
  if (cp.phase === 'switch' && cp.rows === undefined) cp = { ...cp, phase: 'verify' };
  if (cp.phase === 'indexes' || cp.phase === 'verify') {
    // After a verification found a difference: that instance copied again first.
    if (cp.phase === 'verify' && cp.repair?.length) await repair(ctx, cp);
    // The builds (each skipped when valid) and the verification at once: the verification reads
    // the copy (and the legacy table, unless read beside the copy) while the builds wait on their
    // sorts' files and the WAL (measured: 0.4 s less than one after the other).
    const t = performance.now();
    const [built, checked] = await Promise.allSettled([buildIndexes(ctx, o), verify(ctx, cp, legacySide)]);
    // A difference wins over a failed build (a unique key that failed on rows copied twice).
    if (checked.status === 'fulfilled' && !('rows' in checked.value)) await verified(checked.value);
    if (built.status === 'rejected') throw built.reason;
    if (checked.status === 'rejected') throw checked.reason;
    lap('built the key and the indexes, and verified the copy,', t);
    ctx.signal.throwIfAborted();
    await verified(checked.value);
  }
  if (cp.phase !== 'switch' || cp.rows === undefined) throw new Error(`unknown checkpoint ${JSON.stringify(cp)}`);
  const ts = performance.now();
  const rows = await switchTables(ctx, cp, cp.rows);
  lap('switched', ts);
  return { rows, ms: performance.now() - t0 };
}

const pct = (xs: number[], p: number) => {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return Math.round(s[Math.min(s.length - 1, Math.ceil(p * s.length) - 1)]!);
};

interface CopyStats {
  /** Each batch's time, ms (claim to commit). */
  batches: number[];
  rows: number;
}

/**
 * One worker: claim up to `k` units nobody holds (FOR UPDATE SKIP LOCKED: a claim is a row
 * lock, released by the commit or by the death of its session), copy their pages, mark them
 * done, in one transaction; until no unit is left. `k` follows the batch's time, towards
 * BATCH_TARGET_MS. Only rows older than the copy (`older`) are copied. With `save`, each commit
 * also saves the step's checkpoint (the run that holds the lock); a joining process only copies.
 */
async function worker(ctx: StepContext, cp: MoveCheckpoint, save: boolean, stats: CopyStats, onBatch: (pages: number) => void): Promise<void> {
  let k = 1;
  for (;;) {
    if (ctx.signal.aborted) return;
    const t = performance.now();
    let pages = 0;
    await ctx.transaction(async (tx) => {
      // The commit does not wait for its WAL to reach the disk: a server crash loses the last
      // batches and their checkpoint together (WAL replays in order), so they are copied again.
      await tx.exec('SET LOCAL synchronous_commit = off');
      const us = await tx.query<{ unit: number; first_page: string; end_page: string }>(
        `SELECT unit, first_page, end_page FROM ${UNITS} WHERE NOT done ORDER BY unit LIMIT ${k} FOR UPDATE SKIP LOCKED`,
      );
      if (us.length === 0) return;
      // Consecutive units are one range (one TID range scan); another session's claim splits them.
      const runs: Array<[number, number]> = [];
      for (const u of us) {
        const last = runs.at(-1);
        if (last && last[1] === Number(u.first_page)) last[1] = Number(u.end_page);
        else runs.push([Number(u.first_page), Number(u.end_page)]);
      }
      ctx.signal.throwIfAborted();
      // The rows inserted, counted by the server (GET DIAGNOSTICS) and read back from a setting
      // of this transaction: RETURNING into a count cost 1-2 s of CPU more at 2,000,000 events.
      await tx.exec(
        `DO $zs$ DECLARE n bigint; total bigint := 0; BEGIN
         ${runs.map(([a, b]) => `INSERT INTO ${BUILD} SELECT ${SELECT} FROM ${LEGACY} WHERE ctid >= ${tid(a)} AND ctid < ${tid(b)} AND ${older(cp)}; GET DIAGNOSTICS n = ROW_COUNT; total := total + n;`).join('\n         ')}
         PERFORM set_config('zsetup.events2_copied', total::text, true); END $zs$`,
      );
      // The units marked done, and (one round trip) the count back: the same on each row.
      const [n] = await tx.query<{ n: string }>(
        `UPDATE ${UNITS} SET done = true WHERE unit IN (${us.map((u) => u.unit).join(', ')}) RETURNING current_setting('zsetup.events2_copied') AS n`,
      );
      if (save) {
        // The sessions' checkpoints one at a time, each counting the others' committed units: a
        // sum read before another session's commit would save a smaller count after it.
        await tx.query(`SELECT pg_advisory_xact_lock(hashtext('zsetup:events2.move checkpoint'))`);
        const [d] = await tx.query<{ n: string }>(`SELECT coalesce(sum(end_page - first_page), 0) AS n FROM ${UNITS} WHERE done`);
        await ctx.saveCheckpoint(tx, cp, { done: Number(d!.n), total: cp.pages });
      }
      pages = runs.reduce((a, [x, y]) => a + y - x, 0);
      stats.rows += Number(n!.n);
    });
    if (pages === 0) return;
    const ms = performance.now() - t;
    stats.batches.push(ms);
    onBatch(pages);
    // Towards the target, growing at most twofold (one quick batch is no promise).
    k = Math.max(1, Math.min(MAX_UNITS_PER_BATCH, 2 * k, Math.floor((k * BATCH_TARGET_MS) / Math.max(ms, 1))));
  }
}

/**
 * The copy by `workers` sessions at once, then a wait for units other processes still hold
 * (joiners: a blocking claim returns once their commit or death decides). Logs pages, rows,
 * rate and ETA every REPORT_MS.
 */
async function copyUnits(ctx: StepContext, cp: MoveCheckpoint, workers: number, reportMs: number): Promise<CopyStats> {
  const [d] = await ctx.query<{ n: string }>(`SELECT coalesce(sum(end_page - first_page), 0) AS n FROM ${UNITS} WHERE done`);
  let done = Number(d!.n);
  const { rows: estimate } = await sizeOf(ctx);
  const stats: CopyStats = { batches: [], rows: 0 };
  const start = { at: performance.now(), done };
  ctx.progress({ done, total: cp.pages });
  const onBatch = (pages: number) => ctx.progress({ done: (done += pages), total: cp.pages });
  const report = setInterval(() => {
    const ms = performance.now() - start.at;
    const rate = (done - start.done) / ms;
    const rowRate = (1000 * stats.rows) / ms;
    const eta = rate > 0 ? (cp.pages - done) / rate : NaN;
    ctx.log(
      `copy: ${fmt(done)}/${fmt(cp.pages)} pages (${Math.floor((100 * done) / Math.max(cp.pages, 1))}%), ${fmt(stats.rows)} rows in this run${estimate > 0 ? ` of about ${fmt(estimate)}` : ''}, ${fmt(rowRate)} rows/s, ETA ${Number.isFinite(eta) ? secs(eta) : '?'}`,
    );
  }, reportMs);
  report.unref();
  try {
    await Promise.all(Array.from({ length: Math.max(1, workers) }, () => worker(ctx, cp, true, stats, onBatch)));
    while (!ctx.signal.aborted) {
      const [left] = await ctx.query<{ n: string }>(`SELECT count(*) AS n FROM ${UNITS} WHERE NOT done`);
      if (Number(left!.n) === 0) break;
      // Held by another process: wait for its claim to end, then take what is left.
      await ctx.transaction(async (tx) => {
        await tx.query(`SELECT unit FROM ${UNITS} WHERE NOT done ORDER BY unit LIMIT 1 FOR UPDATE`);
      });
      await worker(ctx, cp, true, stats, onBatch);
    }
  } finally {
    clearInterval(report);
  }
  return stats;
}

/** A process waiting for the run lock takes units of a copy the holder runs (StepKind.join). */
export async function joinCopy(ctx: StepContext): Promise<number> {
  const cp = ctx.checkpoint as MoveCheckpoint | undefined;
  if (cp?.phase !== 'copy' || cp.xmax === undefined) return 0;
  const [u] = await ctx.query<{ ok: boolean }>(`SELECT to_regclass('${UNITS}') IS NOT NULL AS ok`);
  if (!u?.ok) return 0;
  let pages = 0;
  const stats: CopyStats = { batches: [], rows: 0 };
  await worker(ctx, cp, false, stats, (n) => (pages += n)).catch((err: unknown) => {
    // The holder switched meanwhile (the units table is gone): nothing left to join.
    if ((err as { code?: string })?.code !== '42P01') throw err;
  });
  return pages;
}

/**
 * The key's unique index and the three indexes, each skipped when valid, rebuilt when INVALID,
 * built at once, each in its own session with `maintenance_work_mem` set to `o.buildMemory`
 * (default: sortMemory of the copy). Logs each build's phase, rows or pages, rate and ETA
 * every `o.reportMs`, from pg_stat_progress_create_index by the session's pid (a plain CREATE
 * INDEX reports no index there until it is done).
 */
async function buildIndexes(ctx: StepContext, o: MoveOptions): Promise<void> {
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
  let memory = o.buildMemory;
  if (memory === undefined) {
    const [r] = await ctx.query<{ bytes: string }>(`SELECT pg_relation_size('${BUILD}') AS bytes`);
    memory = sortMemory(Number(r!.bytes));
  }
  ctx.log(`building ${todo.map((ix) => ix.name).join(', ')} on the copied events, at once (maintenance_work_mem ${memory} each)`);
  /** The session building each index (its backend pid). */
  const builds = new Map<number, string>();
  const seen = new Map<string, { at: number; done: number; phase: string }>();
  const t0 = performance.now();
  /** A report still waiting for its query (a slow server): the next one is skipped. */
  let asking = false;
  const report = setInterval(() => {
    if (builds.size === 0 || asking) return;
    asking = true;
    ctx
      .query<{ pid: number; phase: string; done: string; total: string; what: string }>(
        `SELECT pid, phase,
                CASE WHEN tuples_total > 0 THEN tuples_done ELSE blocks_done END AS done,
                CASE WHEN tuples_total > 0 THEN tuples_total ELSE blocks_total END AS total,
                CASE WHEN tuples_total > 0 THEN 'rows' ELSE 'pages' END AS what
           FROM pg_stat_progress_create_index WHERE pid = ANY($1::int[])`,
        [[...builds.keys()]],
      )
      .then((rows) => {
        if (rows.length === 0) return;
        const now = performance.now();
        const parts = rows
          .map((r) => ({ ...r, name: builds.get(Number(r.pid)) ?? String(r.pid) }))
          .sort((a, b) => a.name.localeCompare(b.name))
          .map((r) => {
            const done = Number(r.done);
            const total = Number(r.total);
            const before = seen.get(r.name);
            seen.set(r.name, { at: now, done, phase: r.phase });
            let tail = '';
            if (total > 0) {
              tail = ` ${fmt(done)}/${fmt(total)} ${r.what} (${Math.floor((100 * done) / total)}%)`;
              if (before && before.phase === r.phase && done > before.done) {
                const rate = ((done - before.done) * 1000) / (now - before.at);
                tail += `, ${fmt(rate)} ${r.what}/s, ETA of this phase ${secs(((total - done) / rate) * 1000)}`;
              }
            }
            return `${r.name}: ${r.phase}${tail}`;
          });
        ctx.log(`indexes after ${Math.round((now - t0) / 1000)} s: ${parts.join('; ')}`);
      })
      .catch(() => undefined)
      .finally(() => (asking = false));
  }, o.reportMs ?? REPORT_MS);
  report.unref();
  try {
    // A stop that came after the engine cancelled what ran then (between the phases) starts no build.
    await Promise.all(
      todo.map((ix) =>
        ctx.transaction(async (tx) => {
          ctx.signal.throwIfAborted();
          const [s] = await tx.query<{ pid: number }>(`SELECT pg_backend_pid() AS pid, set_config('maintenance_work_mem', $1, true)`, [memory]);
          builds.set(Number(s!.pid), ix.name);
          await tx.exec(ix.ddl(BUILD));
        }),
      ),
    );
  } finally {
    clearInterval(report);
  }
}

/**
 * A key's checksum: a 64-bit hash of the key, chained through its columns (each hash seeds
 * the next: no text is built, 40% less than hashing the key's text); equal sums per instance
 * mean the same keys, whatever the order.
 */
const keyHash = (seq: string) => `hashtextextended(aggregate_type, hashtextextended(aggregate_id, ${seq}))`;

/**
 * The copied rows against the legacy pages they came from (pages < `page`): per instance,
 * the row count and the sum of a 64-bit hash of each key, each side read by its own session
 * at once (the legacy side by a parallel scan: a TID range scan is never parallel). When an
 * instance differs, the first differing key in key order, and its legacy page, say where.
 */
/** Either the rows verified, or the instances that differ (all of them: the next run copies them again) and a message naming the first. */
type Verification = { rows: number } | { instances: string[]; message: string };

/** One side of the verification: per instance, the row count and the sum of the key hashes. */
type Sum = { instance_id: string; n: string; s: string };

/**
 * A read its caller may drop: `halted` keeps it from being sent; `running` is the session
 * while the statement runs (cleared before the commit, so a cancel never reaches a later
 * statement on that connection).
 */
interface Reading {
  halted?: boolean;
  running?: Session | undefined;
}

/** A verification query in its own transaction; a stop between the phases starts no scan (nothing would cancel it). */
const sums = (ctx: StepContext, sql: string, set = '', read: Reading = {}) =>
  ctx.transaction(async (tx) => {
    if (set) await tx.exec(set);
    ctx.signal.throwIfAborted();
    if (read.halted) throw new Error('the verification read was dropped');
    read.running = tx;
    try {
      return await tx.query<Sum>(sql);
    } finally {
      read.running = undefined;
    }
  });

/** The legacy side: the rows of the pages the units copy (< cp.page) that the copy's snapshot saw. */
const legacySums = (ctx: StepContext, cp: MoveCheckpoint, read?: Reading) =>
  sums(
    ctx,
    `SELECT instance_id, count(*) AS n, sum(${keyHash('event_sequence')}) AS s FROM ${LEGACY} WHERE ctid < ${tid(cp.page)} AND ${older(cp)} GROUP BY instance_id`,
    'SET LOCAL enable_tidscan = off',
    read,
  );

/** `legacySide`: the legacy side read already (beside this run's copy); read now when absent (a resumed run, a repair). */
async function verify(ctx: StepContext, cp: MoveCheckpoint, legacySide?: Sum[]): Promise<Verification> {
  const page = cp.page;
  const [old, now] = await Promise.all([
    legacySide ?? legacySums(ctx, cp),
    sums(ctx, `SELECT instance_id, count(*) AS n, sum(${keyHash('"sequence"')}) AS s FROM ${BUILD} GROUP BY instance_id`),
  ]);
  const a = new Map(old.map((r) => [r.instance_id, r]));
  const b = new Map(now.map((r) => [r.instance_id, r]));
  const instances = [...new Set([...a.keys(), ...b.keys()])].sort();
  const differing = instances.filter((i) => a.get(i)?.n !== b.get(i)?.n || a.get(i)?.s !== b.get(i)?.s);
  const differ = differing[0];
  if (differ === undefined) {
    const rows = old.reduce((x, r) => x + Number(r.n), 0);
    ctx.log(`verified: the copy of the ${fmt(rows)} legacy events older than the move has the same keys, ${instances.length} instances each with the same count and key checksum`);
    return { rows };
  }
  const [first] = await ctx.query<{ side: string; aggregate_type: string; aggregate_id: string; seq: string; page: string | null }>(
    `SELECT CASE WHEN o.seq IS NULL THEN 'only in the copy' ELSE 'only in the legacy table' END AS side,
            coalesce(o.aggregate_type, n.aggregate_type) AS aggregate_type, coalesce(o.aggregate_id, n.aggregate_id) AS aggregate_id, coalesce(o.seq, n.seq) AS seq,
            (o.ctid::text::point)[0]::bigint AS page
       FROM (SELECT aggregate_type, aggregate_id, event_sequence AS seq, ctid FROM ${LEGACY} WHERE instance_id = $1 AND ctid < ${tid(page)} AND ${older(cp)}) o
       FULL JOIN (SELECT aggregate_type, aggregate_id, "sequence" AS seq FROM ${BUILD} WHERE instance_id = $1) n
         ON n.aggregate_type = o.aggregate_type AND n.aggregate_id = o.aggregate_id AND n.seq = o.seq
      WHERE o.seq IS NULL OR n.seq IS NULL
      ORDER BY 2, 3, 4 LIMIT 1`,
    [differ],
  );
  const where = first
    ? `; the first differing key in key order: (${first.aggregate_type}, ${first.aggregate_id}, ${first.seq}), ${first.side}${first.page !== null ? ` (legacy page ${first.page})` : ''}`
    : ' (same keys, different checksums)';
  return {
    instances: differing,
    message: `verification failed for instance ${JSON.stringify(differ)}${differing.length > 1 ? ` (and ${differing.length - 1} more instances)` : ''}: the legacy table held ${a.get(differ)?.n ?? 0} of its events when the move began (pages 0-${page - 1}), the copy ${b.get(differ)?.n ?? 0}${where}`,
  };
}

/** Copy the events of the instances a verification found different again (their rows in the copy replaced), with the checkpoint. */
async function repair(ctx: StepContext, cp: MoveCheckpoint): Promise<void> {
  const instances = cp.repair ?? [];
  await ctx.transaction(async (tx) => {
    ctx.signal.throwIfAborted();
    await tx.query(`DELETE FROM ${BUILD} WHERE instance_id = ANY($1)`, [instances]);
    await tx.query(`INSERT INTO ${BUILD} SELECT ${SELECT} FROM ${LEGACY} WHERE instance_id = ANY($1) AND ctid < ${tid(cp.page)} AND ${older(cp)}`, [instances]);
    await ctx.saveCheckpoint(tx, { ...cp, repair: [] }, { done: cp.pages, total: cp.pages });
  });
  ctx.log(`copied the events of ${instances.map((i) => JSON.stringify(i)).join(', ')} again, after a verification found them different`);
}

/**
 * The switch, one transaction: writers of the legacy table wait from the lock to the commit:
 * the events written since the copy began (one scan of the legacy table) and the renames. A
 * lock not granted within SWITCH_LOCK_TIMEOUT (a writer's long transaction) lets the writers go
 * and tries again. `copied`: the copy's rows as verified. Returns the rows of events2.
 */
async function switchTables(ctx: StepContext, cp: MoveCheckpoint, copied: number): Promise<number> {
  for (let attempt = 1; ; attempt++) {
    ctx.signal.throwIfAborted();
    try {
      return await ctx.transaction(async (tx) => {
        await tx.exec(`SET LOCAL lock_timeout = '${SWITCH_LOCK_TIMEOUT}'; LOCK TABLE ${LEGACY} IN EXCLUSIVE MODE`);
        // Every row the units did not take: appended since (pages from cp.page on), or written by
        // a transaction from the copy's start on, wherever it landed (a page with room). A key the
        // copy holds already (the legacy table cannot hold it twice) takes the legacy row as it is.
        const [tail] = await tx.query<{ n: string }>(
          `WITH t AS (INSERT INTO ${BUILD} SELECT ${SELECT} FROM ${LEGACY} WHERE ctid >= ${tid(cp.page)} OR NOT ${older(cp)}
             ON CONFLICT (${KEY}) DO UPDATE SET ${COLUMNS.map((c) => `${c} = EXCLUDED.${c}`).join(', ')} RETURNING (xmax = 0) AS added)
           SELECT count(*) FILTER (WHERE added) AS n FROM t`,
        );
        await tx.exec(`ALTER TABLE ${LEGACY} RENAME TO events_old; ALTER TABLE ${BUILD} RENAME TO events2; ALTER TABLE eventstore.events2 ADD CONSTRAINT events2_pkey PRIMARY KEY USING INDEX events2_pkey; DROP TABLE IF EXISTS ${UNITS}`);
        const n = Number(tail!.n);
        if (n > 0) ctx.log(`the switch copied ${fmt(n)} events written during the move`);
        return copied + n;
      });
    } catch (err) {
      // 55P03 lock_not_available, 40P01 deadlock_detected (a reader's lock met the rename's).
      const code = (err as { code?: string })?.code;
      if ((code !== '55P03' && code !== '40P01') || attempt >= SWITCH_ATTEMPTS) throw err;
      ctx.log(`the switch waited ${SWITCH_LOCK_TIMEOUT} for writers of eventstore.events (attempt ${attempt} of ${SWITCH_ATTEMPTS}); they go on, trying again`);
    }
  }
}
