/**
 * The text format, for people: tables for plan and status, one line per step as apply
 * runs (a live progress bar per running step on a TTY), a summary at the end, and errors
 * with their hint on stderr. The words here are what the CLI has always printed.
 */
import { requireCjs } from '../../cjs.js';
import type { EngineEvent } from '../../engine/events.js';
import { describeStop } from '../../engine/events.js';
import { ConfigError, redact, type ZsetupError } from '../../errors.js';
import { formatMs } from '../../config/duration.js';
import { WORK_ACTIONS, stamp } from '../../plan/planner.js';
import { statementsAt } from '../../engine/split.js';
import { errLine, line, type Out } from '../output.js';
import type { Finish, Format, PlanView, Renderer, StatusView } from '../renderer.js';
import type { StatusEntry } from '../../api.js';

export const text: Format = {
  description: 'is for people (the default)',
  commands: ['plan', 'apply', 'status', 'cleanup', 'baseline', 'accept'],
  create: (out) => textRenderer(out),
};

export function textRenderer(out: Out): Renderer {
  let events: ((e: EngineEvent) => void) | undefined;
  return {
    event(e) {
      events ??= textEvents(out, { tty: Boolean(process.stderr.isTTY) && !process.env.CI });
      events(e);
    },
    plan: (view) => planText(out, view),
    status: (view) => statusText(out, view),
    finish: (finish) => finishText(out, finish),
    error: (status, err) => errorText(out, status, err),
  };
}

/**
 * plan --sql: what each pending step would send, in order. A transactional script runs in
 * one transaction with its record; outside one, statement by statement in autocommit; a
 * step of code shows none (its SQL is made as it runs).
 */
function planSql(out: Out, plan: PlanView['plan']): void {
  const pending = plan.entries.filter((e) => WORK_ACTIONS.has(e.action));
  line(out, `\n-- The SQL of the ${pending.length} step${pending.length === 1 ? '' : 's'} apply would run, in order (zsetup's own records and settings left out).`);
  for (const e of pending) {
    line(out, `\n-- ${e.step} (${e.action}: ${e.reason})`);
    if (e.sql === undefined) {
      line(out, `-- a ${e.kind} step: its SQL is made by its code as it runs`);
      continue;
    }
    // Numbered as a failure names them ("statement 2 of 3"), with the line each starts on.
    const statements = statementsAt(e.sql);
    const numbered = statements.map((st, k) => `-- statement ${k + 1} of ${statements.length} (line ${st.line})\n${st.text};`).join('\n');
    if (e.transaction) {
      line(out, '-- one transaction, committed together with its record');
      line(out, `BEGIN;\n${numbered}\nCOMMIT;`);
    } else {
      line(out, `-- outside a transaction: ${statements.length} statement${statements.length === 1 ? '' : 's'}, each committed on its own (an INVALID index left by an earlier build is dropped first)`);
      line(out, numbered);
    }
  }
}

function planText(out: Out, { plan, target, sql }: PlanView): void {
  const upToDate = plan.entries.filter((e) => e.action === 'skip' && !e.leftOut).length;
  const leftOut = plan.entries.filter((e) => e.leftOut).length;
  line(
    out,
    `Plan for ${target}: ${plan.pending} to run, ${upToDate} up to date${leftOut ? `, ${leftOut} left out (off, or run elsewhere)` : ''}${plan.drift ? `, ${plan.drift} drifted` : ''}${plan.blocked ? `, ${plan.blocked} blocked` : ''}`,
  );
  if (plan.entries.length > 0) {
    line(out, '');
    const withDescriptions = plan.entries.some((e) => e.description);
    const head = withDescriptions ? ['STEP', 'ACTION', 'REASON', 'DESCRIPTION'] : ['STEP', 'ACTION', 'REASON'];
    line(out, table([head, ...plan.entries.map((e) => (withDescriptions ? [e.step, e.action, e.reason, e.description ?? ''] : [e.step, e.action, e.reason]))]));
  }
  if (sql) planSql(out, plan);
  const changed = plan.entries.filter((e) => e.change !== undefined);
  for (const e of changed) {
    const c = e.change!;
    line(out, `\n${e.step} (${e.action}) changed since it was applied: checksum ${c.applied || 'none'} then, ${c.now} now`);
    if (c.diff !== undefined) line(out, c.diff.split('\n').map((l) => `    ${l}`).join('\n'));
    else line(out, `    (no diff: ${c.noDiff})`);
  }
  if (plan.drift) {
    const names = plan.entries.filter((e) => e.action === 'drift').map((e) => e.step);
    line(out, `\napply will refuse: a once-only step changed after it ran (see "drift" above). Revert the change, or after review \`zsetup accept ${names.join(' ')}\` records the new content as applied (it does not run); --allow-drift leaves it as applied for one run.`);
  }
}

