/**
 * The default StateStore: an append-only journal table in its own schema.
 * Every event is a row; state is derived (latest row per step).
 */
import { MAX_RECORDED_SQL, quoteIdent, quoteLiteral, sleep } from '../../src/plugin.js';
import type { Checkpoint, Database, RecordedEvent, Session, StateStore, StepEvent, StepState } from '../../src/plugin.js';

interface Row {
  id: string | number;
  step: string;
  event: RecordedEvent['event'];
  owner: string;
  checksum: string | null;
  last_run: unknown;
  checkpoint: unknown;
  error: string | null;
  at: Date | string;
  via?: string | null;
  sql_text?: string | null;
  role?: string;
}

const UNDEFINED_TABLE = '42P01';
const UNDEFINED_SCHEMA = '3F000';
const UNDEFINED_COLUMN = '42703';
/** syntax_error: what a driver that takes one statement per query() says to a script. */
const SYNTAX_ERROR = '42601';
/** unique_violation, duplicate_object, duplicate_schema, duplicate_table: a concurrent init(). */
const CREATE_RACE = new Set(['23505', '42710', '42P06', '42P07']);

export class JournalStore implements StateStore {
  private readonly table: string;
  private readonly checkpoints: string;
  private readonly schema: string;

  constructor(private readonly db: Database, schema: string) {
    this.schema = quoteIdent(schema);
    this.table = `${this.schema}.journal`;
    this.checkpoints = `${this.schema}.checkpoints`;
  }

  /**
   * What init() read in the same round trip as its CREATE script, for the load() that
   * follows it at once (apply: init, then load). Given out once, and only until the event
   * loop turns or the store builds a record: any later load() reads again.
   */
  private primed: Map<string, StepState> | undefined;

  async init(): Promise<void> {
    this.primed = undefined;
    // CREATE ... IF NOT EXISTS is not safe against a concurrent creator: the loser gets a
    // unique violation on the catalog (pg_namespace, pg_type). The script runs as one
    // implicit transaction, so retry it whole: the next attempt finds everything there.
    for (let attempt = 0; ; attempt++) {
      try {
        await this.createObjects();
        return;
      } catch (err) {
        if (attempt >= 5 || !CREATE_RACE.has((err as { code?: string })?.code ?? '')) throw err;
        await sleep(50 + Math.random() * 100);
      }
    }
  }

  private async createObjects(): Promise<void> {
    const script = `CREATE SCHEMA IF NOT EXISTS ${this.schema};
CREATE TABLE IF NOT EXISTS ${this.table} (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  step text NOT NULL,
  event text NOT NULL CHECK (event IN ('started', 'done', 'failed', 'interrupted')),
  owner text NOT NULL,
  checksum text,
  last_run jsonb,
  checkpoint jsonb,
  error text,
  at timestamptz NOT NULL DEFAULT clock_timestamp(),
  via text,
  sql_text text
);
CREATE INDEX IF NOT EXISTS journal_step_id ON ${this.table} (step, id);
${this.addColumns()};
CREATE TABLE IF NOT EXISTS ${this.checkpoints} (
  step text PRIMARY KEY,
  value jsonb,
  done bigint,
  total bigint,
  owner text NOT NULL,
  at timestamptz NOT NULL DEFAULT clock_timestamp()
)`;
    // On PostgreSQL the state is read in the same round trip: the pool plugin runs a script
    // without parameters through the simple protocol and gives the last statement's rows.
    // A Database that takes one statement per query() refuses the script before running
    // any of it (42601): then the script alone, and load() reads on its own.
    if (this.db.dialect === 'postgres') {
      const rows = await this.db
        .withSession((s) => s.query<Row>(`${script};\n${this.loadQuery()}`))
        .catch((err: unknown) => ((err as { code?: string })?.code === SYNTAX_ERROR ? undefined : Promise.reject(err)));
      if (rows !== undefined) {
        if (Array.isArray(rows)) this.prime(toState(rows));
        return;
      }
    }
    await this.db.withSession((s) => s.exec(script));
  }

  /**
   * A journal made by an earlier zsetup gets the columns added since (`via`, `sql_text`),
   * only when they are missing: ALTER TABLE would take its lock on every init otherwise.
   */
  private addColumns(): string {
    const missing = (col: string) => `NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = ${quoteLiteral(this.table)}::regclass AND attname = '${col}' AND NOT attisdropped)`;
    return `DO $zsetup_journal$ BEGIN
  IF ${missing('via')} THEN ALTER TABLE ${this.table} ADD COLUMN via text; END IF;
  IF ${missing('sql_text')} THEN ALTER TABLE ${this.table} ADD COLUMN sql_text text; END IF;
END $zsetup_journal$`;
  }

  /** Keep `state` for the next load(), until the event loop turns. */
  private prime(state: Map<string, StepState>): void {
    this.primed = state;
    setImmediate(() => {
      if (this.primed === state) this.primed = undefined;
    });
  }

  /** A journal of an earlier zsetup, read before any apply added the new columns (plan): read without them. */
  private oldColumns = false;

  private loadQuery(): string {
    const cols = 'id, step, event, owner, checksum, last_run, checkpoint, error, at';
    // The SQL text only of each step's last done (what a changed step is diffed against).
    const [latestMore, doneMore, cpMore] = this.oldColumns ? ['', '', ''] : [', via, NULL AS sql_text', ', via, sql_text', ', NULL, NULL'];
    return `SELECT * FROM (SELECT DISTINCT ON (step) 'latest' AS role, ${cols}${latestMore} FROM ${this.table} ORDER BY step, id DESC) l
           UNION ALL
           SELECT * FROM (SELECT DISTINCT ON (step) 'done' AS role, ${cols}${doneMore} FROM ${this.table} WHERE event = 'done' ORDER BY step, id DESC) d
           UNION ALL
           SELECT 'checkpoint', 0, step, 'interrupted', owner, NULL, jsonb_build_object('done', done, 'total', total), value, NULL, at${cpMore} FROM ${this.checkpoints}`;
  }

