/**
 * The database contract the `pool` plugin provides: one pool (knex) plus raw sessions
 * for the engine's hot path. Every part of zsetup gets it from the container.
 */
import type { Knex } from 'knex';

/** A connection checked out of the pool (or the lock's dedicated connection). */
export interface Session {
  /** One statement with `$1`-style parameters; returns its rows. */
  query<R = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<R[]>;
  /**
   * A script of one or more statements, no parameters, in one round trip. With `onNotice`
   * (where the database has `notices`), each notice the server raises while the script
   * runs is passed on as it arrives (its message text).
   */
  exec(script: string, options?: ExecOptions): Promise<void>;
  /** Server backend pid (PostgreSQL), for cancelling a running statement. */
  readonly backendPid?: number | undefined;
  /** Cancel the statement running on this connection now (PostgreSQL cancel request). */
  cancel?(): Promise<void>;
}

export interface ExecOptions {
  readonly onNotice?: (message: string) => void;
}

/** A connection outside the pool, owned by its user (the advisory lock). */
export interface DedicatedSession extends Session {
  close(): Promise<void>;
  /** Fires when the connection dies (server terminated it, network cut). */
  onEnd(listener: (err?: Error) => void): void;
}

export interface Database {
  readonly dialect: 'postgres' | 'pglite';
  /** Where we connect, for people: never contains a password. */
  readonly target: string;
  /** The pool size (the engine never runs more steps at once than this). */
  readonly poolMax: number;
  /** The pool, for steps written with knex. */
  readonly knex: Knex;
  /**
   * Wait for the first connection, retrying what waiting may fix (`connectFault`) until the
   * connect deadline; what it cannot fix fails at once. Throws DatabaseUnreachableError (exit 5).
   */
  connect(signal?: AbortSignal): Promise<void>;
  /**
   * Check a connection out of the pool for the duration of `fn`; with `via` (a knex
   * transaction), use that transaction's connection instead.
   */
  withSession<T>(fn: (s: Session) => Promise<T>, via?: Knex | Knex.Transaction): Promise<T>;
  /**
   * `Session.exec` passes the server's notices to `onNotice` while a script runs (the
   * PostgreSQL server flushes each notice as it is raised). The engine then sends a chain of
   * SQL steps in one message and follows its progress by them (src/engine/train.ts).
   */
  readonly notices?: boolean;
  /** A connection outside the pool (PostgreSQL only). */
  dedicated?(applicationName: string): Promise<DedicatedSession>;
  /**
   * Cancel the statements running on the pool's connections now (PostgreSQL cancel
   * requests): their transactions roll back. Used when a run must stop at once.
   */
  cancelRunning?(): Promise<number>;
  /**
   * A database that dies with this process (PGlite) replays its write-ahead log from the
   * last checkpoint when it opens after a kill: after a long resumable step that is most
   * of the work done since it started. Such a database returns a statement (`CHECKPOINT`)
   * when one is due; the engine runs it inside the next checkpoint save of a resumable step
   * and reports how long it took, so a resumed run replays only the work since the last one.
   */
  checkpointDue?(): { sql: string; done(ms: number): void } | undefined;
  /**
   * Statements that give a connection of this pool its own settings (run at connect). The
   * engine resets a session after a step's code used it (`RESET ALL`: a step's `SET` must
   * not leak into the next step or the engine's records) and runs these again.
   */
  readonly sessionSetup?: string;
  /** Close the pool. Idempotent. */
  close(): Promise<void>;
}

/**
 * Quote an identifier (schema, table) that comes from config: `a"b` -> `"a""b"`.
 * @example `CREATE SCHEMA IF NOT EXISTS ${quoteIdent(config.state.schema)}` // "zsetup"
 */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/**
 * Quote a literal for scripts sent without parameters. The `E'...'` form escapes
 * backslashes too, so it is safe whatever `standard_conforming_strings` says.
 * @example `SELECT ${quoteLiteral("it's")}` // E'it''s'
 */
export function quoteLiteral(value: string | number | boolean | null | undefined): string {
  if (value === null || value === undefined) return 'NULL';
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new TypeError(`not a finite number: ${value}`);
    return String(value);
  }
  if (typeof value === 'boolean') return value ? 'TRUE' : 'FALSE';
  if (value.includes('\0')) throw new TypeError('string contains a NUL byte');
  return `E'${value.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
}