function statusText(out: Out, view: StatusView): void {
  if ('history' in view) {
    if (view.history.length === 0) line(out, `No events recorded yet on ${view.target}.`);
    else line(out, table([['AT', 'STEP', 'EVENT', 'OWNER', 'ERROR'], ...view.history.map((e) => [e.at.toISOString(), e.step, e.via ? `${e.event} (${e.via})` : e.event, e.owner, oneLine(e.error)])]));
    return;
  }
  line(out, `Status on ${view.target}:`);
  line(out, '');
  const note = (s: StatusEntry) =>
    !s.declared
      ? 'not in the config'
      : s.running === true
        ? `running in ${s.owner}`
        : s.running === false
          ? 'left unfinished (its run is gone)'
          : s.via === 'baseline'
            ? 'recorded by baseline (not run)'
            : s.via === 'accept'
              ? 'changed content accepted (not run)'
              : oneLine(s.error);
  line(out, table([['STEP', 'STATE', 'AT', 'OWNER', 'NOTE'], ...view.steps.map((s) => [s.step, s.state, s.at ? stamp(s.at) : '-', s.owner ?? '-', note(s)])]));
}

function finishText(out: Out, finish: Finish): void {
  if (finish.command === 'cleanup') {
    const { recovered, target } = finish;
    if (recovered.length === 0) return line(out, `Nothing to clean up on ${target}: no step is left started.`);
    for (const s of recovered) line(out, `  ! ${s.step}: left started by ${s.previousOwner} at ${s.startedAt.toISOString()}; recorded interrupted`);
    line(out, `Cleaned up ${recovered.length} stuck step${recovered.length === 1 ? '' : 's'} on ${target}; the next apply runs or resumes ${recovered.length === 1 ? 'it' : 'them'}.`);
    return;
  }
  if (finish.command === 'baseline' || finish.command === 'accept') {
    const { entries, target, declined } = finish;
    const what = finish.command === 'baseline' ? 'as applied (baseline), not run' : 'with its new content (accept), not run';
    if (declined) return line(out, `Nothing recorded on ${target}: not confirmed.`);
    if (entries.length === 0) return line(out, `Nothing to record on ${target}: ${finish.command === 'baseline' ? 'no step would run' : 'no step changed'}.`);
    for (const e of entries) line(out, `  ✓ ${e.step}: recorded ${what}${e.change ? ` (checksum ${e.change.applied.slice(0, 12)} -> ${e.change.now.slice(0, 12)})` : ''}`);
    line(out, `Recorded ${entries.length} step${entries.length === 1 ? '' : 's'} on ${target}; \`zsetup apply\` takes ${entries.length === 1 ? 'it' : 'them'} as applied.`);
    return;
  }
  // The error that follows says it all.
  if (finish.error) return;
  const { status, counts, stop, target } = finish;
  const left = counts.leftOut ? `, ${counts.leftOut} left out (off, or run elsewhere)` : '';
  if (status === 'ok' && counts.applied === 0) line(out, `Everything is up to date (${counts.skipped} step${counts.skipped === 1 ? '' : 's'}${left}, nothing to do) on ${target}.`);
  else
    line(
      out,
      `${status === 'ok' ? 'Done' : status === 'interrupted' ? 'Stopped' : 'Failed'}: ${counts.applied} applied, ${counts.skipped} up to date${left}, ${counts.failed} failed, ${counts.blocked} not run${counts.interrupted ? `, ${counts.interrupted} interrupted` : ''} in ${formatMs(finish.durationMs)}${target ? ` on ${target}` : ''}.`,
    );
  if (status === 'failed')
    errLine(out, stop?.kind === 'fault' ? `zsetup: ${describeStop(stop)}; fix it and run apply again` : 'zsetup: a step failed or could not run; fix it and run apply again (it retries the failed step)');
  if (status === 'interrupted') errLine(out, `zsetup: stopped${stop ? ` (${describeStop(stop)})` : ''}; the lock is released and the next apply continues where this one stopped`);
}

/** An error the way a user needs it: message, hint, no stack (unless ZSETUP_DEBUG). */
function errorText(out: Out, status: string, err: Error): void {
  const hint = (err as ZsetupError).hint;
  const w = (s: string) => errLine(out, s);
  if (err instanceof ConfigError) {
    for (const p of err.message.split('\n')) w(p);
    if (status === 'config') w(`zsetup: ${err.problems.length} problem${err.problems.length === 1 ? '' : 's'} in the config; nothing was changed`);
  } else {
    w(`zsetup: ${err.message}`);
  }
  if (hint) w(`hint: ${hint}`);
  if (process.env.ZSETUP_DEBUG && err.stack) w(err.stack);
}

