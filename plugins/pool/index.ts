/**
 * The `pool` plugin: the only connection pool. knex over `pg` when a URL is configured,
 * the embedded PGlite (through knex-pglite) otherwise. Everything else gets it from the
 * container as `Tokens.Database`; nothing opens a pool of its own.
 */
import { resolve as resolvePath } from 'node:path';
import knexFactory, { type Knex } from 'knex';
import pg from 'pg';
import {
  Tokens,
  instanceCachingFactory,
  DatabaseUnreachableError,
  DataDirLock,
  describeHolder,
  sleep,
  type Database,
  type DedicatedSession,
  type Plugin,
  type ResolvedConfig,
  type Session,
  type EngineEvents,
  type LockHandle,
} from '../../src/index.js';

/**
 * The pool plugin. Registered by default; list it yourself only to replace it.
 * @example plugins: [pool()]
 */
export function pool(): Plugin {
  return {
    name: 'pool',
    register(c, config) {
      c.register(Tokens.Database, {
        useFactory: instanceCachingFactory((dc) => (config.database.url ? new PostgresDatabase(config) : new PgliteDatabase(config, dc.resolve(Tokens.Events)))),
      });
    },
  };
}

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

abstract class KnexDatabase implements Database {
  abstract readonly dialect: 'postgres' | 'pglite';
  abstract readonly target: string;
  abstract readonly poolMax: number;
  protected _knex: Knex | undefined;
  private closed = false;

  get knex(): Knex {
    if (!this._knex) this._knex = this.createKnex();
    return this._knex;
  }

  protected abstract createKnex(): Knex;
  abstract connect(signal?: AbortSignal): Promise<void>;
  protected abstract wrap(raw: unknown): Session;

  async withSession<T>(fn: (s: Session) => Promise<T>, via?: Knex | Knex.Transaction): Promise<T> {
    const client = (via ?? this.knex).client as { acquireConnection(): Promise<unknown>; releaseConnection(c: unknown): Promise<void> };
    const raw = await client.acquireConnection();
    try {
      return await fn(this.wrap(raw));
    } finally {
      await client.releaseConnection(raw);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this._knex) await this._knex.destroy().catch(() => undefined);
  }
}

class PostgresDatabase extends KnexDatabase {
  readonly dialect = 'postgres' as const;
  readonly target: string;
  readonly poolMax: number;
  private readonly where: ReturnType<typeof describeUrl>;

  constructor(private readonly config: ResolvedConfig) {
    super();
    this.where = describeUrl(config.database.url!);
    this.target = this.where.target;
    this.poolMax = config.database.pool.max;
  }

  private pgConfig(applicationName: string): pg.ClientConfig {
    return {
      connectionString: this.config.database.url!,
      application_name: applicationName,
      connectionTimeoutMillis: Math.min(5000, Math.max(1000, this.config.database.pool.connectTimeoutMs)),
    };
  }

  protected createKnex(): Knex {
    const p = this.config.database.pool;
    return knexFactory({
      client: 'pg',
      connection: this.pgConfig('zsetup') as Knex.PgConnectionConfig,
      pool: {
        min: 0,
        max: p.max,
        idleTimeoutMillis: p.idleTimeoutMs,
        maxConnectionLifetimeMillis: p.maxLifetimeMs,
        propagateCreateError: true,
      } as Knex.PoolConfig,
      acquireConnectionTimeout: 600_000,
    });
  }

  protected wrap(raw: unknown): Session {
    return wrapPg(raw as pg.Client);
  }

  async connect(signal?: AbortSignal): Promise<void> {
    const deadline = Date.now() + this.config.database.pool.connectTimeoutMs;
    for (;;) {
      try {
        await this.withSession((s) => s.query('SELECT 1'));
        return;
      } catch (err) {
        if (Date.now() >= deadline || signal?.aborted) {
          const w = this.where;
          throw new DatabaseUnreachableError(
            `cannot reach PostgreSQL at ${w.host}:${w.port} (database "${w.database}", user "${w.user}") after ${Math.round(this.config.database.pool.connectTimeoutMs / 1000)} s: ${(err as Error).message || (err as { code?: string }).code || String(err)}`,
            { cause: err, hint: 'check ZSETUP_DATABASE_URL (or database.url) and that the server is up; raise --connect-timeout if it starts slowly' },
          );
        }
        await sleep(Math.min(1000, Math.max(0, deadline - Date.now())), signal);
      }
    }
  }

  async dedicated(applicationName: string): Promise<DedicatedSession> {
    const client = new pg.Client(this.pgConfig(applicationName));
    const listeners: Array<(err?: Error) => void> = [];
    let ended = false;
    const fire = (err?: Error) => {
      if (ended) return;
      ended = true;
      for (const l of listeners) l(err);
    };
    client.on('error', (err) => fire(err));
    client.on('end', () => fire());
    await client.connect();
    const s = wrapPg(client);
    return {
      ...s,
      backendPid: (client as unknown as { processID?: number }).processID,
      async close() {
        ended = true;
        await client.end();
      },
      onEnd(l) {
        listeners.push(l);
      },
    };
  }
}

function wrapPg(c: pg.Client): Session {
  return {
    async query<R>(sql: string, params?: readonly unknown[]) {
      const r = await c.query(sql, params as unknown[] | undefined);
      return r.rows as R[];
    },
    async exec(script: string) {
      await c.query(script);
    },
    backendPid: (c as unknown as { processID?: number }).processID,
  };
}

/**
 * PGlite: one process, one connection. The data dir is locked for as long as the
 * database is open (every command, `plan` and `status` included).
 */
class PgliteDatabase extends KnexDatabase {
  readonly dialect = 'pglite' as const;
  readonly target: string;
  readonly poolMax = 1;
  readonly dataDir: string;
  private lock: LockHandle | undefined;

  constructor(private readonly config: ResolvedConfig, private readonly events: EngineEvents) {
    super();
    this.dataDir = resolvePath(config.dir, config.database.pglite.dataDir);
    this.target = `pglite:${config.database.pglite.dataDir}`;
  }

  protected createKnex(): Knex {
    throw new Error('PGlite: call connect() first');
  }

  protected wrap(raw: unknown): Session {
    const p = raw as { query(sql: string, params?: unknown[]): Promise<{ rows: unknown[] }>; exec(sql: string): Promise<unknown> };
    return {
      async query<R>(sql: string, params?: readonly unknown[]) {
        return (await p.query(sql, params as unknown[] | undefined)).rows as R[];
      },
      async exec(script: string) {
        await p.exec(script);
      },
    };
  }

  async connect(signal?: AbortSignal): Promise<void> {
    if (this._knex) return;
    const lock = new DataDirLock(this.dataDir);
    this.lock = await lock.acquire({
      owner: this.config.owner,
      timeoutMs: this.config.lock.timeoutMs,
      signal,
      onWait: (holder, waitedMs) => this.events.emit({ type: 'lock.waiting', lock: lock.description, holder: describeHolder(holder), waitedMs }),
    });
    try {
      const { default: ClientPgLite } = await import('knex-pglite');
      const { mkdir } = await import('node:fs/promises');
      await mkdir(this.dataDir, { recursive: true });
      this._knex = knexFactory({ client: ClientPgLite as unknown as typeof Knex.Client, connection: { filename: this.dataDir } as never });
      await this.withSession((s) => s.query('SELECT 1'));
    } catch (err) {
      await this.close();
      throw err;
    }
  }

  override async close(): Promise<void> {
    try {
      await super.close();
    } finally {
      await this.lock?.release();
      this.lock = undefined;
    }
  }
}
