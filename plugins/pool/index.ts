/**
 * The `pool` plugin: the only connection pool. A `pg` pool when a URL is configured, the
 * embedded PGlite otherwise. The engine's own queries use it directly; `db.knex` (for
 * steps written with knex) is created on first use on top of that same pool (knex's
 * `connectionPool`, or knex-pglite on the same PGlite instance), so `plan` and SQL-only
 * runs never load knex. Everything else gets it from the container as `Tokens.Database`;
 * nothing opens a pool of its own.
 */
import { resolve as resolvePath } from 'node:path';
import net from 'node:net';
import { readFileSync } from 'node:fs';
import type { Knex } from 'knex';
import type { Pool, PoolClient, PoolConfig, Client as PgClient, ClientConfig, QueryConfig } from 'pg';
import { requirePg } from './pg.js';
import { DataDirLock } from './datadir.js';
import { knexModules } from './knex.js';
import { connectError, formatSeconds } from './connect-error.js';
import {
  Tokens,
  instanceCachingFactory,
  ConfigError,
  LockTimeoutError,
  describeThrown,
  describeHolder,
  isConnectionFault,
  connectFault,
  sleep,
  type Database,
  type DedicatedSession,
  type ExecOptions,
  type Plugin,
  type ResolvedConfig,
  type Session,
  type EngineEvents,
  type LockHandle,
  type LockKind,
} from '../../src/plugin.js';

/**
 * Stop a dead client's running statement within 2 s (PostgreSQL 14+):
 * https://www.postgresql.org/docs/current/runtime-config-connection.html#GUC-CLIENT-CONNECTION-CHECK-INTERVAL
 */
const CHECK_INTERVAL = 'SET client_connection_check_interval = 2000';

/**
 * The pool plugin. Registered by default; list it yourself only to replace it.
 * @example plugins: [pool()]
 */
export function pool(): Plugin {
  return {
    name: 'pool',
    register(c, config) {
      c.register(Tokens.Database, {
        useFactory: instanceCachingFactory((dc) => (config.database.url ? new PostgresDatabase(config, dc.resolve(Tokens.Events)) : new PgliteDatabase(config, dc.resolve(Tokens.Events)))),
      });
      c.register(Tokens.LockKind, { useValue: dataDirKind });
    },
  };
}

/**
 * `lock.kind: "datadir"`, the default on the embedded PGlite: the run lock is the data-dir
 * lock, fenced in PGlite's session (the run's owner already holds the lock file since the
 * pool opened the data dir; the run lock joins that hold).
 */
export const dataDirKind: LockKind = {
  name: 'datadir',
  create(c) {
    const db = c.resolve(Tokens.Database);
    if (!(db instanceof PgliteDatabase)) throw new Error(`it locks the embedded PGlite's data dir, and ${db.target} is not one: with a PostgreSQL server, use lock.kind "advisory" or "lease"`);
    return new DataDirLock(db.dataDir, { db });
  },
};

