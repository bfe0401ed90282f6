/**
 * The words for a first connection that failed: one line that says what happened where
 * (the URL with its password redacted, and where the URL came from), and one hint that
 * says what to change. Which failures are retried is decided by `connectFault` (the one
 * fault model, src/classify.ts); this only says them. Only a failure that waiting may fix
 * (refused, timed out, an unresolved name, a server starting up or full, a reset) ends
 * with the advice to raise --connect-timeout, and only after it was retried that long.
 */
import { DatabaseUnreachableError, connectFault, describeThrown, quoteIdent, redact, type ConnectReason } from '../../src/plugin.js';

/** Where the pool connects, for messages. */
export interface ConnectTarget {
  /** The URL as configured (redacted before it is shown). */
  url: string;
  /** Where the URL came from: `ZSETUP_DATABASE_URL` or `database.url in <file>`. */
  urlFrom: string | undefined;
  host: string;
  port: string;
  /** The database name, or `(default)` when the URL names none (the server takes the user's name). */
  database: string;
  user: string;
}

/** How long the first connection was tried. */
export interface Tried {
  attempts: number;
  elapsedMs: number;
  /** The connect timeout (--connect-timeout). */
  timeoutMs: number;
  /** One attempt's own timeout. */
  attemptTimeoutMs: number;
}

/** The error for a first connection that failed (exit 5), its message and hint said for `reason`. */
export function connectError(err: unknown, target: ConnectTarget, tried: Tried): DatabaseUnreachableError {
  const fault = connectFault(err);
  // A URL without a user or a database: pg takes PGUSER (else the OS user) and PGDATABASE
  // (else the server takes the user name), as libpq does.
  const user = target.user === '(default)' ? process.env.PGUSER || process.env.USER || process.env.USERNAME || target.user : target.user;
  const t = { ...target, user, database: target.database === '(default)' && process.env.PGDATABASE ? process.env.PGDATABASE : target.database };
  const said = fault.retry ? retried(fault.reason, err, t, tried) : turnedDown(fault.reason, err, t);
  const url = `${redact(t.url)}${t.urlFrom ? `, from ${t.urlFrom}` : ''}`;
  const message = fault.retry
    ? `${said.what}; tried ${tried.attempts} time${tried.attempts === 1 ? '' : 's'} over ${formatSeconds(tried.elapsedMs)} (${url})`
    : `${said.what}; not retried, as waiting would not change that (${url})`;
  return new DatabaseUnreachableError(message, { cause: err, hint: said.hint, code: fault.reason, sqlstate: fault.sqlstate });
}

/** What a server said (its message, and its SQLSTATE if it sent one), on one line. */
function serverSaid(err: unknown): string {
  const e = err as { message?: unknown; code?: unknown; detail?: unknown } | undefined;
  const code = typeof e?.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code) ? ` (SQLSTATE ${e.code})` : '';
  const detail = typeof e?.detail === 'string' && e.detail ? `: ${e.detail}` : '';
  return `${describeThrown(err).split('\n')[0]}${detail}${code}`.replace(/\s+/g, ' ');
}

/** The Node error code in the chain (ECONNREFUSED, ENOTFOUND, ...), if any. */
function errno(err: unknown): string {
  for (let e = err as { code?: unknown; cause?: unknown } | undefined, i = 0; e && i < 10; e = e.cause as typeof e, i++) {
    if (typeof e.code === 'string' && /^E[A-Z_]+$/.test(e.code)) return e.code;
  }
  return '';
}

