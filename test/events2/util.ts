/**
 * What the events2 tests share: legacy tables from scripts/zitadel-legacy-events.mjs, ZITADEL's
 * own statements of step 14_events_push, and the fingerprint of an events2 they compare.
 */
import pg from 'pg';
import { HEADER, createDb, type TestDb } from '../helpers.js';
import type { Database, Session, StepContext } from '../../src/plugin.js';
import { inTransaction } from '../../src/engine/transaction.js';
// @ts-expect-error: plain ES modules of scripts/, without types
import { generateLegacyEvents } from '../../scripts/zitadel-legacy-events.mjs';
// @ts-expect-error: plain ES modules of scripts/, without types
import { describeSchema } from '../../scripts/schema.mjs';

export const PLUGIN = new URL('../../plugins/events2/index.js', import.meta.url).pathname;

/** A config with the move step (its options as written in a config, e.g. `{ unitPages: 2 }`), and more steps after it. */
export const moveConfig = (options = '', extra = '') => `${HEADER}import { events2, eventsMove, eventsDropOld } from ${JSON.stringify(PLUGIN)};
export default defineConfig({ plugins: [events2()], steps: [eventsMove('14_events_push'${options ? `, ${options}` : ''})${extra}] });\n`;

/** A legacy eventstore.events of about `events` rows (5 instances, seed 3: the same rows every time). */
export async function legacy(db: TestDb, events: number): Promise<void> {
  const c = new pg.Client({ connectionString: db.url });
  await c.connect();
  try {
    await generateLegacyEvents(c, { events, instances: 5, seed: 3 });
  } finally {
    await c.end();
  }
}

/** ZITADEL's 14_events_push (cmd/setup/14/*.sql), in its order. */
export const ZITADEL_STATEMENTS = [
  'ALTER TABLE eventstore.events RENAME TO events_old',
  `CREATE TABLE eventstore.events2 (instance_id, aggregate_type, aggregate_id, event_type, "sequence", revision, created_at, payload, creator, "owner", "position", in_tx_order)
    AS SELECT instance_id, aggregate_type, aggregate_id, event_type, event_sequence, substr(aggregate_version, 2)::SMALLINT, creation_date, event_data, editor_user, resource_owner,
              EXTRACT(EPOCH FROM creation_date), event_sequence FROM eventstore.events_old`,
  'ALTER TABLE eventstore.events2 ADD PRIMARY KEY (instance_id, aggregate_type, aggregate_id, "sequence")',
  `ALTER TABLE eventstore.events2 ALTER COLUMN event_type SET NOT NULL, ALTER COLUMN revision SET NOT NULL, ALTER COLUMN created_at SET NOT NULL,
    ALTER COLUMN creator SET NOT NULL, ALTER COLUMN "owner" SET NOT NULL, ALTER COLUMN "position" SET NOT NULL, ALTER COLUMN in_tx_order SET NOT NULL`,
  'CREATE INDEX es_active_instances ON eventstore.events2 (created_at DESC, instance_id)',
  'CREATE INDEX es_wm ON eventstore.events2 (aggregate_id, instance_id, aggregate_type, event_type)',
  'CREATE INDEX es_projection ON eventstore.events2 (instance_id, aggregate_type, event_type, "position")',
];

/** ZITADEL's 14_events_push, run on `db`. */
export async function zitadelWay(db: TestDb): Promise<void> {
  for (const sql of ZITADEL_STATEMENTS) await db.query(sql);
}

export interface Fingerprint {
  schema: string[];
  md5: string;
  n: number;
}

/** events2 as a comparison sees it: its schema lines and an ordered md5 over all columns. */
export async function fingerprint(db: TestDb): Promise<Fingerprint> {
  const schema = ((await describeSchema((sql: string) => db.query(sql))) as string[]).filter((l) => /eventstore\.events2\b/.test(l));
  const [r] = await db.query<{ md5: string; n: string }>(`SELECT md5(string_agg(t::text, E'\\n' ORDER BY instance_id, aggregate_type, aggregate_id, "sequence")) AS md5, count(*) AS n FROM eventstore.events2 t`);
  return { schema, md5: r!.md5, n: Number(r!.n) };
}

const references = new Map<number, Promise<Fingerprint>>();

/** The same legacy events, moved by ZITADEL's statements in a database of their own (once per size and file: the seed is fixed). */
export function reference(events: number): Promise<Fingerprint> {
  let r = references.get(events);
  if (!r) {
    r = makeReference(events);
    references.set(events, r);
    // A failed attempt is not kept for the next test.
    r.catch(() => references.delete(events));
  }
  return r;
}

async function makeReference(events: number): Promise<Fingerprint> {
  const ref = await createDb();
  try {
    await legacy(ref, events);
    await zitadelWay(ref);
    return await fingerprint(ref);
  } finally {
    await ref.drop();
  }
}

/** A step context over a plain pg pool, for calling the move directly (moveEvents) where the CLI cannot show a moment. */
export interface DirectStep {
  step: StepContext;
  /** What the step logged. */
  logs: string[];
  /** Statements sent after `abort` was called. */
  late: string[];
  abort: (reason: Error) => void;
  end: () => Promise<void>;
}

/**
 * A context for `moveEvents` on `db`: each statement on a connection of its own pool (as the
 * engine's sessions), its signal aborted by `abort`; `onCheckpoint` sees each checkpoint saved
 * (none is kept: `checkpoint` is undefined).
 */
export function directStep(db: TestDb, onCheckpoint: (value: { phase?: string }) => void = () => undefined): DirectStep {
  const pool = new pg.Pool({ connectionString: db.url, max: 10 });
  // An idle connection ended by the database's drop after the test is no error of the test.
  pool.on('error', () => undefined);
  const ac = new AbortController();
  const logs: string[] = [];
  const late: string[] = [];
  const session = (c: pg.PoolClient): Session =>
    ({
      exec: async (sql: string) => {
        if (ac.signal.aborted) late.push(sql);
        await c.query(sql);
      },
      query: async (sql: string, params?: readonly unknown[]) => {
        if (ac.signal.aborted) late.push(sql);
        return (await c.query(sql, params as unknown[])).rows;
      },
    }) as unknown as Session;
  const withClient = async <T>(fn: (s: Session) => Promise<T>): Promise<T> => {
    const c = await pool.connect();
    try {
      return await fn(session(c));
    } finally {
      c.release();
    }
  };
  const step = {
    name: '14_events_push',
    db: undefined,
    signal: ac.signal,
    lastRun: undefined,
    config: undefined,
    checkpoint: undefined,
    log: (m: string) => logs.push(m),
    progress: () => undefined,
    exec: (sql: string) => withClient((s) => s.exec(sql)),
    query: (sql: string, params?: readonly unknown[]) => withClient((s) => s.query(sql, params)),
    transaction: <T>(fn: (s: Session) => Promise<T>) => inTransaction({ withSession: withClient } as unknown as Database, fn),
    saveCheckpoint: async (_tx: unknown, value: { phase?: string }) => onCheckpoint(value),
  } as unknown as StepContext;
  return { step, logs, late, abort: (reason) => ac.abort(reason), end: () => pool.end() };
}