/** `postgres://user@host:port/db`, without the password: safe to print. */
export function describeUrl(url: string): { target: string; host: string; port: string; database: string; user: string } {
  try {
    const u = new URL(url);
    const host = decodeURIComponent(u.hostname || u.searchParams.get('host') || 'localhost');
    const port = u.port || '5432';
    const database = decodeURIComponent(u.pathname.replace(/^\//, '')) || '(default)';
    const user = decodeURIComponent(u.username || '(default)');
    return { target: `postgres://${u.username ? `${u.username}@` : ''}${u.hostname}:${port}/${u.pathname.replace(/^\//, '')}`, host, port, database, user };
  } catch {
    return { target: 'postgres (unparsable URL)', host: '?', port: '?', database: '?', user: '?' };
  }
}

// require, not import, for CommonJS packages: see src/cjs.ts.
const pg = requirePg();

class PostgresDatabase implements Database {
  /** Made again after the engine resets a session a step used (the server accepted it once). */
  sessionSetup: string | undefined;
  readonly dialect = 'postgres' as const;
  /** The server flushes each notice as it is raised; pg emits it as it arrives. */
  readonly notices = true;
  readonly target: string;
  readonly poolMax: number;
  private readonly where: ReturnType<typeof describeUrl>;
  private readonly pool: Pool;
  private _knex: Knex | undefined;
  private closed = false;

  constructor(
    private readonly config: ResolvedConfig,
    events?: EngineEvents,
  ) {
    // plan and status only read, one short statement each: the check interval below guards
    // long statements of a client that died, so their connections go without it and its
    // round trip (the command is told by run.started, just before connect()).
    this.unlisten = events?.on((e) => {
      if (e.type !== 'run.started') return;
      this.readsOnly = e.command === 'plan' || e.command === 'status';
      this.writes = e.command === 'apply' || e.command === 'cleanup';
    });
    this.where = describeUrl(config.database.url!);
    this.target = this.where.target;
    this.poolMax = config.database.pool.max;
    const p = config.database.pool;
    const connectTimeout = this.connectTimeoutMs();
    // The per-connection connect timeout; the pool itself waits for a free slot unbounded
    // (pg.Pool would apply the same option to both). pg reports an attempt it ended on that
    // timeout as "Connection terminated unexpectedly", like a reset: it is said as ETIMEDOUT.
    class Client extends pg.Client {
      constructor(o: ClientConfig) {
        super({ ...o, connectionTimeoutMillis: connectTimeout });
      }
      override connect(): Promise<PgClient>;
      override connect(callback: (err: Error) => void): void;
      override connect(callback?: (err: Error) => void): Promise<PgClient> | void {
        if (!callback) return super.connect();
        const t0 = Date.now();
        const done = callback as (err: Error, ...rest: unknown[]) => void;
        super.connect(((err: Error, ...rest: unknown[]) => done(err && Date.now() - t0 >= connectTimeout && !(err as { code?: unknown }).code ? timedOut(err, connectTimeout) : err, ...rest)) as (err: Error) => void);
      }
    }
    this.pool = new pg.Pool({
      connectionString: config.database.url!,
      application_name: 'zsetup',
      max: p.max,
      idleTimeoutMillis: p.idleTimeoutMs,
      maxLifetimeSeconds: Math.max(1, Math.round(p.maxLifetimeMs / 1000)),
      connectionTimeoutMillis: 0,
      Client,
    } as unknown as PoolConfig);
    // An idle connection that dies (server restart) must not crash the process.
    this.pool.on('error', () => undefined);
    // PostgreSQL 14+: a backend whose client died (SIGKILL, node lost) stops its running
    // statement within 2 s instead of finishing it (an orphaned CREATE INDEX can run for
    // hours). Older servers reject the setting; that is harmless.
    this.pool.on('connect', (c) => {
      // pg-pool listens for errors only while a client is idle: a connection terminated
      // while checked out (between two queries of a transaction) would emit an unhandled
      // 'error' and crash the process. The client is unusable afterwards; the next query
      // on it fails (a transient error the engine retries) and release drops it.
      c.on('error', () => undefined);
      if (this.readsOnly) return;
      // The connection's first round trip; connect() waits for it as its proof that the
      // server answers, instead of a SELECT 1 of its own (one round trip less per command).
      this.setups.set(
        c,
        c.query(CHECK_INTERVAL).then(
          () => {
            this.sessionSetup = CHECK_INTERVAL;
            return undefined;
          },
          (err: unknown) => err,
        ),
      );
    });
    this.pool.on('acquire', (c) => this.active.add(c));
    this.pool.on('release', (_err, c) => this.active.delete(c));
    this.pool.on('remove', (c) => this.active.delete(c));
  }

  private readonly active = new Set<PoolClient>();
  /** Per pool connection, its setup statement: undefined once it succeeded, else its error. */
  private readonly setups = new WeakMap<PoolClient, Promise<unknown>>();
  /** The command only reads (plan, status): its connections skip the setup statement. */
  private readsOnly = false;
  /** The command writes (apply, cleanup): it takes the run lock. */
  private writes = false;
  /**
   * The advisory lock's connection, opened while the pool's first one is: each costs a
   * backend start (15-20 ms here), and the lock asks for its connection only after the pool
   * answered. Taken by the first dedicated() call, closed with the pool if none comes.
   */
  private spare: Promise<PgClient> | undefined;
  private unlisten: (() => void) | undefined;

  async cancelRunning(): Promise<number> {
    const busy = [...this.active].filter((c) => (c as unknown as { _activeQuery?: unknown })._activeQuery);
    await Promise.all(busy.map((c) => sendCancel(c as unknown as PgWire).catch(() => undefined)));
    return busy.length;
  }

  private connectTimeoutMs(): number {
    return Math.min(5000, Math.max(1000, this.config.database.pool.connectTimeoutMs));
  }

  get knex(): Knex {
    if (!this._knex) {
      this._knex = knexModules().knex({ client: 'pg', connectionPool: this.pool } as Knex.Config);
    }
    return this._knex;
  }

  async withSession<T>(fn: (s: Session) => Promise<T>, via?: Knex | Knex.Transaction): Promise<T> {
    if (via) {
      const client = via.client as { acquireConnection(): Promise<PgClient>; releaseConnection(c: unknown): Promise<void> };
      const raw = await client.acquireConnection();
      try {
        return await fn(wrapPg(raw));
      } finally {
        await client.releaseConnection(raw);
      }
    }
    const client = await this.pool.connect();
    let broken: Error | undefined;
    try {
      return await fn(wrapPg(client));
    } catch (err) {
      // A connection-level failure: do not give the connection back for reuse.
      if (!(err as { code?: string })?.code || isConnectionFault(err)) broken = err as Error;
      // An SQL error inside a script's transaction (a record a state store refused, a step's
      // error) leaves the session in an aborted transaction: end it before the connection
      // goes back, or its next user gets 25P02. Outside a transaction this only warns.
      else await client.query('ROLLBACK').catch((e: unknown) => (broken = e as Error));
      throw err;
    } finally {
      client.release(broken);
    }
  }

  async connect(signal?: AbortSignal): Promise<void> {
    this.unlisten?.();
    this.unlisten = undefined;
    const total = this.config.database.pool.connectTimeoutMs;
    const started = Date.now();
    const deadline = started + total;
    if (this.writes && this.config.lock.kind === 'advisory' && this.spare === undefined) {
      this.spare = this.openClient('zsetup');
      this.spare.catch(() => undefined);
    }
    for (let attempts = 1; ; attempts++) {
      try {
        await this.answers();
        return;
      } catch (err) {
        // Only what waiting may fix is retried (connectFault, src/classify.ts): a missing
        // database or role, a wrong password, pg_hba.conf, SSL, the CONNECT privilege fail now.
        if (!connectFault(err).retry || Date.now() >= deadline || signal?.aborted) {
          const w = this.where;
          throw connectError(
            err,
            { url: this.config.database.url!, urlFrom: this.config.database.urlFrom, host: w.host, port: w.port, database: w.database, user: w.user },
            { attempts, elapsedMs: Date.now() - started, timeoutMs: total, attemptTimeoutMs: this.connectTimeoutMs() },
          );
        }
        await sleep(Math.min(1000, Math.max(0, deadline - Date.now())), signal);
      }
    }
  }

  /**
   * The server answers on a pool connection: the handshake ended ready for queries, and the
   * connection's setup statement (if it has one) came back. An SQL error is an answer too (a
   * server before 14 does not know the setting); a dropped connection is not.
   */
  private async answers(): Promise<void> {
    const client = await this.pool.connect();
    let broken: Error | undefined;
    try {
      const failed = await this.setups.get(client);
      if (failed !== undefined && (!(failed as { code?: string })?.code || isConnectionFault(failed))) throw failed;
    } catch (err) {
      broken = err as Error;
      throw err;
    } finally {
      client.release(broken);
    }
  }

  /** A client outside the pool, connected; an error event never goes unhandled. */
  private async openClient(applicationName: string): Promise<PgClient> {
    const client = new pg.Client({ connectionString: this.config.database.url!, application_name: applicationName, connectionTimeoutMillis: this.connectTimeoutMs() });
    client.on('error', () => undefined);
    try {
      await client.connect();
    } catch (err) {
      client.end().catch(() => undefined);
      throw err;
    }
    return client;
  }

  /** The spare connection if it opened (renamed `applicationName`), else undefined. */
  private async takeSpare(applicationName: string): Promise<PgClient | undefined> {
    const spare = this.spare;
    this.spare = undefined;
    const client = await spare?.catch(() => undefined);
    if (!client) return undefined;
    try {
      await client.query({ text: "SELECT set_config('application_name', $1, false)", values: [applicationName] });
      return client;
    } catch {
      client.end().catch(() => undefined);
      return undefined;
    }
  }

  async dedicated(applicationName: string): Promise<DedicatedSession> {
    const client = (await this.takeSpare(applicationName)) ?? (await this.openClient(applicationName));
    const listeners: Array<(err?: Error) => void> = [];
    let ended = false;
    const fire = (err?: Error) => {
      if (ended) return;
      ended = true;
      for (const l of listeners) l(err);
    };
    client.on('error', (err) => fire(err));
    client.on('end', () => fire());
    const s = wrapPg(client);
    return {
      ...s,
      async close() {
        ended = true;
        // The Terminate message goes out now; the server's side of the close (its backend
        // exiting, ~10 ms here) is not waited for: the lock was released by then, or dies with it.
        const end = client.end();
        end.catch(() => undefined);
        await Promise.race([end, new Promise((r) => setImmediate(r))]);
      },
      onEnd(l) {
        listeners.push(l);
      },
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const spare = this.spare;
    this.spare = undefined;
    void spare?.then((c) => c.end()).catch(() => undefined);
    // Every connection is told to terminate now; the servers' side of the close (a backend
    // exiting, ~10 ms each) is not waited for beyond a moment: nothing is in flight by now,
    // and a stopped run should exit at once.
    const ends = Promise.all([this._knex?.destroy(), this.pool.end()]).catch(() => undefined);
    await Promise.race([ends, new Promise((r) => setTimeout(r, 5))]);
  }
}

interface PgWire {
  host: string;
  port: number;
  processID: number | null;
  secretKey: number | null;
}

/**
 * A PostgreSQL CancelRequest on a fresh socket (16 bytes: length, code 80877102, pid,
 * secret key). It takes no connection slot and needs no authentication; the server
 * cancels the backend's running statement, whose transaction then rolls back.
 */
function sendCancel(c: PgWire): Promise<void> {
  return new Promise((resolve, reject) => {
    if (c.processID === null || c.secretKey === null) return resolve();
    const msg = Buffer.alloc(16);
    msg.writeInt32BE(16, 0);
    msg.writeInt32BE(80877102, 4);
    msg.writeInt32BE(c.processID, 8);
    msg.writeInt32BE(c.secretKey, 12);
    const sock = c.host.startsWith('/') ? net.connect(`${c.host}/.s.PGSQL.${c.port}`) : net.connect(c.port, c.host);
    const timer = setTimeout(() => sock.destroy(new Error('cancel request timed out')), 2000);
    sock.on('connect', () => sock.end(msg));
    sock.on('close', () => {
      clearTimeout(timer);
      resolve();
    });
    sock.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

/** A filesystem error on the data dir (or `what`), in words. */
function fsProblem(err: unknown, what: string): string {
  const code = (err as NodeJS.ErrnoException)?.code;
  switch (code) {
    case 'EEXIST':
    case 'ENOTDIR':
      return `${what} or one of its parent folders is a file, not a folder`;
    case 'EACCES':
    case 'EPERM':
      return `no permission to create or open ${what === 'it' ? 'it' : what} (${code})`;
    case 'EROFS':
      return 'the file system is read-only';
    case 'ENOSPC':
      return 'no space left on the device';
    default:
      return describeThrown(err);
  }
}

/** Why PGlite could not open a data dir, when the files tell (undefined: they do not). */
function diagnoseDataDir(dir: string): string | undefined {
  const read = (f: string) => {
    try {
      return readFileSync(`${dir}/${f}`);
    } catch {
      return undefined;
    }
  };
  const version = read('PG_VERSION')?.toString('utf8').trim();
  if (version !== undefined && version !== PGLITE_PG_MAJOR) {
    return `its PG_VERSION says PostgreSQL ${JSON.stringify(version).slice(1, -1)}, but the embedded PGlite runs PostgreSQL ${PGLITE_PG_MAJOR}: it was made by another version (point database.pglite.dataDir at a new folder, or dump and restore)`;
  }
  const control = read('global/pg_control');
  if (version !== undefined && control === undefined) return 'global/pg_control is missing: the data dir is damaged (restore it, or point database.pglite.dataDir at a new folder)';
  if (control !== undefined && control.length !== 8192) {
    return `global/pg_control is ${control.length} bytes instead of 8192: the data dir is damaged (restore it, or point database.pglite.dataDir at a new folder)`;
  }
  return undefined;
}

/** The PostgreSQL major version of the embedded PGlite (@electric-sql/pglite 0.5: PostgreSQL 18). */
const PGLITE_PG_MAJOR = '18';

/** An attempt pg ended on its connect timeout (it says "Connection terminated unexpectedly"), said as such. */
function timedOut(err: Error, ms: number): Error {
  return Object.assign(new Error(`no answer within ${formatSeconds(ms)}`, { cause: err }), { code: 'ETIMEDOUT' });
}

function wrapPg(c: PgClient | PoolClient): Session {
  return {
    async query<R>(sql: string, params?: readonly unknown[]) {
      // With a parameter array, even an empty one, the extended protocol: exactly one
      // statement per call, as on PGlite (pg would send `[]` as a simple query, which runs
      // any number of statements).
      const r = await c.query(params ? ({ text: sql, values: params as unknown[], queryMode: 'extended' } as QueryConfig) : sql);
      // Without parameters, a script of several statements is one round trip (the simple
      // protocol): pg gives a result per statement, and the last one's rows are returned.
      const results = r as unknown as Array<{ rows: unknown[] }>;
      return (Array.isArray(results) ? (results[results.length - 1]?.rows ?? []) : r.rows) as R[];
    },
    async exec(script: string, options?: ExecOptions) {
      const onNotice = options?.onNotice;
      if (!onNotice) {
        await c.query(script);
        return;
      }
      const listener = (n: { message?: string }) => onNotice(String(n.message ?? ''));
      c.on('notice', listener);
      try {
        await c.query(script);
      } finally {
        c.off('notice', listener);
      }
    },
    backendPid: (c as unknown as { processID?: number }).processID,
    cancel: () => sendCancel(c as unknown as PgWire),
  };
}

interface PGliteLike {
  query(sql: string, params?: unknown[]): Promise<{ rows: unknown[] }>;
  exec(sql: string): Promise<unknown>;
  close(): Promise<void>;
  closed?: boolean;
  waitReady: Promise<void>;
}

/**
 * PGlite: one process, one connection. The data dir is locked for as long as the
 * database is open (every command, `plan` and `status` included). Sessions take turns.
 */
class PgliteDatabase implements Database {
  readonly dialect = 'pglite' as const;
  readonly target: string;
  readonly poolMax = 1;
  readonly dataDir: string;
  private pglite: PGliteLike | undefined;
  private lock: LockHandle | undefined;
  private _knex: Knex | undefined;
  private turn: Promise<unknown> = Promise.resolve();
  private closed = false;
  /** End and duration of the last CHECKPOINT we ran (see checkpointDue). */
  private lastCheckpoint = { at: 0, ms: 0 };

  constructor(private readonly config: ResolvedConfig, private readonly events: EngineEvents) {
    this.dataDir = resolvePath(config.dir, config.database.pglite.dataDir);
    this.target = `pglite:${config.database.pglite.dataDir}`;
  }

  get knex(): Knex {
    if (!this.pglite) throw new Error('PGlite: call connect() first');
    if (!this._knex) {
      const { knex, ClientPgLite } = knexModules();
      this._knex = knex({ client: ClientPgLite, connection: { pglite: this.pglite } as never });
    }
    return this._knex;
  }

  /**
   * PGlite has no checkpointer process: the WAL is checkpointed when it closes cleanly. After
   * a kill, opening the data dir replays everything since, measured ~0.55 s for 180,000 rows
   * written in 1.2 s (a resumed run then cost 60-75% of a full one). A checkpoint every
   * 0.5 s of work, and never more than a fifth of the time, bounds that; the full run was
   * not slower (its closing checkpoint has less left to write). It runs inside the step's
   * batch transaction, so it must never fail that batch: a step that switched to a role
   * without the right to checkpoint, or set a statement timeout, only loses the checkpoint.
   */
  checkpointDue(): { sql: string; done(ms: number): void } | undefined {
    const now = performance.now();
    if (now - this.lastCheckpoint.at < Math.max(500, 4 * this.lastCheckpoint.ms)) return undefined;
    return {
      sql: 'DO $zsetup_checkpoint$ BEGIN CHECKPOINT; EXCEPTION WHEN OTHERS OR query_canceled THEN NULL; END $zsetup_checkpoint$',
      done: (ms) => (this.lastCheckpoint = { at: performance.now(), ms }),
    };
  }

  private wrap(p: PGliteLike): Session {
    return {
      async query<R>(sql: string, params?: readonly unknown[]) {
        return (await p.query(sql, params as unknown[] | undefined)).rows as R[];
      },
      async exec(script: string) {
        await p.exec(script);
      },
    };
  }

  async withSession<T>(fn: (s: Session) => Promise<T>, via?: Knex | Knex.Transaction): Promise<T> {
    if (!this.pglite) throw new Error('PGlite: call connect() first');
    const p = this.pglite;
    if (via) return fn(this.wrap(p));
    // The one session: an error inside a script's transaction must not leave it aborted (25P02 for the next user).
    const run = this.turn.then(() => fn(this.wrap(p)).catch(async (err: unknown) => {
      await p.exec('ROLLBACK').catch(() => undefined);
      throw err;
    }));
    this.turn = run.catch(() => undefined);
    return run;
  }

  async connect(signal?: AbortSignal): Promise<void> {
    if (this.pglite) return;
    const lock = new DataDirLock(this.dataDir);
    try {
      this.lock = await lock.acquire({
        owner: this.config.owner,
        timeoutMs: this.config.lock.timeoutMs,
        signal,
        onWait: (holder, waitedMs) => this.events.emit({ type: 'lock.waiting', lock: lock.description, holder: describeHolder(holder), waitedMs }),
      });
    } catch (err) {
      if (err instanceof LockTimeoutError) throw err;
      throw this.cannotOpen(fsProblem(err, `its lock file ${lock.path}`));
    }
    try {
      const { mkdir, readdir } = await import('node:fs/promises');
      let entries: string[];
      try {
        await mkdir(this.dataDir, { recursive: true });
        entries = await readdir(this.dataDir);
      } catch (err) {
        throw this.cannotOpen(fsProblem(err, 'it'));
      }
      // As initdb does: a folder that holds files but no cluster is someone else's.
      // (A cluster whose creation was killed before PG_VERSION has only PostgreSQL's own names.)
      if (entries.length > 0 && !entries.includes('PG_VERSION') && !entries.every((e) => /^(pg_\w+|global|base|postgresql\.\w+(\.conf)?|postmaster\.\w+)$/.test(e))) {
        throw this.cannotOpen(`it is not empty (${entries.length} entr${entries.length === 1 ? 'y' : 'ies'}, such as ${JSON.stringify(entries.sort()[0])}) and holds no PostgreSQL data dir (no PG_VERSION); point database.pglite.dataDir at a new or empty folder`);
      }
      // A new cluster takes a while (initdb in WASM: 5-20 s here): say so before the silence.
      if (!entries.includes('PG_VERSION')) this.events.emit({ type: 'log', level: 'info', message: `initialising a new embedded PGlite database in ${this.dataDir} (once; this takes 5-20 s)` });
      const { PGlite } = await import('@electric-sql/pglite');
      let p: PGliteLike;
      try {
        p = new PGlite(this.dataDir) as unknown as PGliteLike;
        await p.waitReady;
      } catch (err) {
        // PGlite says "Aborted()" or "failed to initialize properly": find out why.
        throw this.cannotOpen(diagnoseDataDir(this.dataDir) ?? `PGlite could not open it (${describeThrown(err)}); it may be damaged or made by another PostgreSQL version`);
      }
      this.pglite = p;
      this.lastCheckpoint = { at: performance.now(), ms: 0 };
    } catch (err) {
      await this.close();
      throw err;
    }
  }

  /** A data dir that cannot be used: a config error naming it and the cause (exit 2, nothing changed). */
  private cannotOpen(cause: string): ConfigError {
    return new ConfigError([
      { file: this.config.displayFile, path: 'database.pglite.dataDir', message: `cannot open the PGlite data dir ${this.dataDir}: ${cause}` },
    ]);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.turn;
      // knex-pglite closes the PGlite instance when knex is destroyed.
      if (this._knex) await this._knex.destroy().catch(() => undefined);
      if (this.pglite && !this.pglite.closed) await this.pglite.close().catch(() => undefined);
    } finally {
      await this.lock?.release();
      this.lock = undefined;
    }
  }
}
