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
 * - `fatal-connect`: the server (or the TLS handshake) turned a new connection down for a
 *   reason no retry fixes: the database or the role does not exist, the password is wrong,
 *   pg_hba.conf has no entry, no CONNECT privilege, SSL required or not supported, an
 *   untrusted certificate. A person must change the URL or the server: fail at once.
 * - `sql`: any other SQLSTATE: the statement is wrong or the data says no.
 * - `other`: not a database error at all.
 *
 * The error a step throws may wrap the database error (`{ cause }`): the chain is walked,
 * and the first error in it with an SQLSTATE decides, as in golang-migrate's drivers.
 */

export type FaultClass = 'lock-lost' | 'connection' | 'transient' | 'fatal-connect' | 'sql' | 'other';

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

/**
 * Node's network errors that may pass: nothing listens yet, no route yet, no answer, a
 * name DNS does not know yet (a Kubernetes headless Service publishes a pod's name only
 * once it is ready; docker compose's DNS knows a service once its container runs).
 */
const NETWORK_ERRNOS = new Set(['ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'ETIMEDOUT', 'EHOSTUNREACH', 'EHOSTDOWN', 'ENETUNREACH', 'ENETDOWN', 'EADDRNOTAVAIL', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE']);

/** Node's TLS errors of a certificate the client does not trust (pg's sslmode=require verifies it). */
const TLS_CERT_CODES = /^(?:DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT(?:_LOCALLY)?|CERT_HAS_EXPIRED|CERT_NOT_YET_VALID|CERT_UNTRUSTED|CERT_REJECTED|CERT_SIGNATURE_FAILURE|ERR_TLS_CERT_ALTNAME_INVALID|HOSTNAME_MISMATCH)$/;

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
  if (refusal(errors) !== undefined) return 'fatal-connect';
  for (const e of errors) {
    // Node's own error codes are not SQLSTATEs, though EPIPE has the shape of one (no SQLSTATE
    // class starts with E): a write to a connection the server closed is a connection fault.
    if (e.code === undefined || !SQLSTATE.test(e.code) || NODE_ERRNO.test(e.code)) continue;
    if (isConnectionCode(e.code)) return 'connection';
    return TRANSIENT_CODES.has(e.code) ? 'transient' : 'sql';
  }
  return errors.some((e) => (e.code !== undefined && NETWORK_ERRNOS.has(e.code)) || CONNECTION_FAULT_MESSAGE.test(e.message ?? '')) ? 'connection' : 'other';
}

/**
 * Why a new connection failed, for the first connection's retry loop and its message
 * (`fatal-connect` reasons fail at once; the others are retried within the connect timeout).
 */
export type ConnectReason =
  // turned down: fail at once (classifyFault: 'fatal-connect')
  | 'database-missing' // 3D000
  | 'role-missing' // 28000 role "x" does not exist
  | 'auth-failed' // 28P01, or the server asks for a password the URL does not have
  | 'pg-hba' // 28000 no pg_hba.conf entry / rejected by pg_hba.conf
  | 'ssl-required' // 28000 no pg_hba.conf entry ... no encryption: only SSL connections are let in
  | 'ssl-unsupported' // the server answered 'N' to the SSLRequest
  | 'ssl-certificate' // the server's certificate is not trusted
  | 'connect-privilege' // 42501 on CONNECT
  // waiting may help: retried until the connect timeout
  | 'refused' // ECONNREFUSED: nothing listens there (yet)
  | 'timeout' // no answer within one attempt's timeout (ETIMEDOUT)
  | 'host-unknown' // ENOTFOUND, EAI_AGAIN: the name does not resolve (yet)
  | 'network' // EHOSTUNREACH, ENETUNREACH: no route (yet)
  | 'starting' // 57P03: the server is starting up, shutting down or in recovery
  | 'too-many' // 53300: no connection slot left
  | 'reset' // closed or reset during the startup, 08xxx, 57P01/57P02
  // neither: the server answered no (another SQLSTATE), or an error we do not know
  | 'refused-other'
  | 'other';

