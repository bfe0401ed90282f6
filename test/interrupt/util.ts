/**
 * Shared fixtures of the interruption tests: a config with a resumable step that fills a
 * table in batches (each batch and its checkpoint in one transaction), instrumented so a
 * test can see where each run started (`runs.started_from`) and when each batch committed
 * (a `committed N` log line), plus helpers to wait for output and read the journal.
 */
import type { ChildProcess } from 'node:child_process';
import pg from 'pg';
import type { CliResult, TestDb } from '../helpers.js';
import { HEADER } from '../helpers.js';

export interface FillOptions {
  total: number;
  batch: number;
  /** SQL run inside each batch's transaction, after the insert, before the checkpoint (e.g. `SELECT pg_sleep(0.05)`). */
  inBatchSql?: string;
  /** SQL run inside each batch's transaction after the checkpoint was saved (so after the fence), before the commit. */
  afterCheckpointSql?: string;
  /** A JS pause inside each batch's transaction, after the insert (PGlite has no pg_sleep worth the name). */
  inBatchMs?: number;
  /** `SELECT pg_sleep(s)` inside each batch's transaction, after the insert, s from the environment variable `env` of the apply (default `seconds`): one config, slow or fast runs. */
  sleepFromEnv?: { env: string; seconds: number };
  /**
   * Every batch that goes past row `after` takes advisory lock `key` (shared) in its transaction,
   * after its insert (`where: 'afterCheckpoint'`: after its checkpoint, so after its
   * fence): while the test holds it (`holdGate`), the run stops there, mid-step, with the
   * batches up to `after` committed.
   */
  gate?: { key: number; after: number; where?: 'inBatch' | 'afterCheckpoint' };
  /**
   * The same for PGlite (one process: no lock to wait for): while the file `path` exists, a
   * batch past row `after` logs `at the gate` and waits in its transaction, after its
   * insert, until the file is gone or the run is told to stop.
   */
  gateFile?: { path: string; after: number };
  /** After the run is told to stop, keep going this long before giving up (a slow cleanup). */
  lingerMs?: number;
  /** Extra top-level config keys, e.g. `apply: { retries: 2 },`. */
  extra?: string;
  /** Steps after the fill step. */
  after?: string;
}

/**
 * `01_tables` creates `rows_t(id)` (no unique key, so a duplicate would show) and
 * `runs(started_from, pid)`; `02_fill` is resumable and fills ids 1..total in batches.
 */
/** The first step of every fill config: the rows table and a log of the runs that filled it. */
export const TABLES_STEP = "step('01_tables', { sql: 'CREATE TABLE rows_t (id int NOT NULL); CREATE TABLE runs (started_from int NOT NULL, pid int NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp())' }),";

/** The statement a gated batch waits in (as pg_stat_activity shows it). */
export const GATE_QUERY = 'SELECT pg_advisory_xact_lock_shared($1)';

/** Shared: batches never wait for each other (a stopped run's open batch keeps its lock), only for the test. */
function gateSql(g: { key: number; after: number }): string {
  return `if (to > ${g.after}) await trx.raw('SELECT pg_advisory_xact_lock_shared(?)', [${g.key}]);`;
}

/**
 * The config file name the interruption tests write: plain JavaScript (`.mjs`), so that
 * each CLI they start loads it without a TypeScript transform (jiti's babel, ~0.27 s of CPU
 * per process on a config it has not cached yet). What they test does not depend on the
 * config's language; TypeScript configs are what most other tests load.
 */
export const CONFIG = 'zsetup.config.mjs';

/** The fill config, plain JavaScript (also valid TypeScript): write it as CONFIG. */
export function fillConfig(o: FillOptions): string {
  const pause = [
    o.inBatchSql ? `await trx.raw(${JSON.stringify(o.inBatchSql)});` : '',
    o.sleepFromEnv ? `await trx.raw('SELECT pg_sleep(?)', [Number(process.env.${o.sleepFromEnv.env} ?? ${o.sleepFromEnv.seconds})]);` : '',
    o.inBatchMs ? `await new Promise((r) => setTimeout(r, ${o.inBatchMs}));` : '',
    o.gate && o.gate.where !== 'afterCheckpoint' ? gateSql(o.gate) : '',
    o.gateFile
      ? `if (to > ${o.gateFile.after} && existsSync(${JSON.stringify(o.gateFile.path)})) {
                ctx.log('at the gate');
                while (existsSync(${JSON.stringify(o.gateFile.path)}) && !ctx.signal.aborted) await new Promise((r) => setTimeout(r, 20));
              }`
      : '',
  ].join('\n              ');
  return `${HEADER}${o.gateFile ? "import { existsSync } from 'node:fs';\n" : ''}
const TOTAL = ${o.total};
const BATCH = ${o.batch};
export default defineConfig({
  ${o.extra ?? ''}
  steps: [
    ${TABLES_STEP}
    step('02_fill', {
      resumable: true,
      run: async (ctx) => {
        let next = ctx.checkpoint ?? 0;
        await ctx.db.raw('INSERT INTO runs (started_from, pid) VALUES (?, ?)', [next, process.pid]);
        ctx.log('starting from ' + next);
        try {
          while (next < TOTAL) {
            ctx.signal.throwIfAborted();
            const to = Math.min(TOTAL, next + BATCH);
            await ctx.db.transaction(async (trx) => {
              await trx.raw('INSERT INTO rows_t SELECT g FROM generate_series(?::int, ?::int) g', [next + 1, to]);
              ${pause}
              await ctx.saveCheckpoint(trx, to);
              ${o.afterCheckpointSql ? `await trx.raw(${JSON.stringify(o.afterCheckpointSql)});` : ''}
              ${o.gate?.where === 'afterCheckpoint' ? gateSql(o.gate) : ''}
            });
            next = to;
            ctx.progress({ done: next, total: TOTAL });
            ctx.log('committed ' + next);
          }
        } catch (err) {
          ${o.lingerMs ? `if (ctx.signal.aborted) { ctx.log('lingering'); await new Promise((r) => setTimeout(r, ${o.lingerMs})); }` : ''}
          throw err;
        }
      },
    }),
    ${o.after ?? ''}
  ],
});
`;
}