function turnedDown(reason: ConnectReason, err: unknown, t: ConnectTarget): { what: string; hint: string } {
  const at = `${t.host}:${t.port}`;
  // The URL by the name the user set it under: ZSETUP_DATABASE_URL or database.url.
  const url = t.urlFrom ? t.urlFrom.split(' ')[0]! : 'the database URL';
  const sslmode = sslOf(t.url);
  const noPath = t.database === '(default)';
  const database = noPath ? t.user : t.database;
  switch (reason) {
    case 'database-missing':
      return {
        what: `${serverSaid(err)} at ${at}${noPath ? ' (the URL names no database, so the server took the user name)' : ''}`,
        hint: `create it (createdb -h ${shell(t.host)} -p ${t.port} ${shell(database)}, or CREATE DATABASE ${sqlName(database)};), or correct the name at the end of ${url} (...@${at}/NAME)`,
      };
    case 'role-missing':
      return {
        what: `${serverSaid(err)} at ${at}`,
        hint: `correct the user name in ${url}, or create the role: CREATE ROLE ${sqlName(t.user)} LOGIN PASSWORD '...';`,
      };
    case 'auth-failed':
      if (/client password must be a (?:non-empty )?string/.test(describeThrown(err))) {
        return {
          what: `the server at ${at} asks user "${t.user}" for a password, and none was given (${describeThrown(err)})`,
          hint: `put the password in ${url} (postgres://${t.user}:PASSWORD@${at}/..., percent-encoded) or set PGPASSWORD`,
        };
      }
      return {
        what: `${serverSaid(err)} at ${at}`,
        hint: `check the password of user "${t.user}" in ${url} (percent-encode @ : / ? # % in it), and the server's pg_hba.conf method for this host (scram-sha-256 and md5 check the role's stored password)`,
      };
    case 'pg-hba':
      return {
        what: `${serverSaid(err)} at ${at}`,
        hint: `the server's pg_hba.conf lets no connection of user "${t.user}" to database "${database}" in from this host: add a line for it (host ${database} ${t.user} <client address>/32 scram-sha-256) and reload the server, or connect as another user`,
      };
    case 'ssl-required':
      return {
        what: `the server at ${at} accepts only SSL connections from this host, and ${url} does not ask for SSL${sslmode ? ` (sslmode=${sslmode})` : ''}: ${serverSaid(err)}`,
        hint: `add sslmode=verify-full to ${url} (pg treats sslmode=require the same: it verifies the server's certificate), with sslrootcert=/path/to/ca.crt for a private CA; or sslmode=no-verify to encrypt without verifying`,
      };
    case 'ssl-unsupported':
      return {
        what: `the server at ${at} does not support SSL, and ${url} asks for it (${sslmode ? `sslmode=${sslmode}` : 'ssl=true'})`,
        hint: `connect without SSL (sslmode=disable in ${url}, or no sslmode at all), or turn ssl on in the server`,
      };
    case 'ssl-certificate': {
      const code = (err as { code?: unknown })?.code;
      return {
        what: `the certificate of the server at ${at} is not trusted: ${describeThrown(err)}${typeof code === 'string' ? ` (${code})` : ''}`,
        hint: `trust the server's CA with sslrootcert=/path/to/ca.crt in ${url}, or use sslmode=no-verify to encrypt without verifying the certificate`,
      };
    }
    case 'connect-privilege':
      return {
        what: `${serverSaid(err)} at ${at}`,
        hint: `user "${t.user}" lacks the CONNECT privilege on database "${database}": as its owner or a superuser, GRANT CONNECT ON DATABASE ${sqlName(database)} TO ${sqlName(t.user)}; or connect as another user`,
      };
    case 'refused-other': {
      const serverHint = (err as { hint?: unknown })?.hint;
      return {
        what: `the server at ${at} refused the connection: ${serverSaid(err)}`,
        hint: typeof serverHint === 'string' && serverHint ? `${serverHint} (check the parameters in ${url})` : `check the parameters in ${url} (such as options=-c ...): the server refuses them`,
      };
    }
    default:
      return {
        what: `connecting to PostgreSQL at ${at} failed: ${serverSaid(err)}`,
        hint: `check ${url}; zsetup retries only what waiting can fix (refused, timed out, an unresolved host name, a server starting up or out of connection slots, a reset)`,
      };
  }
}

function retried(reason: ConnectReason, err: unknown, t: ConnectTarget, tried: Tried): { what: string; hint: string } {
  const at = `${t.host}:${t.port}`;
  const url = t.urlFrom ? t.urlFrom.split(' ')[0]! : 'the database URL';
  const raise = `raise --connect-timeout (now ${formatSeconds(tried.timeoutMs)}; ZSETUP_CONNECT_TIMEOUT, database.pool.connectTimeout)`;
  const code = errno(err);
  switch (reason) {
    case 'refused':
      return {
        what: `cannot reach PostgreSQL at ${at}: connection refused (${code || 'ECONNREFUSED'}): nothing listens there`,
        hint: `check the host and port in ${url} and that the server is up; if it is still starting, ${raise}`,
      };
    case 'timeout':
      return {
        what: `cannot reach PostgreSQL at ${at}: no answer within ${formatSeconds(tried.attemptTimeoutMs)} (ETIMEDOUT)`,
        hint: `check the host and port in ${url} and any firewall on the way; if the server is still starting, ${raise}`,
      };
    case 'host-unknown':
      return {
        what: `cannot reach PostgreSQL at ${at}: the host name "${t.host}" does not resolve (${code || 'ENOTFOUND'})`,
        hint: `check the host name in ${url} for a typo; if DNS learns it only once the server runs (a Kubernetes headless Service, docker compose), ${raise}`,
      };
    case 'network':
      return {
        what: `cannot reach PostgreSQL at ${at}: no route to it (${code})`,
        hint: `check the host in ${url} and the network on the way; if the network is still coming up, ${raise}`,
      };
    case 'starting':
      return {
        what: `PostgreSQL at ${at} does not accept connections yet: ${serverSaid(err)}`,
        hint: `the server is starting up, shutting down or in recovery; to wait for it longer, ${raise}`,
      };
    case 'too-many':
      return {
        what: `PostgreSQL at ${at} has no connection slot left: ${serverSaid(err)}`,
        hint: `other clients hold every slot (max_connections): close some or shrink their pools; to wait for a free slot longer, ${raise}`,
      };
    default:
      return {
        what: `cannot reach PostgreSQL at ${at}: the connection was closed before the server took it (${serverSaid(err)})`,
        hint: `a proxy or sidecar on the way that is not ready yet, or a server restarting, does this; if it starts slowly, ${raise}`,
      };
  }
}

/** The URL's sslmode, if it has one. */
function sslOf(url: string): string | undefined {
  try {
    return new URL(url).searchParams.get('sslmode') ?? undefined;
  } catch {
    return undefined;
  }
}

/** A name as SQL reads it: bare when PostgreSQL would keep it as is, quoted otherwise. */
function sqlName(name: string): string {
  return /^[a-z_][a-z0-9_$]*$/.test(name) ? name : quoteIdent(name);
}

/** A word as a POSIX shell reads it. */
function shell(word: string): string {
  return /^[A-Za-z0-9_.:/@%+=-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** `850 ms`, `1 s`, `12.5 s`. */
export function formatSeconds(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${Math.round(ms / 100) / 10} s`;
}
