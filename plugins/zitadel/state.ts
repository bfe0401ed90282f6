/**
 * ZITADEL's own step records, kept beside zsetup's (the `zitadel-state` plugin).
 *
 * ZITADEL's `setup` records each step as events of the system aggregate in
 * `eventstore.events2` (internal/migration, command.go):
 * - instance_id '', aggregate_type `system`, aggregate_id `SYSTEM`, revision 1, creator
 *   `system`, owner `SYSTEM`, the sequence of that aggregate going on by one;
 * - event types `system.migration.started`, `.done`, `.repeatable.done`, `.failed`, with the
 *   payload `{"name": ..., "error"?: ..., "lastRun"?: ...}`;
 * - in the same transaction, rows of `eventstore.unique_constraints` (instance_id '', the
 *   step's name lower-cased): started adds `migration_started`; done adds `migration_done`
 *   and leaves `migration_started`; failed and repeatable.done remove `migration_started`.
 * Its `setup cleanup` records a stuck step failed with "ID=MIGRA-zo86K Message=migration
 * canceled manually". ZITADEL decides by a step's latest event: none or failed: run;
 * started: wait; done: skip (a repeatable asks Check(lastRun)).
 *
 * This store wraps zsetup's journal. For the steps it is told zsetup reproduces exactly,
 * each record also writes ZITADEL's, in one statement with zsetup's own (a DO block), so
 * both commit together with the step's work or not at all:
 * - started -> started; done -> done (repeatable.done with its lastRun for a repeatable);
 * - failed -> failed with the error (and the lastRun of a repeatable);
 * - interrupted (a stop, or a run that died and was recovered) -> what ZITADEL's cleanup
 *   writes: failed, "migration canceled manually".
 * Any other step (ZITADEL business logic run by ZITADEL's binary, a step that only logs) is
 * never recorded in ZITADEL's format: ZITADEL still runs it.
 *
 * A start is refused (SQLSTATE ZS003, START_REFUSED_CODE: nothing recorded, the step does not
 * run) when ZITADEL's latest record of the step is a start of ZITADEL's own: its setup began
 * the step after zsetup planned, and ZITADEL's setup itself waits for a started step.
 *
 * `load()` reads ZITADEL's records too: a step whose latest record is ZITADEL's (newer than
 * zsetup's, or zsetup has none) takes its state from it, as `source: 'ZITADEL'` (plan:
 * "applied by ZITADEL at ..."). zsetup's own ZITADEL records are never newer than its
 * journal row: they are written first, in the same statement.
 */
// Through the package, as a config's plugin: the CLI's own copy (its container tokens).
import { JournalStore } from 'zsetup';
import { START_REFUSED_CODE, Tokens, instanceCachingFactory, quoteIdent, quoteLiteral } from 'zsetup/plugin';
import type { Database, Plugin, RecordedEvent, Session, StateStore, StepEvent, StepState } from 'zsetup/plugin';
import { externalKind } from './external.js';

/** What ZITADEL's `setup cleanup` (and its stop handler) writes as the error of a stuck step. */
export const CANCELED_MANUALLY = 'ID=MIGRA-zo86K Message=migration canceled manually';

const TYPES = {
  started: 'system.migration.started',
  done: 'system.migration.done',
  repeatableDone: 'system.migration.repeatable.done',
  failed: 'system.migration.failed',
} as const;

export interface ZitadelStateOptions {
  /**
   * The steps whose effect equals ZITADEL's, under ZITADEL's names: only these get
   * ZITADEL's records. A name list, or a test.
   */
  readonly reproduces: readonly string[] | ((step: string) => boolean);
}

/** One row of ZITADEL's records, as load() reads them. */
interface ZitadelRow {
  role: 'latest' | 'done';
  name: string;
  event_type: string;
  at: Date | string;
  last_run: unknown;
  error: string | null;
}

export class ZitadelStateStore implements StateStore {
  private readonly reproduced: (step: string) => boolean;
  /** Steps whose latest record, at the last load(), was ZITADEL's `started`: a recovery of one writes ZITADEL's cleanup. */
  private readonly startedByZitadel = new Set<string>();