export interface ConnectFault {
  reason: ConnectReason;
  /** Worth another attempt within the connect timeout. */
  retry: boolean;
  /** The SQLSTATE the server sent, if it sent one. */
  sqlstate: string | undefined;
}

/**
 * What a failed attempt to open a connection means (one model with `classifyFault`: its
 * `fatal-connect` errors are never retried, its `connection` and `transient` ones are).
 * Anything else the server answered (another SQLSTATE: a bad startup parameter) is not
 * retried either, nor is an error that is no network fault at all: only refusals,
 * timeouts, resets, unresolved names and a server that cannot take the connection yet are.
 * @example connectFault(Object.assign(new Error('database "x" does not exist'), { code: '3D000', severity: 'FATAL' })) // { reason: 'database-missing', retry: false, sqlstate: '3D000' }
 */
export function connectFault(err: unknown): ConnectFault {
  const errors = errorChain(err);
  const sqlstate = sqlState(err);
  const turnedDown = refusal(errors, true);
  if (turnedDown) return { reason: turnedDown, retry: false, sqlstate };
  const has = (...codes: string[]) => errors.some((e) => e.code !== undefined && codes.includes(e.code));
  if (sqlstate === '57P03') return { reason: 'starting', retry: true, sqlstate };
  if (sqlstate === '53300') return { reason: 'too-many', retry: true, sqlstate };
  if (sqlstate !== undefined) return isConnectionCode(sqlstate) ? { reason: 'reset', retry: true, sqlstate } : { reason: 'refused-other', retry: false, sqlstate };
  if (has('ECONNREFUSED')) return { reason: 'refused', retry: true, sqlstate };
  if (has('ETIMEDOUT')) return { reason: 'timeout', retry: true, sqlstate };
  if (has('ENOTFOUND', 'EAI_AGAIN')) return { reason: 'host-unknown', retry: true, sqlstate };
  if (has('EHOSTUNREACH', 'EHOSTDOWN', 'ENETUNREACH', 'ENETDOWN', 'EADDRNOTAVAIL')) return { reason: 'network', retry: true, sqlstate };
  if (classifyFault(err) === 'connection') return { reason: 'reset', retry: true, sqlstate };
  return { reason: 'other', retry: false, sqlstate };
}

/**
 * The reason a server (or TLS) turned a new connection down for good, if it did. 3D000
 * and 42501 count only as the server's FATAL answer to a connection (or while
 * `connecting`, whatever the severity says: a server with localized messages localizes
 * it): a statement's ERROR with those codes (ALTER DATABASE of a missing one, a table
 * without the right) is an SQL error. Class 28 (invalid authorization) is only ever
 * raised while logging in.
 */
function refusal(errors: ReturnType<typeof errorChain>, connecting = false): ConnectReason | undefined {
  for (const e of errors) {
    const message = e.message ?? '';
    const fatal = connecting || read(e.value, 'severity') === 'FATAL';
    if (e.code === '3D000' && fatal) return 'database-missing';
    if (e.code === '42501' && fatal) return 'connect-privilege';
    if (e.code === '28P01') return 'auth-failed';
    if (e.code !== undefined && e.code.startsWith('28') && SQLSTATE.test(e.code)) {
      if (/^role ".*" does not exist/.test(message)) return 'role-missing';
      // PostgreSQL 12+ says "no encryption", older ones "SSL off".
      if (/no pg_hba\.conf entry.*(?:no encryption|SSL off)/.test(message)) return 'ssl-required';
      if (/SSL (?:connection )?(?:is )?required|requires? SSL/i.test(message)) return 'ssl-required';
      return /password|authentication/i.test(message) ? 'auth-failed' : 'pg-hba';
    }
    if (e.code !== undefined && TLS_CERT_CODES.test(e.code)) return 'ssl-certificate';
    if (/does not support SSL connections/.test(message)) return 'ssl-unsupported';
    if (/^SASL: /.test(message)) return 'auth-failed';
  }
  return undefined;
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
