/**
 * One fault classifier for the whole engine: the executor (retry or fail a step), the
 * locks (reconnect and keep waiting), the pool (drop a broken connection) and the run's
 * bookkeeping (retry the state load) all ask the same question the same way.
 *
 * - `lock-lost`: the fence failed (SQLSTATE ZS001): another run holds the lock now.
 * - `connection`: the connection died (terminated, reset, refused, closed): nothing was
 *   decided on it; reconnect.
 * - `transient`: the server rolled the transaction back for a reason that may pass
 *   (serialization, deadlock, lock_timeout, too many connections): try again.
 * - `sql`: any other SQLSTATE: the statement is wrong or the data says no.
 * - `other`: not a database error at all.
 *
 * The error a step throws may wrap the database error (`{ cause }`): the chain is walked,
 * and the first error in it with an SQLSTATE decides, as in golang-migrate's drivers.
 */

export type FaultClass = 'lock-lost' | 'connection' | 'transient' | 'sql' | 'other';

/** Raised (SQLSTATE ZS001) by the fence when the run lock is no longer ours. */
export const LOCK_LOST_CODE = 'ZS001';

/**
 * Raised (SQLSTATE ZS003) by a state store's `started` record when the step is held
 * elsewhere (another tool started it and has not finished it): nothing of the record
 * committed, the step did not run, and no other record of it is written.
 */
export const START_REFUSED_CODE = 'ZS003';

/** SQLSTATEs after which the transaction rolled back and a new attempt may succeed. */
const TRANSIENT_CODES = new Set([
  '40001', // serialization_failure
  '40P01', // deadlock_detected
  '55P03', // lock_not_available (lock_timeout)
  '53300', // too_many_connections
]);

/** Messages of a connection that died under the driver (no SQLSTATE): terminated, reset, closed. */
export const CONNECTION_FAULT_MESSAGE = /Connection terminated|connection (?:was )?closed|Client has encountered a connection error|ECONNRESET|ECONNREFUSED|EPIPE|ETIMEDOUT|socket hang up|not queryable/i;

const SQLSTATE = /^[0-9A-Z]{5}$/;
const NODE_ERRNO = /^E[A-Z]{4}$/;

/** 08xxx connection exceptions, 57P01-03 (terminated by an administrator, crash, starting up). */
function isConnectionCode(code: string): boolean {
  return code.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03';
}

/**
 * What kind of fault `err` is (see the module comment).
 * @example
 * ```ts
 * try { await db.withSession((s) => s.exec(sql)); }
 * catch (err) { if (classifyFault(err) === 'connection') reconnect(); else throw err; }
 * ```
 */
export function classifyFault(err: unknown): FaultClass {
  const errors = errorChain(err);
  if (errors.some((e) => e.code === LOCK_LOST_CODE)) return 'lock-lost';
  for (const e of errors) {
    // Node's own error codes are not SQLSTATEs, though EPIPE has the shape of one (no SQLSTATE
    // class starts with E): a write to a connection the server closed is a connection fault.
    if (e.code === undefined || !SQLSTATE.test(e.code) || NODE_ERRNO.test(e.code)) continue;
    if (isConnectionCode(e.code)) return 'connection';
    return TRANSIENT_CODES.has(e.code) ? 'transient' : 'sql';
  }
  return errors.some((e) => CONNECTION_FAULT_MESSAGE.test(e.message ?? '')) ? 'connection' : 'other';
}

/** Worth another attempt of the same work: `transient` or `connection`. */
export function isRetryable(err: unknown): boolean {
  const c = classifyFault(err);
  return c === 'transient' || c === 'connection';
}

/** The connection died: reconnect (a lock waiter keeps waiting, the pool drops the client). */
export function isConnectionFault(err: unknown): boolean {
  return classifyFault(err) === 'connection';
}

/** The SQLSTATE that decides `err`'s class, if any. */
export function sqlState(err: unknown): string | undefined {
  return errorChain(err).find((e) => e.code !== undefined && SQLSTATE.test(e.code) && !NODE_ERRNO.test(e.code))?.code;
}

/**
 * The error and its causes (at most 20), as plain `{ code, message, value }` read
 * defensively: a thrown object whose getters throw (a Proxy, a `get message()` that
 * throws) must not break the path that records the failure. A cycle ends the walk.
 */
export function errorChain(err: unknown): Array<{ code?: string; message?: string; value: unknown }> {
  const out: Array<{ code?: string; message?: string; value: unknown }> = [];
  const seen = new Set<unknown>();
  // The first value always counts (even `undefined`: what was thrown); causes while there are any.
  for (let e: unknown = err; out.length === 0 || (e !== undefined && e !== null && !seen.has(e) && out.length < 20); e = read(e, 'cause')) {
    seen.add(e);
    const code = read(e, 'code');
    const message = read(e, 'message');
    out.push({ code: typeof code === 'string' ? code : undefined, message: typeof message === 'string' ? message : undefined, value: e });
    if (typeof e !== 'object' && typeof e !== 'function') break;
  }
  return out;
}

function read(o: unknown, key: string): unknown {
  if (o === null || (typeof o !== 'object' && typeof o !== 'function')) return undefined;
  try {
    return (o as Record<string, unknown>)[key];
  } catch {
    return undefined;
  }
}
