/**
 * Typed errors that carry the fix. The CLI maps each to an exit code and prints
 * `error.message` (never a stack trace) for the user-facing ones.
 */
import { errorChain, sqlState } from './classify.js';

/** Base class: every error zsetup raises on purpose. `hint` says how to fix it. */
export class ZsetupError extends Error {
  readonly hint: string | undefined;
  constructor(message: string, options?: { cause?: unknown; hint?: string }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.hint = options?.hint;
  }
}

/** One problem found in a config: where (file + key path) and what. */
export interface ConfigProblem {
  file: string;
  path: string;
  message: string;
}

/**
 * Why a step did not end applied (`StepResult.error`): a readable message with the
 * password scrubbed, the step, the SQLSTATE when the database gave one, and the original
 * error as `cause` for programmatic callers.
 */
export class StepError extends ZsetupError {
  readonly code: string | undefined;
  constructor(
    readonly step: string,
    message: string,
    cause?: unknown,
  ) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'StepError';
    this.code = sqlState(cause);
  }
}

/** Bad config or usage: exit code 2, database untouched. */
export class ConfigError extends ZsetupError {
  readonly problems: readonly ConfigProblem[];
  constructor(problems: readonly ConfigProblem[]) {
    super(problems.map(formatProblem).join('\n'));
    this.problems = problems;
  }
}

export function formatProblem(p: ConfigProblem): string {
  return [p.file, p.path, p.message].filter((s) => s !== '').join(': ');
}

/** A command asked for what cannot be done (a step that does not exist, or cannot be recorded so): exit code 2, nothing changed. */
export class UsageError extends ZsetupError {}

/** The lock could not be acquired within the lock timeout: exit code 3. */
export class LockTimeoutError extends ZsetupError {}

/**
 * No connection to the database: exit code 5. Raised at once when the server turned the
 * connection down for a reason no retry fixes (see `connectFault`), else after retrying
 * until the connect deadline. `code` says why, for machines (`database-missing`,
 * `auth-failed`, `refused`, ...: the `ConnectReason`s); `sqlstate` is the server's, if it
 * sent one.
 */
export class DatabaseUnreachableError extends ZsetupError {
  readonly code: string | undefined;
  readonly sqlstate: string | undefined;
  constructor(message: string, options?: { cause?: unknown; hint?: string; code?: string; sqlstate?: string }) {
    super(message, options);
    this.code = options?.code;
    this.sqlstate = options?.sqlstate;
  }
}

/** The lock was lost while we held it (connection died, lease expired/fenced). */
export class LockLostError extends ZsetupError {}

/**
 * Secrets known to this process: the database password wherever it came from
 * (`ZSETUP_DATABASE_URL`, `database.url`, a `password=` parameter, `PGPASSWORD`), in every
 * spelling it may take in a message (raw, URL-encoded, URL-decoded, JSON-escaped).
 * `redact()` scrubs them from every text, whoever calls it: one place to remember a
 * secret, every output protected.
 */
const knownSecrets = new Set<string>();

/** Remember `secret` (and its encoded spellings) so that no output ever shows it. */
export function rememberSecret(secret: string | undefined): void {
  if (!secret || secret.length < 3) return;
  const forms = [secret, encodeURIComponent(secret), JSON.stringify(secret).slice(1, -1)];
  try {
    forms.push(decodeURIComponent(secret));
    // A query parameter (?password=a+b) is read as form data: '+' is a space.
    if (secret.includes('+')) forms.push(decodeURIComponent(secret.replace(/\+/g, ' ')));
  } catch {
    // not valid percent-encoding: the raw form is what would be printed
  }
  for (const f of forms) if (f.length >= 3) knownSecrets.add(f);
}

/**
 * The passwords a connection string carries, found without trusting it to parse: the
 * userinfo of `scheme://user:password@host` (up to the last `@`, so a raw `@`, `#` or `/`
 * in the password is still found), `password=...` parameters (URL query or key/value).
 */
export function passwordsIn(url: string | undefined): string[] {
  if (!url) return [];
  const out: string[] = [];
  const m = /^[a-z][a-z0-9+.-]*:\/\/([^]*)$/i.exec(url.trim());
  if (m) {
    const rest = m[1]!;
    const at = rest.lastIndexOf('@');
    const colon = rest.indexOf(':');
    if (at > 0 && colon >= 0 && colon < at) out.push(rest.slice(colon + 1, at));
  }
  for (const p of url.matchAll(/(?:^|[?&\s])password\s*=\s*('(?:[^'\\]|\\.)*'|[^&\s]*)/gi)) {
    const v = p[1]!.startsWith("'") ? p[1]!.slice(1, -1).replace(/\\(.)/g, '$1') : p[1]!;
    out.push(v);
  }
  return out.filter((s) => s !== '');
}

/**
 * Remove anything that looks like a password from a text before it is shown: the
 * userinfo password of any URL, `password=...` / `password: ...` values, and every secret
 * remembered with `rememberSecret` (plus `secrets`).
 * @example redact('connect postgres://root:s3cret@db/zitadel failed') // 'connect postgres://root:***@db/zitadel failed'
 */
