/**
 * The planner: a pure function from declared steps, recorded state and the results of
 * repeatable checks to a Plan. `plan` and `apply` use the same function; nothing here
 * does I/O.
 */
import type { RecordedEvent, StepState } from '../state/store.js';
import { unifiedDiff } from './diff.js';

export type Action = 'run' | 'rerun' | 'resume' | 'skip' | 'drift' | 'blocked';

/** A step as the planner sees it (what `plan --format json` prints, without the decision). */
export interface PlanStep {
  readonly step: string;
  readonly kind: string;
  /** Direct dependencies. */
  readonly after: readonly string[];
  readonly checksum: string;
  /** Checksums an earlier zsetup took of this same definition: recorded, they are not drift. */
  readonly formerChecksums?: readonly string[] | undefined;
  /** Its checksum is of its code (a function step without `version`): a change is shown, not drift. */
  readonly codeOnly?: boolean | undefined;
  /** The SQL it runs (a script kind): what a change is diffed against the recorded SQL with. */
  readonly sql?: string | undefined;
  readonly repeatable: boolean;
  readonly transaction: boolean;
  readonly resumable?: boolean | undefined;
  /** The step's `description`, if it has one. */
  readonly description?: string | undefined;
  /** Why this run leaves the step out (its kind's `off()`), if it does. */
  readonly off?: string | undefined;
  /** Left out and not applied, it holds back the steps after it (its kind's `holds`). */
  readonly holds?: boolean | undefined;
}

/** A planned step: the step, what apply would do with it, and why. */
export type PlanEntry = PlanStep & {
  readonly action: Action;
  /** Why, for people: `repeatable: check(lastRun) returned true`. */
  readonly reason: string;
  /**
   * Skipped without having been applied: left out of this run (a kind's `off()`), waiting
   * for a step that holds it back, or left to another tool that started it.
   */
  readonly leftOut?: boolean;
  /** A step whose content changed after it ran (drift, or a repeatable's rerun): what changed. */
  readonly change?: Change;
  /** Drift that this run leaves as applied (apply --allow-drift): it is skipped, with a warning. */
  readonly allowedDrift?: boolean;
  /** A function step without a version whose code changed since it ran (shown, not drift). */
  readonly codeChanged?: boolean;
};

/** What changed in a step since it was applied. */
export interface Change {
  /** The checksum recorded when it was applied, and the one of its content now. */
  readonly applied: string;
  readonly now: string;
  /** A unified diff of the recorded SQL against the SQL now, when both are known. */
  readonly diff?: string;
  /** Why there is no diff. */
  readonly noDiff?: string;
}

export interface Plan {
  /** In execution order. */
  readonly entries: readonly PlanEntry[];
  /** Entries that would do work (run, rerun, resume). */
  readonly pending: number;
  readonly drift: number;
  readonly blocked: number;
}

/** The result of a repeatable step's `check(lastRun)`: a boolean, or what it threw. */
export type CheckResult = boolean | { error: string };

export interface PlanInput {
  /** Steps in execution order (topological). */
  readonly steps: readonly PlanStep[];
  readonly state: ReadonlyMap<string, StepState>;
  /** For repeatable steps that are done and unchanged: what `check(lastRun)` returned. */
  readonly checks: ReadonlyMap<string, CheckResult>;
  /** Treat drift as skip (apply --allow-drift). */
  readonly allowDrift?: boolean;
  /** The owner of the live run that holds the run lock now, if any: its started steps are running, not left unfinished. */
  readonly running?: string | undefined;
}

export const WORK_ACTIONS: ReadonlySet<Action> = new Set(['run', 'rerun', 'resume']);

/** Which repeatable steps need their `check(lastRun)` evaluated for this state. */
export function stepsNeedingCheck(steps: readonly PlanStep[], state: ReadonlyMap<string, StepState>): string[] {
  return steps
    .filter((s) => {
      const st = state.get(s.step);
      // Another tool's done (ZITADEL's) has no checksum: its check decides too.
      return s.repeatable && st?.latest.event === 'done' && (sameContent(s, st.latest.checksum) || s.codeOnly === true || (st.latest.source !== undefined && st.latest.checksum === undefined));
    })
    .map((s) => s.step);
}