/** Resolve once the child's stdout+stderr (from now on) match `re`; reject after `ms`. */
export function waitFor(child: ChildProcess, re: RegExp, ms = 20_000): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`no output matching ${re} within ${ms} ms; saw:\n${seen}`));
    }, ms);
    const onData = (d: Buffer) => {
      seen += d;
      const m = re.exec(seen);
      if (m) {
        cleanup();
        resolve(m);
      }
    };
    const onClose = () => {
      cleanup();
      reject(new Error(`the process ended before printing ${re}; saw:\n${seen}`));
    };
    function cleanup() {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.stderr?.off('data', onData);
      child.off('close', onClose);
    }
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.on('close', onClose);
  });
}

/** Resolve with the time (performance.now()) at which the child exited. */
export function exitTime(child: ChildProcess): Promise<number> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve(performance.now());
    child.once('exit', () => resolve(performance.now()));
  });
}

/**
 * Send `sig` to a started CLI (`times` in a row): its result, and the milliseconds from
 * the signal to the process's exit.
 */
export async function killTimed(run: { child: ChildProcess; done: Promise<CliResult> }, sig: NodeJS.Signals, times = 1): Promise<{ r: CliResult; ms: number }> {
  const exited = exitTime(run.child);
  const sent = performance.now();
  for (let i = 0; i < times; i++) run.child.kill(sig);
  const r = await run.done;
  return { r, ms: (await exited) - sent };
}

export interface JournalRow {
  step: string;
  event: string;
  owner: string;
  checkpoint: unknown;
  error: string | null;
}

export function journal(db: TestDb, schema = 'zsetup'): Promise<JournalRow[]> {
  return db.query<JournalRow>(`SELECT step, event, owner, checkpoint, error FROM ${schema}.journal ORDER BY id`);
}

/** Rows written by the fill step: total and distinct ids. */
export async function counts(db: TestDb): Promise<{ n: number; distinct: number; max: number }> {
  const [r] = await db.query<{ n: number; distinct: number; max: number }>('SELECT count(*)::int AS n, count(DISTINCT id)::int AS distinct, coalesce(max(id), 0)::int AS max FROM rows_t');
  return r!;
}

/** The committed checkpoint of a step (undefined when none). */
export async function checkpointOf(db: TestDb, step = '02_fill', schema = 'zsetup'): Promise<number | undefined> {
  const rows = await db.query<{ value: number }>(`SELECT value FROM ${schema}.checkpoints WHERE step = $1`, [step]);
  return rows[0]?.value;
}

export async function runsOf(db: TestDb): Promise<Array<{ started_from: number; pid: number }>> {
  return db.query('SELECT started_from, pid FROM runs ORDER BY at');
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Poll `fn` until it returns a truthy value; reject after `ms`. */
export async function until<T>(fn: () => Promise<T>, ms = 15_000, what = 'condition'): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() - t0 > ms) throw new Error(`${what} not reached within ${ms} ms`);
    await sleep(50);
  }
}

/** The owner id (`host:pid:run`) of a process, as the journal records it. */
export function ownerRe(pid: number): RegExp {
  return new RegExp(`:${pid}:`);
}

/** An advisory lock held (exclusively) by the test on its own connection (see FillOptions.gate). */
export interface Gate {
  /** Resolve with the pid of a backend of the test database that waits for the lock (pg_locks), once there is one. */
  waiting(what: string, ms?: number): Promise<number>;
  /** Let the waiters go (idempotent). */
  release(): Promise<void>;
}

export async function holdGate(db: TestDb, key: number): Promise<Gate> {
  const c = new pg.Client({ connectionString: db.url, application_name: 'test-gate' });
  c.on('error', () => undefined); // terminated with its database: nothing to do
  await c.connect();
  await c.query('SELECT pg_advisory_lock($1)', [key]);
  let released: Promise<void> | undefined;
  return {
    async waiting(what, ms = 60_000) {
      const rows = await until(
        async () => {
          const r = await c.query<{ pid: number }>(
            `SELECT l.pid FROM pg_locks l JOIN pg_database d ON d.oid = l.database WHERE d.datname = current_database() AND l.locktype = 'advisory' AND l.objid = $1 AND NOT l.granted`,
            [key],
          );
          return r.rows.length > 0 ? r.rows : undefined;
        },
        ms,
        what,
      );
      return rows[0]!.pid;
    },
    release() {
      released ??= (async () => {
        await c.query('SELECT pg_advisory_unlock($1)', [key]).catch(() => undefined);
        await c.end().catch(() => undefined);
      })();
      return released;
    },
  };
}
