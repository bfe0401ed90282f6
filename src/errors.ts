/**
 * Typed errors that carry the fix. The CLI maps each to an exit code and prints
 * `error.message` (never a stack trace) for the user-facing ones.
 */

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

/** The lock could not be acquired within the lock timeout: exit code 3. */
export class LockTimeoutError extends ZsetupError {}

/** The database did not answer within the connect deadline: exit code 5. */
export class DatabaseUnreachableError extends ZsetupError {}

/** The lock was lost while we held it (connection died, lease expired/fenced). */
export class LockLostError extends ZsetupError {}

/** Remove anything that looks like a password from a text before it is shown. */
export function redact(text: string, secrets: readonly string[] = []): string {
  let out = text.replace(/(\b[a-z][a-z0-9+.-]*:\/\/[^:/@\s]*:)([^@\s]*)@/gi, '$1***@');
  out = out.replace(/(password\s*[=:]\s*)("[^"]*"|'[^']*'|[^\s,;&]+)/gi, '$1***');
  for (const s of secrets) if (s && s.length >= 3) out = out.split(s).join('***');
  return out;
}

/** Flatten an error and its causes into one line: `a: b: c`. */
export function causeChain(err: unknown): string {
  const parts: string[] = [];
  let e: unknown = err;
  const seen = new Set<unknown>();
  while (e !== undefined && e !== null && !seen.has(e)) {
    seen.add(e);
    if (e instanceof Error) {
      const pg = e as Error & { code?: string; detail?: string; hint?: string };
      let msg = e.message;
      if (pg.code && /^[0-9A-Z]{5}$/.test(pg.code)) msg += ` (SQLSTATE ${pg.code})`;
      if (pg.detail) msg += ` detail: ${pg.detail}`;
      if (pg.hint && !(e instanceof ZsetupError)) msg += ` hint: ${pg.hint}`;
      if (!parts.includes(msg)) parts.push(msg);
      e = (e as { cause?: unknown }).cause;
    } else {
      parts.push(String(e));
      break;
    }
  }
  return parts.join(': ');
}