export function redact(text: string, secrets: readonly string[] = [], o: { patterns?: boolean } = {}): string {
  let out = String(text);
  if (o.patterns === false) return scrubKnown(out, secrets);
  // scheme://user:PASSWORD@host — the password runs to the LAST '@' of the token, so a raw
  // '@', '#', '/' or '?' in it is covered too.
  out = out.replace(/\b([a-z][a-z0-9+.-]*:\/\/)([^\s"'<>`]*)/gi, (all, scheme: string, rest: string) => {
    const at = rest.lastIndexOf('@');
    const colon = rest.indexOf(':');
    if (at < 0 || colon < 0 || colon > at) return all;
    return `${scheme}${rest.slice(0, colon + 1)}***${rest.slice(at)}`;
  });
  // password=... / password: ... (a quoted value whole; a bare one up to a delimiter, so the
  // quote that closes a JSON string or the bracket around it stays).
  out = out.replace(/(password\s*[=:]\s*)("[^"]*"|'[^']*'|[^\s,;&"'<>()[\]{}]+)/gi, '$1***');
  return scrubKnown(out, secrets);
}

function scrubKnown(text: string, secrets: readonly string[]): string {
  let out = text;
  const all = [...knownSecrets, ...secrets.filter((s) => s && s.length >= 3)].sort((a, b) => b.length - a.length);
  for (const s of all) if (out.includes(s)) out = out.split(s).join('***');
  return out;
}

/** `redact` applied to every string inside a value (for JSON output: before escaping). */
export function redactDeep<T>(value: T, secrets: readonly string[] = []): T {
  const seen = new WeakMap<object, unknown>();
  const walk = (v: unknown): unknown => {
    if (typeof v === 'string') return redact(v, secrets);
    if (v instanceof Error) return redact(v.message, secrets);
    if (v === null || typeof v !== 'object' || v instanceof Date) return v;
    if (seen.has(v)) return seen.get(v);
    if (Array.isArray(v)) {
      const a: unknown[] = [];
      seen.set(v, a);
      for (const x of v) a.push(walk(x));
      return a;
    }
    const o: Record<string, unknown> = {};
    seen.set(v, o);
    for (const [k, x] of Object.entries(v)) o[k] = walk(x);
    return o;
  };
  return walk(value) as T;
}

/**
 * Any thrown value, as one readable line: an Error's message; a plain object's `message`
 * and `code`; `undefined`, `null`, numbers, symbols and empty strings said as what they
 * are. Never empty, never `[object Object]`, never throws.
 * @example describeThrown({ message: 'vault said no', code: 'E_VAULT' }) // 'vault said no (code E_VAULT)'
 */
export function describeThrown(v: unknown): string {
  try {
    if (v instanceof Error) {
      const m = v.message === undefined || v.message === null ? '' : String(v.message);
      return m.trim() !== '' ? m : `${v.name || 'Error'} with no message`;
    }
    if (v === undefined) return 'undefined was thrown (no error was given)';
    if (v === null) return 'null was thrown (no error was given)';
    if (typeof v === 'string') return v.trim() !== '' ? v : 'an empty string was thrown (no error was given)';
    if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') return `the ${typeof v} ${String(v)} was thrown (not an Error)`;
    if (typeof v === 'symbol') return `the symbol ${v.description ?? ''} was thrown (not an Error)`.replace('symbol  ', 'symbol ');
    if (typeof v === 'function') return `a function${v.name ? ` "${v.name}"` : ''} was thrown (not an Error)`;
    const o = v as { message?: unknown; code?: unknown };
    const message = typeof o.message === 'string' && o.message.trim() !== '' ? o.message : undefined;
    const code = typeof o.code === 'string' || typeof o.code === 'number' ? String(o.code) : undefined;
    if (message !== undefined) return code !== undefined ? `${message} (code ${code})` : message;
    if (code !== undefined) return `an object with code ${code} and no message was thrown`;
    let preview: string | undefined;
    try {
      preview = JSON.stringify(v);
    } catch {
      preview = undefined;
    }
    if (preview !== undefined && preview.length > 120) preview = `${preview.slice(0, 117)}...`;
    return `an object with no message was thrown${preview !== undefined ? `: ${preview}` : ''}`;
  } catch {
    return 'a value that cannot be described was thrown';
  }
}

/**
 * Flatten an error and its causes into one line: `a: b: c`. Never empty.
 * @example causeChain(new Error('step failed', { cause: pgError })) // 'step failed: relation "t" does not exist (SQLSTATE 42P01)'
 */
export function causeChain(err: unknown): string {
  const parts: string[] = [];
  for (const { value: e } of errorChain(err)) {
    let msg: string;
    try {
      msg = describeThrown(e);
      const pg = e as { code?: unknown; detail?: unknown; hint?: unknown } | null;
      if (e instanceof Error && pg) {
        if (typeof pg.code === 'string' && /^[0-9A-Z]{5}$/.test(pg.code)) msg += ` (SQLSTATE ${pg.code})`;
        if (typeof pg.detail === 'string' && pg.detail) msg += ` detail: ${pg.detail}`;
        if (typeof pg.hint === 'string' && pg.hint && !(e instanceof ZsetupError)) msg += ` hint: ${pg.hint}`;
      }
    } catch {
      msg = 'a value that cannot be described was thrown';
    }
    if (!parts.includes(msg)) parts.push(msg);
  }
  return parts.join(': ');
}
