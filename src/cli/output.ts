/**
 * Output for people and machines. Text goes to stdout, errors to stderr; with --json
 * every line on stdout is one JSON object (errors too), nothing else.
 */
import type { EngineEvent } from '../engine/events.js';
import { ConfigError, redact, type ZsetupError } from '../errors.js';
import { formatMs } from '../config/duration.js';

export interface Out {
  json: boolean;
  secrets: readonly string[];
}

export function line(out: Out, text: string): void {
  process.stdout.write(redact(text, out.secrets) + '\n');
}

export function jsonLine(out: Out, obj: unknown): void {
  process.stdout.write(redact(JSON.stringify(obj, (_k, v) => (v instanceof Error ? v.message : v)), out.secrets) + '\n');
}

/** Left-aligned columns; the last column is not padded. */
export function table(rows: readonly (readonly string[])[], indent = '  '): string {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows.map((r) => indent + r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n');
}

/** Print an error the way a user needs it: message, hint, no stack (unless ZSETUP_DEBUG). */
export function printError(out: Out, status: string, err: Error): void {
  const hint = (err as ZsetupError).hint;
  if (out.json) {
    const problems = err instanceof ConfigError ? err.problems : undefined;
    jsonLine(out, { type: 'error', status, message: err.message, ...(hint ? { hint } : {}), ...(problems ? { problems } : {}) });
    return;
  }
  const w = (s: string) => process.stderr.write(redact(s, out.secrets) + '\n');
  if (err instanceof ConfigError) {
    for (const p of err.message.split('\n')) w(p);
    if (status === 'config') w(`zsetup: ${err.problems.length} problem${err.problems.length === 1 ? '' : 's'} in the config; nothing was changed`);
  } else {
    w(`zsetup: ${err.message}`);
  }
  if (hint) w(`hint: ${hint}`);
  if (process.env.ZSETUP_DEBUG && err.stack) w(err.stack);
}

/** The text renderer of engine events (one line per step; no TTY needed). */
export function textRenderer(out: Out): (e: EngineEvent) => void {
  const err = (s: string) => process.stderr.write(redact(s, out.secrets) + '\n');
  return (e) => {
    switch (e.type) {
      case 'lock.waiting':
        err(`waiting for ${e.lock} held by ${e.holder} (${Math.round(e.waitedMs / 1000)} s so far)`);
        break;
      case 'step.recovered':
        line(out, `  ! ${e.step}: was left started by ${e.previousOwner} at ${e.startedAt}; owner gone, recorded interrupted`);
        break;
      case 'step.done':
        line(out, `  ✓ ${e.step} (${formatMs(e.durationMs)})`);
        break;
      case 'step.failed':
        line(out, `  ✗ ${e.step}: ${e.error}`);
        break;
      case 'step.retry':
        line(out, `  ↻ ${e.step}: retry ${e.attempt} in ${formatMs(e.delayMs)}: ${e.error}`);
        break;
      case 'step.blocked':
        line(out, `  - ${e.step}: ${e.reason}`);
        break;
      case 'step.interrupted':
        line(out, `  ■ ${e.step}: interrupted (${e.reason}); the next apply resumes it`);
        break;
      case 'log':
        line(out, `    ${e.step ? `${e.step}: ` : ''}${e.message}`);
        break;
      default:
        break;
    }
  };
}