/** Whether `recorded` is the checksum of this step's content (now, or as an earlier zsetup took it). */
export function sameContent(s: PlanStep, recorded: string | undefined): boolean {
  return recorded === s.checksum || (recorded !== undefined && s.formerChecksums?.includes(recorded) === true);
}

export function planSteps(input: PlanInput): Plan {
  const entries: PlanEntry[] = [];
  const actionOf = new Map<string, Action>();
  /** Steps left out that hold back the steps after them -> the step they wait for, and why. */
  const waiting = new Map<string, { step: string; why: string }>();
  for (const s of input.steps) {
    const decided = decide(s, input);
    let { action, reason } = decided;
    const { change, codeChanged } = decided;
    let leftOut = decided.holds === true;
    if (decided.holds) waiting.set(s.step, { step: s.step, why: reason });
    // Left out of this run (a kind's off()): work it would do is skipped, and says why.
    if (s.off !== undefined && WORK_ACTIONS.has(action)) {
      // A step that zsetup never runs (it holds back the steps after it) would not run either.
      reason = s.holds ? `${s.off}; ${reason === 'never applied' ? 'not run yet' : reason}` : `${s.off} (would ${action}: ${reason})`;
      action = 'skip';
      leftOut = true;
      if (s.holds) waiting.set(s.step, { step: s.step, why: s.off });
    }
    // After a step that holds them back and has not been applied: skipped as well, waiting.
    const held = WORK_ACTIONS.has(action) ? s.after.find((d) => waiting.has(d)) : undefined;
    if (held !== undefined) {
      const w = waiting.get(held)!;
      reason = `waits for "${w.step}", ${w.why} (would ${action}: ${reason})`;
      action = 'skip';
      leftOut = true;
      waiting.set(s.step, w);
    }
    let allowedDrift = false;
    if (action === 'drift' && input.allowDrift) {
      action = 'skip';
      reason = `${reason} (allowed by --allow-drift)`;
      allowedDrift = true;
    }
    if (WORK_ACTIONS.has(action)) {
      const bad = s.after.find((d) => actionOf.get(d) === 'drift' || actionOf.get(d) === 'blocked');
      if (bad !== undefined) {
        reason = `depends on ${actionOf.get(bad) === 'drift' ? 'drifted' : 'blocked'} step "${bad}" (would ${action}: ${reason})`;
        action = 'blocked';
      }
    }
    actionOf.set(s.step, action);
    entries.push({ ...s, action, reason, ...(leftOut && action === 'skip' ? { leftOut: true } : {}), ...(change ? { change } : {}), ...(allowedDrift ? { allowedDrift: true } : {}), ...(codeChanged ? { codeChanged } : {}) });
  }
  return {
    entries,
    pending: entries.filter((e) => WORK_ACTIONS.has(e.action)).length,
    drift: entries.filter((e) => e.action === 'drift').length,
    blocked: entries.filter((e) => e.action === 'blocked').length,
  };
}