  constructor(
    private readonly inner: StateStore,
    private readonly db: Database,
    options: ZitadelStateOptions,
    /** Whether a step is repeatable (its done record is `repeatable.done` with its lastRun). */
    private readonly repeatable: (step: string) => boolean = () => false,
    /**
     * The journal table of `inner` (schema-qualified), where a `started` record of zsetup's
     * own is told from ZITADEL's: without it, a start is never refused.
     */
    private readonly journal?: string,
  ) {
    const r = options.reproduces;
    const names = typeof r === 'function' ? undefined : new Set(r);
    this.reproduced = typeof r === 'function' ? r : (step) => names!.has(step);
  }

  init(): Promise<void> {
    return this.inner.init();
  }

  async load(): Promise<Map<string, StepState>> {
    const ours = await this.inner.load();
    const theirs = await this.zitadelRecords();
    this.startedByZitadel.clear();
    for (const [step, z] of theirs) {
      const own = ours.get(step);
      if (own && z.latest.at.getTime() <= own.latest.at.getTime()) continue;
      if (z.latest.event === 'started') this.startedByZitadel.add(step);
      const newerDone = (a?: RecordedEvent, b?: RecordedEvent) => (a && (!b || a.at.getTime() > b.at.getTime()) ? a : b);
      ours.set(step, { step, latest: z.latest, lastDone: newerDone(z.lastDone, own?.lastDone), checkpoint: own?.checkpoint });
    }
    return ours;
  }

  history(options?: { step?: string }): Promise<RecordedEvent[]> {
    return this.inner.history(options);
  }

  async record(event: StepEvent, session?: Session): Promise<void> {
    const sql = this.recordStatement(event);
    if (session) await session.exec(sql);
    else await this.db.withSession((s) => s.exec(sql));
  }

  recordStatement(e: StepEvent): string {
    const own = this.inner.recordStatement(e);
    // A step ZITADEL left started and zsetup recovers gets ZITADEL's cleanup record, whoever runs it next.
    const cleanup = e.event === 'interrupted' && this.startedByZitadel.has(e.step);
    if (!this.reproduced(e.step) && !cleanup) return own;
    // One statement (a DO block), so it also runs where a driver takes one per call.
    const tag = `$zsetup_${Math.random().toString(36).slice(2, 10)}$`;
    // ZITADEL's first: its time is then never later than the journal row's (load() keeps ours).
    return `DO ${tag} DECLARE held timestamptz; BEGIN\n${zitadelRecord(e, this.repeatable(e.step), e.event === 'started' ? this.journal : undefined)};\n${own};\nEND ${tag}`;
  }

  checkpointStatement(step: string, owner: string, value: unknown, progress?: { done?: number | undefined; total?: number | undefined }): string {
    return this.inner.checkpointStatement(step, owner, value, progress);
  }

  /** Per step name: ZITADEL's latest record and its latest done (none when events2 is not there yet). */
  private async zitadelRecords(): Promise<Map<string, { latest: RecordedEvent; lastDone?: RecordedEvent | undefined }>> {
    const rows = await this.db.withSession(async (s) => {
      const [t] = await s.query<{ ok: boolean; legacy: boolean }>(`SELECT to_regclass('eventstore.events2') IS NOT NULL AS ok, to_regclass('eventstore.events') IS NOT NULL AS legacy`, []);
      // A database of a ZITADEL from before events2: its records are in the legacy table
      // (event_data, creation_date, event_sequence), until 14_events_push moves them.
      const layout = t?.ok ? EVENTS2 : t?.legacy ? LEGACY_EVENTS : undefined;
      if (!layout) return [] as ZitadelRow[];
      // Per name: the latest record, and the latest done (one query for both).
      const pick = (role: string, types: string) =>
        `SELECT * FROM (SELECT DISTINCT ON (${layout.payload}->>'name') '${role}' AS role, ${layout.payload}->>'name' AS name, event_type, ${layout.at} AS at,
                               ${layout.payload}->'lastRun' AS last_run, ${layout.payload}->>'error' AS error FROM ${layout.table}
                          WHERE ${layout.filter} AND event_type = ANY(${types}::text[]) ORDER BY ${layout.payload}->>'name', ${layout.latestFirst}) ${role[0]}`;
      return s.query<ZitadelRow>(`${pick('latest', '$1')}\nUNION ALL\n${pick('done', '$2')}`, [Object.values(TYPES), [TYPES.done, TYPES.repeatableDone]]);
    });
    const out = new Map<string, { latest: RecordedEvent; lastDone?: RecordedEvent | undefined }>();
    for (const r of rows) {
      if (typeof r.name !== 'string' || r.name === '') continue;
      const ev: RecordedEvent = {
        id: 0,
        step: r.name,
        event: r.event_type === TYPES.started ? 'started' : r.event_type === TYPES.failed ? 'failed' : 'done',
        owner: 'ZITADEL',
        source: 'ZITADEL',
        at: r.at instanceof Date ? r.at : new Date(r.at),
        ...(r.last_run !== null && r.last_run !== undefined ? { lastRun: r.last_run } : {}),
        ...(r.error !== null ? { error: r.error } : {}),
      };
      const entry = out.get(r.name) ?? { latest: ev };
      if (r.role === 'latest') entry.latest = ev;
      else entry.lastDone = ev;
      out.set(r.name, entry);
    }
    return out;
  }
}