  async load(): Promise<Map<string, StepState>> {
    const primed = this.primed;
    this.primed = undefined;
    if (primed) return primed;
    let rows: Row[];
    try {
      rows = await this.db.withSession((s) => s.query<Row>(this.loadQuery()));
    } catch (err) {
      if (isMissing(err)) return new Map();
      if ((err as { code?: string })?.code !== UNDEFINED_COLUMN || this.oldColumns) throw err;
      this.oldColumns = true;
      return this.load();
    }
    return toState(rows);
  }

  async history(options: { step?: string } = {}): Promise<RecordedEvent[]> {
    this.primed = undefined;
    try {
      const rows = await this.db.withSession((s) =>
        options.step === undefined
          ? s.query<Row>(`SELECT * FROM ${this.table} ORDER BY id`)
          : s.query<Row>(`SELECT * FROM ${this.table} WHERE step = $1 ORDER BY id`, [options.step]),
      );
      return rows.map(toEvent);
    } catch (err) {
      if (isMissing(err)) return [];
      throw err;
    }
  }

  async record(event: StepEvent, session?: Session): Promise<void> {
    this.primed = undefined;
    const sql = this.recordStatement(event);
    if (session) await session.exec(sql);
    else await this.db.withSession((s) => s.exec(sql));
  }

  checkpointStatement(step: string, owner: string, value: unknown, progress?: { done?: number | undefined; total?: number | undefined }): string {
    this.primed = undefined;
    const n = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? 'NULL' : String(Math.round(v)));
    return `INSERT INTO ${this.checkpoints} AS c (step, value, done, total, owner) VALUES (${quoteLiteral(step)}, ${json(value)}, ${n(progress?.done)}, ${n(progress?.total)}, ${quoteLiteral(owner)})
ON CONFLICT (step) DO UPDATE SET value = excluded.value, done = excluded.done, total = excluded.total, owner = excluded.owner, at = clock_timestamp()`;
  }

  recordStatement(e: StepEvent): string {
    this.primed = undefined;
    // One statement (a CTE), so it also runs where a driver takes one statement per call:
    // a done step's checkpoint is cleared in the same transaction.
    const clear = e.event === 'done' ? `WITH cleared AS (DELETE FROM ${this.checkpoints} WHERE step = ${quoteLiteral(e.step)}) ` : '';
    const values = [quoteLiteral(e.step), quoteLiteral(e.event), quoteLiteral(e.owner), quoteLiteral(e.checksum), json(e.lastRun), json(e.checkpoint), quoteLiteral(e.error)];
    // The newer columns only when there is something to put in them: a record then also
    // goes into a journal of an earlier zsetup (a run that has not called init()).
    const more: Array<[string, string]> = [];
    if (e.via !== undefined) more.push(['via', quoteLiteral(e.via)]);
    if (e.sql !== undefined && e.sql.length <= MAX_RECORDED_SQL) more.push(['sql_text', quoteLiteral(e.sql)]);
    return `${clear}INSERT INTO ${this.table} (step, event, owner, checksum, last_run, checkpoint, error${more.map(([c]) => `, ${c}`).join('')}) VALUES (${[...values, ...more.map(([, v]) => v)].join(', ')})`;
  }
}

/** Per step: the latest event, the latest done, and the checkpoint of a step not done. */
function toState(rows: Row[]): Map<string, StepState> {
  const latest = new Map<string, RecordedEvent>();
  const done = new Map<string, RecordedEvent>();
  const checkpoints = new Map<string, Checkpoint>();
  for (const r of rows) {
    if (r.role === 'checkpoint') {
      const p = (r.last_run ?? {}) as { done?: number | string | null; total?: number | string | null };
      const num = (v: number | string | null | undefined) => (v === null || v === undefined ? undefined : Number(v));
      checkpoints.set(r.step, { value: r.checkpoint ?? undefined, done: num(p.done), total: num(p.total), owner: r.owner, at: toDate(r.at) });
    } else (r.role === 'latest' ? latest : done).set(r.step, toEvent(r));
  }
  const out = new Map<string, StepState>();
  for (const [step, ev] of latest) out.set(step, { step, latest: ev, lastDone: done.get(step), checkpoint: ev.event === 'done' ? undefined : checkpoints.get(step) });
  return out;
}

const json = (v: unknown) => (v === undefined ? 'NULL' : `${quoteLiteral(JSON.stringify(v))}::jsonb`);

function toDate(v: Date | string): Date {
  return v instanceof Date ? v : new Date(v);
}

function isMissing(err: unknown): boolean {
  const code = (err as { code?: string })?.code;
  return code === UNDEFINED_TABLE || code === UNDEFINED_SCHEMA;
}

function toEvent(r: Row): RecordedEvent {
  return {
    id: Number(r.id),
    step: r.step,
    event: r.event,
    owner: r.owner,
    checksum: r.checksum ?? undefined,
    lastRun: r.last_run ?? undefined,
    checkpoint: r.checkpoint ?? undefined,
    error: r.error ?? undefined,
    at: r.at instanceof Date ? r.at : new Date(r.at),
    ...(r.via === 'baseline' || r.via === 'accept' ? { via: r.via } : {}),
    ...(typeof r.sql_text === 'string' ? { sql: r.sql_text } : {}),
  };
}
