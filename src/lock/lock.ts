/**
 * The Lock contract: one run-wide lock that `apply` holds from start to end.
 *
 * How to implement a lock (prove it with `lockContract` from `zsetup/testing`):
 * 1. `acquire()` waits until the lock is free, polling outside any transaction, and gives
 *    up with `LockTimeoutError` (naming the holder) after `timeoutMs`; it calls `onWait`
 *    at most every few seconds while it waits, and stops early when `signal` aborts.
 * 2. The returned handle's `release()` is idempotent and bounded in time: a release that
 *    hangs must not keep the process alive.
 * 3. `handle.lost` aborts when the lock is known lost (connection died, lease taken over,
 *    lock file replaced), and from then on `handle.fence` fails: a run that lost its lock
 *    commits nothing more.
 * 4. `holder()` says who holds it now, without taking it.
 *
 * `pollAcquire` and `holdLock` (src/lock/skeleton.ts, in `zsetup/plugin`) do the polling,
 * timeouts, waits, checks and bounded release; a kind writes one try and one check. Make it
 * a kind `lock.kind` can choose by registering a `LockKind` under `Tokens.LockKind`.
 */
import type { DependencyContainer } from 'tsyringe';
import type { Session } from '../db.js';
import { LOCK_LOST_CODE } from '../classify.js';
import type { ResolvedConfig } from '../config/dsl.js';
export interface LockHolder {
  readonly owner: string;
  readonly since?: Date | undefined;
}

export interface AcquireOptions {
  /** Our owner id (`host:pid:run`). */
  readonly owner: string;
  /** Give up after this long; 0 tries once. */
  readonly timeoutMs: number;
  readonly signal?: AbortSignal | undefined;
  /** Called while waiting, at most every few seconds. */
  onWait?(holder: LockHolder | undefined, waitedMs: number): void;
}

export interface LockHandle {
  readonly owner: string;
  /** Aborted once the lock is known to be lost. */
  readonly lost: AbortSignal;
  /**
   * An SQL boolean expression that is true only while this handle still holds the lock,
   * evaluated inside the transaction that commits a step's work or checkpoint (fencing).
   * Every lock zsetup ships has one; `lockContract` fails a lock without it.
   */
  readonly fence?: string | undefined;
  release(): Promise<void>;
}

export interface Lock {
  /** What kind of lock this is, for messages (`advisory lock`, `lease`, `data-dir lock`). */
  readonly description: string;
  /** True when holding the lock takes a pool connection now and then (lease heartbeat). */
  readonly usesPool?: boolean;
  acquire(options: AcquireOptions): Promise<LockHandle>;
  holder(): Promise<LockHolder | undefined>;
}

/**
 * A kind of run lock, chosen by `lock.kind` (or `ZSETUP_LOCK_KIND`): registered like a
 * step kind, under `Tokens.LockKind`. Built in: `advisory` and `lease` (the `lock` plugin),
 * `datadir` (the `pool` plugin; the default for the embedded PGlite).
 *
 * @example
 * ```ts
 * c.register(Tokens.LockKind, { useValue: { name: 'table', create: (c, config) => new TableLock(c.resolve(Tokens.Database), config.lock.name) } });
 * ```
 */
export interface LockKind {
  /** What `lock.kind` says to choose it. */
  readonly name: string;
  /**
   * The lock of this invocation. Resolve what it needs from the container (the pool:
   * `Tokens.Database`) and touch no database here: `acquire()` does. Throw when the kind
   * cannot serve this config (no PostgreSQL server, say): the message is reported at
   * `lock.kind` (exit 2).
   */
  create(container: DependencyContainer, config: ResolvedConfig): Lock;
}

/** The holder of a lock, as said in waits and timeouts. */
export function describeHolder(h: LockHolder | undefined): string {
  if (!h) return 'an unknown holder (it may just have released it)';
  return h.since ? `${h.owner} since ${h.since.toISOString()}` : h.owner;
}

/** Wait `ms`, or less when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** Run `p` but give up after `ms` (used to bound releases). */
export async function withTimeout<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  let t: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<undefined>((r) => (t = setTimeout(() => r(undefined), ms).unref()))]);
  } finally {
    clearTimeout(t);
  }
}

/** A poll interval with jitter, so ten waiters do not poll in lockstep. */
export function pollDelay(attempt: number): number {
  const base = Math.min(100 * 2 ** Math.min(attempt, 3), 1000);
  return base / 2 + Math.random() * base;
}

/** How often waiters report "waiting for lock": every few seconds. */
export const WAIT_REPORT_MS = 3000;


/**
 * One statement that fails the surrounding transaction unless `condition` holds: the
 * engine runs it right before a step's `done` record or a checkpoint, in the same
 * transaction, so a run that lost its lock commits nothing more.
 */
export function fenceStatement(condition: string, notice?: string): string {
  return `DO $zsetup_fence$ BEGIN IF NOT (${condition}) THEN RAISE EXCEPTION 'zsetup: this run no longer holds the run lock; it must stop' USING ERRCODE = '${LOCK_LOST_CODE}'; END IF;${noticeOf(notice)} END $zsetup_fence$`;
}

/** A notice to the client, for a block (a literal without quotes, `%` or `$`: checked by the caller). */
function noticeOf(notice: string | undefined): string {
  return notice === undefined ? '' : ` RAISE NOTICE '${notice}';`;
}

/** `sql` preceded by the fence, when there is one: they run in the same transaction. */
export function fenced(fence: string, sql: string): string {
  return fence ? `${fence};\n${sql}` : sql;
}

// Connection faults are told apart by the one classifier (src/classify.ts).
export { CONNECTION_FAULT_MESSAGE, isConnectionFault, LOCK_LOST_CODE } from '../classify.js';

/** Run `fn` on `s` with a session lock_timeout of `ms`, reset afterwards (the connection goes back to the pool). */
export async function withLockTimeout<T>(s: Session, ms: number, fn: () => Promise<T>): Promise<T> {
  await s.exec(`SET lock_timeout = '${Math.round(ms)}ms'`);
  try {
    return await fn();
  } finally {
    await s.exec('RESET lock_timeout').catch(() => undefined);
  }
}