const LEGACY = "this database has ZITADEL's legacy event table eventstore.events and no eventstore.events2, where ZITADEL's step records go: the events2 plugin's move step (14_events_push) moves the events there; declare it before the steps zitadelState() records (zitadel.setup.ts does)";

/** Where ZITADEL's records go is missing: say why (a legacy event table, or no init), not 42P01. */
const NO_EVENTS2 = `IF to_regclass('eventstore.events2') IS NULL THEN
  RAISE EXCEPTION USING ERRCODE = '42P01', MESSAGE = CASE WHEN to_regclass('eventstore.events') IS NOT NULL
    THEN ${quoteLiteral(LEGACY)}
    ELSE 'eventstore.events2 does not exist, ZITADEL''s step records go there: ZITADEL''s init creates it (step init_03_events2 of zitadel.setup.ts); declare it before the steps zitadelState() records' END;
END IF;`;

/** Where ZITADEL's step records are, in events2 and in the legacy table, and how to read them. */
const EVENTS2 = {
  table: 'eventstore.events2',
  filter: `instance_id = '' AND aggregate_type = 'system' AND aggregate_id = 'SYSTEM'`,
  payload: 'payload',
  at: 'created_at',
  latestFirst: '"position" DESC, in_tx_order DESC, "sequence" DESC',
};
const LEGACY_EVENTS = { table: 'eventstore.events', filter: `aggregate_type = 'system'`, payload: 'event_data', at: 'creation_date', latestFirst: 'event_sequence DESC' };

/**
 * ZITADEL's record of `e` (plpgsql statements): its event on the system aggregate, at the
 * clock's time (two records sent in one message must not share a position: ZITADEL orders
 * by it to find a step's latest), the sequence going on from the aggregate's latest event
 * (whose owner it keeps), and its unique constraints.
 */