function decide(s: PlanStep, input: PlanInput): { action: Action; reason: string; holds?: boolean; change?: Change; codeChanged?: boolean } {
  const st = input.state.get(s.step);
  if (!st) return { action: 'run', reason: 'never applied' };
  const { latest, lastDone } = st;
  // zsetup's own `started` of the run that holds the lock now: running, not left unfinished.
  const live = latest.event === 'started' && input.running !== undefined && latest.owner === input.running;
  if (s.resumable && latest.event !== 'done' && st.checkpoint) {
    const c = st.checkpoint;
    const pct = c.total ? ` (${Math.floor((100 * (c.done ?? 0)) / c.total)}%)` : '';
    const what = latest.event === 'failed' ? `failed (${firstLine(latest.error ?? 'unknown error')})` : latest.event === 'started' ? (live ? 'running now (a live run holds the lock)' : 'left unfinished') : 'interrupted';
    return { action: 'resume', reason: `${what} at checkpoint ${short(JSON.stringify(c.value) ?? 'null')}${pct} by ${latest.owner} at ${stamp(latest.at)}` };
  }
  switch (latest.event) {
    case 'failed':
      return { action: 'run', reason: `previous attempt failed at ${stamp(latest.at)}: ${firstLine(latest.error ?? 'unknown error')}` };
    case 'started':
      // Another tool's run (ZITADEL's setup) may still be running it: left to it, and the
      // steps after it wait, until it ends or an operator runs `zsetup cleanup`.
      if (latest.source !== undefined) {
        return {
          action: 'skip',
          reason: `started by ${latest.source} at ${stamp(latest.at)} and not finished: left to it (if it is not running, \`zsetup cleanup\` records it stopped, and the next apply runs it)`,
          holds: true,
        };
      }
      if (live) {
        return { action: 'run', reason: `running in ${latest.owner} since ${stamp(latest.at)} (a live run holds the lock; apply waits for it)` };
      }
      return { action: 'run', reason: `started by ${latest.owner} at ${stamp(latest.at)} and left unfinished (that run is gone: apply records it interrupted and runs it again)` };
    case 'interrupted':
      // Its record says why: a stop (the signal, the deadline) or a recovery (whose run was gone).
      return { action: 'run', reason: `interrupted at ${stamp(latest.at)} (${latest.error ? firstLine(latest.error) : `started by ${latest.owner}`})` };
    case 'done':
      break;
  }
  const done = lastDone ?? latest;
  // Another tool's record (ZITADEL's) has no checksum: it says the step ran, not what ran.
  const foreign = done.source !== undefined && done.checksum === undefined;
  const changed = !foreign && !sameContent(s, done.checksum);
  // A function step without a version: its code is not its identity (a reformatting, a
  // renamed variable). Shown, never drift; a `version` marks a change that must run.
  const noVersion = changed && s.codeOnly === true ? `changed (no version): its code differs from what was applied ${stamp(done.at)}; not run again (a step runs once: to run new code, give it a new name or make it repeatable)` : undefined;
  if (changed && noVersion === undefined) {
    const why = `changed since applied ${stamp(done.at)} (checksum ${done.checksum?.slice(0, 12) ?? 'none'} -> ${s.checksum.slice(0, 12)})`;
    const change = changeOf(s, done);
    return s.repeatable ? { action: 'rerun', reason: why, change } : { action: 'drift', reason: why, change };
  }
  const applied = noVersion ?? (done.source !== undefined ? `applied by ${done.source} at ${stamp(done.at)}` : `applied ${stamp(done.at)}`);
  if (!s.repeatable) return { action: 'skip', reason: applied, ...(noVersion ? { codeChanged: true } : {}) };
  const check = input.checks.get(s.step);
  if (check === undefined) return { action: 'skip', reason: applied };
  if (typeof check === 'object') return { action: 'blocked', reason: `repeatable: check(lastRun) threw: ${firstLine(check.error)}` };
  return check
    ? { action: 'rerun', reason: 'repeatable: check(lastRun) returned true' }
    : { action: 'skip', reason: `repeatable: check(lastRun) returned false (${applied})` };
}

/** The checksums, and the diff of the SQL recorded when the step was applied against its SQL now. */
function changeOf(s: PlanStep, done: RecordedEvent): Change {
  const base = { applied: done.checksum ?? '', now: s.checksum };
  if (s.sql === undefined) return { ...base, noDiff: 'not an SQL step: its version or definition changed' };
  if (done.sql === undefined) return { ...base, noDiff: 'the SQL it ran was not kept (recorded before zsetup kept it, by a store that does not keep it, or longer than 64 KB)' };
  const diff = unifiedDiff(done.sql, s.sql, { from: `applied ${stamp(done.at)}`, to: 'now' });
  if (diff === undefined) return { ...base, noDiff: 'too long to diff' };
  return diff === '' ? { ...base, noDiff: 'the same lines (the change is in line endings or trailing blanks)' } : { ...base, diff };
}

/** `2026-11-20T10:00Z`: minutes are enough for people. */
export function stamp(d: Date): string {
  return `${d.toISOString().slice(0, 16)}Z`;
}

function short(s: string): string {
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

function firstLine(s: string): string {
  const l = s.split('\n')[0]!;
  return l.length > 200 ? `${l.slice(0, 197)}...` : l;
}
