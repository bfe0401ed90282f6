/**
 * The only writers of the CLI's output: renderers (./render/) print through these, and
 * each scrubs every password it knows of (`redact`, `redactDeep`) on the way out. Text
 * goes to stdout, errors to stderr; with --format json every line on stdout is one JSON
 * object (errors too), nothing else.
 */
import { redact, redactDeep } from '../errors.js';

/** Where a command writes, and what it scrubs besides every remembered password. */
export interface Out {
  secrets: readonly string[];
}

export function line(out: Out, text: string): void {
  process.stdout.write(redact(text, out.secrets) + '\n');
}

export function jsonLine(out: Out, obj: unknown): void {
  // Scrubbed before escaping (a password with a quote or backslash in it is escaped in JSON),
  // and once more after.
  // Scrubbed value by value (patterns and secrets), then the JSON text once more for a
  // remembered secret in an escaped spelling; patterns are not applied to the JSON text,
  // where they could take a closing quote with them.
  process.stdout.write(redact(JSON.stringify(redactDeep(obj, out.secrets)), out.secrets, { patterns: false }) + '\n');
}

/** One line on stderr, scrubbed. */
export function errLine(out: Out, text: string): void {
  process.stderr.write(redact(text, out.secrets) + '\n');
}