function zitadelRecord(e: StepEvent, repeatable: boolean, journal?: string): string {
  // Lower-cased as Go's strings.ToLower does (not the database's locale).
  const name = quoteLiteral(e.step.toLowerCase());
  let type: string;
  const payload: Record<string, unknown> = { name: e.step };
  switch (e.event) {
    case 'started':
      type = TYPES.started;
      break;
    case 'done':
      type = repeatable ? TYPES.repeatableDone : TYPES.done;
      if (repeatable) payload.lastRun = e.lastRun ?? {};
      break;
    case 'failed':
      type = TYPES.failed;
      payload.error = e.error ?? 'failed';
      if (repeatable && e.lastRun !== undefined) payload.lastRun = e.lastRun;
      break;
    case 'interrupted':
      type = TYPES.failed;
      payload.error = CANCELED_MANUALLY;
      break;
  }
  const constraint =
    type === TYPES.started
      ? `INSERT INTO eventstore.unique_constraints (instance_id, unique_type, unique_field) VALUES ('', 'migration_started', ${name}) ON CONFLICT DO NOTHING`
      : type === TYPES.done
        ? `INSERT INTO eventstore.unique_constraints (instance_id, unique_type, unique_field) VALUES ('', 'migration_done', ${name}) ON CONFLICT DO NOTHING`
        : `DELETE FROM eventstore.unique_constraints WHERE instance_id = '' AND unique_type = 'migration_started' AND lower(unique_field) = ${name}`;
  // A step ZITADEL started and has not finished is its own (ZITADEL's setup waits for such a
  // step): refuse the start, so nothing of this record commits. ZITADEL's latest record of the
  // step is a start of zsetup's when the journal has a start written after it (the journal row
  // follows its ZITADEL record in the same statement): a start sent again after a connection
  // fault is not refused. Checked after the constraint's insert, which waits for a ZITADEL
  // start in flight, so the check reads it (each statement of the block reads anew).
  const refuse = journal !== undefined;
  const held = refuse
    ? `${constraint};
SELECT created_at INTO held FROM (SELECT event_type, created_at FROM eventstore.events2
   WHERE instance_id = '' AND aggregate_type = 'system' AND aggregate_id = 'SYSTEM' AND event_type = ANY(${quoteLiteral(`{${Object.values(TYPES).join(',')}}`)}::text[])
     AND payload->>'name' = ${quoteLiteral(e.step)}
   ORDER BY "position" DESC, in_tx_order DESC, "sequence" DESC LIMIT 1) l
 WHERE event_type = ${quoteLiteral(TYPES.started)}
   AND NOT EXISTS (SELECT 1 FROM ${journal} j WHERE j.step = ${quoteLiteral(e.step)} AND j.event = 'started' AND j.at >= l.created_at);
IF held IS NOT NULL THEN
  RAISE EXCEPTION USING ERRCODE = '${START_REFUSED_CODE}', MESSAGE = format('ZITADEL''s setup started %s at %s and has not finished it: left to ZITADEL, which runs it now (if that ZITADEL is gone, run ''zsetup cleanup'')', ${quoteLiteral(JSON.stringify(e.step))}, held);
END IF;
`
    : '';
  // Another writer of the system aggregate (ZITADEL, or another record of ours at once) may
  // take the same sequence first: try again with the next one (each try reads anew).
  const body = `${held}FOR attempt IN 1..20 LOOP
  BEGIN
    INSERT INTO eventstore.events2 (instance_id, aggregate_type, aggregate_id, event_type, "sequence", revision, created_at, payload, creator, "owner", "position", in_tx_order)
    SELECT '', 'system', 'SYSTEM', ${quoteLiteral(type)}, coalesce(last."sequence", 0) + 1, 1, now.t, ${quoteLiteral(JSON.stringify(payload))}::jsonb,
           'system', coalesce(last."owner", 'SYSTEM'), EXTRACT(EPOCH FROM now.t)::numeric, 1
      FROM (SELECT clock_timestamp() AS t) now
      LEFT JOIN LATERAL (SELECT "sequence", "owner" FROM eventstore.events2
                          WHERE instance_id = '' AND aggregate_type = 'system' AND aggregate_id = 'SYSTEM'
                          ORDER BY "sequence" DESC LIMIT 1) last ON true;
    EXIT;
  EXCEPTION WHEN unique_violation THEN
    IF attempt = 20 THEN RAISE; END IF;
  END;
END LOOP${refuse ? '' : `;\n${constraint}`}`;
  // A failure or a stop is recorded in zsetup's journal even where ZITADEL's records cannot
  // go; so is a start before events2 exists (14_events_push on a legacy database: ZITADEL's
  // own setup lets that record fail, 42P01, and goes on); a done is not.
  return type === TYPES.done || type === TYPES.repeatableDone ? `${NO_EVENTS2}\n${body}` : `IF to_regclass('eventstore.events2') IS NOT NULL THEN\n${body};\nEND IF`;
}

/**
 * The `zitadel-state` plugin: zsetup's journal, plus ZITADEL's records for the steps
 * `options.reproduces` names (see ZitadelStateStore), replacing the journal's store; and the
 * step kind of ZITADEL's own steps (`external()`, external.ts).
 */
export function zitadelState(options: ZitadelStateOptions): Plugin {
  return {
    name: 'zitadel-state',
    register(c, config) {
      const repeatables = new Set(config.steps.filter((s) => s.repeatable !== undefined).map((s) => s.name));
      c.register(Tokens.StepKind, { useValue: externalKind });
      c.register(Tokens.StateStore, {
        useFactory: instanceCachingFactory((dc) => {
          const db = dc.resolve<Database>(Tokens.Database);
          return new ZitadelStateStore(new JournalStore(db, config.state.schema), db, options, (step) => repeatables.has(step), `${quoteIdent(config.state.schema)}.journal`);
        }),
      });
    },
  };
}