function oneLine(s: string | undefined): string {
  if (!s) return '';
  const l = s.split('\n')[0]!;
  return l.length > 100 ? `${l.slice(0, 97)}...` : l;
}

/** Left-aligned columns; the last column is not padded. */
function table(rows: readonly (readonly string[])[], indent = '  '): string {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows.map((r) => indent + r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n');
}

/**
 * Colour for the marks of a run (✓ green, ✗ red, ! ↻ ■ yellow), by the conventions:
 * FORCE_COLOR decides when set (0 or false: none), else NO_COLOR (set and not empty: none),
 * else colour only on a terminal (not TERM=dumb).
 */
export function useColour(env: NodeJS.ProcessEnv = process.env, tty = Boolean(process.stdout.isTTY)): boolean {
  const force = env.FORCE_COLOR;
  if (force !== undefined) return force !== '0' && force.toLowerCase() !== 'false';
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  return tty && env.TERM !== 'dumb';
}

const paint = (code: number) => (s: string) => (useColour() ? `\u001b[${code}m${s}\u001b[39m` : s);
const C = { ok: paint(32), bad: paint(31), warn: paint(33) };

/** Progress text: `420,000/1,000,000 (42%) 350,000/s, ETA 1m40s`. */
function progressText(e: { done: number; total?: number | undefined; ratePerSec?: number | undefined; etaMs?: number | undefined }): string {
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
function textEvents(out: Out, options: { tty?: boolean; progressEveryMs?: number } = {}): (e: EngineEvent) => void {
  const tty = options.tty ?? false;
  const every = options.progressEveryMs ?? 5000;
  const lastProgress = new Map<string, number>();
  let bars: MultiBarLike | undefined;
  const barOf = new Map<string, SingleBarLike>();
  const say = (s: string) => (bars ? bars.log(redact(s, out.secrets) + '\n') : line(out, s));
  const err = (s: string) => (bars ? bars.log(redact(s, out.secrets) + '\n') : errLine(out, s));
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
  let run: { command: string; target: string } | undefined;
  return (e) => {
    switch (e.type) {
      case 'run.started':
        run = { command: e.command, target: e.target };
        break;
      case 'lock.acquired':
        // The first line of a run: where, and under which lock.
        say(`zsetup ${run?.command ?? 'apply'} on ${run?.target ?? 'the database'}, holding the ${e.lock}${e.waitedMs >= 1000 ? ` (after waiting ${formatMs(e.waitedMs)})` : ''}`);
        break;
      case 'lock.waiting':
        err(`waiting for lock held by ${e.holder} (${e.lock}; ${Math.round(e.waitedMs / 1000)} s so far)`);
        break;
      case 'run.stopping':
        err(`zsetup: ${e.reason}: stopping (running statements are cancelled, resumable steps stop at their next checkpoint)${e.signal ? `; send ${e.signal} again to exit at once` : ''}`);
        break;
      case 'step.recovered':
        say(`  ${C.warn('!')} ${e.step}: left started by ${e.previousOwner} at ${e.startedAt}; that run is gone, recorded interrupted`);
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
        say(`  ${C.ok('✓')} ${e.step} (${formatMs(e.durationMs)})`);
        break;
      case 'step.failed':
        endBar(e.step);
        say(`  ${C.bad('✗')} ${e.step}: ${e.error}`);
        break;
      case 'step.retry':
        say(`  ${C.warn('↻')} ${e.step}: retry ${e.attempt} in ${formatMs(e.delayMs)}: ${e.error}`);
        break;
      case 'step.blocked':
        say(`  - ${e.step}: ${e.reason}`);
        break;
      case 'step.interrupted':
        endBar(e.step);
        say(
          e.checkpoint !== undefined
            ? `  ${C.warn('■')} ${e.step}: stopped (${e.reason}) at checkpoint ${JSON.stringify(e.checkpoint)}${e.percent !== undefined ? ` (${e.percent}%)` : ''}; the next apply resumes it from there`
            : `  ${C.warn('■')} ${e.step}: stopped (${e.reason}); its uncommitted work rolled back; the next apply runs it again`,
        );
        break;
      case 'log':
        say(`${e.level === 'info' ? '   ' : `  ${C.warn('!')}`} ${e.step ? `${e.step}: ` : ''}${e.message}`);
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
