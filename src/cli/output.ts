/**
 * Output for people and machines. Text goes to stdout, errors to stderr; with --json
 * every line on stdout is one JSON object (errors too), nothing else.
 */
import { requireCjs } from '../cjs.js';
import type { EngineEvent } from '../engine/events.js';
import { ConfigError, redact, redactDeep, type ZsetupError } from '../errors.js';
import { formatMs } from '../config/duration.js';

export interface Out {
  json: boolean;
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

/** Progress text: `420,000/1,000,000 (42%) 350,000/s, ETA 1m40s`. */
export function progressText(e: { done: number; total?: number | undefined; ratePerSec?: number | undefined; etaMs?: number | undefined }): string {
  // Not toLocaleString: its first call loads ICU data, ~20 ms of a resumed run (measured).
  const n = (v: number) => String(Math.round(v)).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  const pct = e.total ? ` (${Math.floor((100 * e.done) / e.total)}%)` : '';
  const rate = e.ratePerSec !== undefined ? ` ${n(e.ratePerSec)}/s` : '';
  const eta = e.etaMs !== undefined ? `, ETA ${formatMs(e.etaMs)}` : '';
  return `${n(e.done)}${e.total !== undefined ? `/${n(e.total)}` : ''}${pct}${rate}${eta}`;
}

/**
 * The text renderer of engine events. Without a TTY (kubectl logs): one line per step
 * and a progress line per running step at most every `progressEveryMs`. On a TTY: a live
 * progress bar per running step (cli-progress), lines printed above the bars.
 */
export function textRenderer(out: Out, options: { tty?: boolean; progressEveryMs?: number } = {}): (e: EngineEvent) => void {
  const tty = options.tty ?? false;
  const every = options.progressEveryMs ?? 5000;
  const lastProgress = new Map<string, number>();
  let bars: MultiBarLike | undefined;
  const barOf = new Map<string, SingleBarLike>();
  const say = (s: string) => (bars ? bars.log(redact(s, out.secrets) + '\n') : line(out, s));
  const err = (s: string) => (bars ? bars.log(redact(s, out.secrets) + '\n') : process.stderr.write(redact(s, out.secrets) + '\n'));
  const endBar = (step: string) => {
    const b = barOf.get(step);
    if (!b || !bars) return;
    bars.remove(b);
    barOf.delete(step);
    if (barOf.size === 0) {
      bars.stop();
      bars = undefined;
    }
  };
  return (e) => {
    switch (e.type) {
      case 'lock.waiting':
        err(`waiting for lock held by ${e.holder} (${e.lock}; ${Math.round(e.waitedMs / 1000)} s so far)`);
        break;
      case 'run.stopping':
        err(`zsetup: ${e.reason}: stopping (running statements are cancelled, resumable steps stop at their next checkpoint)${e.signal ? `; send ${e.signal} again to exit at once` : ''}`);
        break;
      case 'step.recovered':
        say(`  ! ${e.step}: left started by ${e.previousOwner} at ${e.startedAt}; that run is gone, recorded interrupted`);
        break;
      case 'step.progress': {
        if (tty) {
          let b = barOf.get(e.step);
          if (!b) {
            bars ??= createBars();
            b = bars.create(e.total ?? 0, e.done, { step: e.step, text: progressText(e) });
            barOf.set(e.step, b);
          }
          if (e.total !== undefined) b.setTotal(e.total);
          b.update(e.done, { step: e.step, text: progressText(e) });
          break;
        }
        const now = Date.now();
        const final = e.total !== undefined && e.done >= e.total;
        if (!final && now - (lastProgress.get(e.step) ?? 0) < every) break;
        lastProgress.set(e.step, now);
        say(`  … ${e.step}: ${progressText(e)}`);
        break;
      }
      case 'step.done':
        endBar(e.step);
        say(`  ✓ ${e.step} (${formatMs(e.durationMs)})`);
        break;
      case 'step.failed':
        endBar(e.step);
        say(`  ✗ ${e.step}: ${e.error}`);
        break;
      case 'step.retry':
        say(`  ↻ ${e.step}: retry ${e.attempt} in ${formatMs(e.delayMs)}: ${e.error}`);
        break;
      case 'step.blocked':
        say(`  - ${e.step}: ${e.reason}`);
        break;
      case 'step.interrupted':
        endBar(e.step);
        say(
          e.checkpoint !== undefined
            ? `  ■ ${e.step}: stopped (${e.reason}) at checkpoint ${JSON.stringify(e.checkpoint)}${e.percent !== undefined ? ` (${e.percent}%)` : ''}; the next apply resumes it from there`
            : `  ■ ${e.step}: stopped (${e.reason}); its uncommitted work rolled back; the next apply runs it again`,
        );
        break;
      case 'log':
        say(`    ${e.step ? `${e.step}: ` : ''}${e.message}`);
        break;
      default:
        break;
    }
  };
}

interface SingleBarLike {
  update(v: number, payload?: object): void;
  setTotal(t: number): void;
}
interface MultiBarLike {
  create(total: number, start: number, payload?: object): SingleBarLike;
  remove(b: SingleBarLike): boolean;
  log(s: string): void;
  stop(): void;
}

function createBars(): MultiBarLike {
  const cliProgress = requireCjs('cli-progress') as typeof import('cli-progress');
  return new cliProgress.MultiBar(
    { format: '  {bar} {step}: {text}', hideCursor: true, clearOnComplete: true, stopOnComplete: false, barsize: 24, stream: process.stderr },
    cliProgress.Presets.shades_classic,
  ) as unknown as MultiBarLike;
}
