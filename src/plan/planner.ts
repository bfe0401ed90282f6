/**
 * The planner: a pure function from declared steps, recorded state and the results of
 * repeatable checks to a Plan. `plan` and `apply` use the same function; nothing here
 * does I/O.
 */
import type { StepState } from '../state/store.js';

export type Action = 'run' | 'rerun' | 'resume' | 'skip' | 'drift' | 'blocked';

/** A step as the planner sees it (what `plan --format json` prints, without the decision). */
export interface PlanStep {
  readonly step: string;
  readonly kind: string;
  /** Direct dependencies. */
  readonly after: readonly string[];
  readonly checksum: string;
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
};

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
}

export const WORK_ACTIONS: ReadonlySet<Action> = new Set(['run', 'rerun', 'resume']);

/** Which repeatable steps need their `check(lastRun)` evaluated for this state. */
export function stepsNeedingCheck(steps: readonly PlanStep[], state: ReadonlyMap<string, StepState>): string[] {
  return steps
    .filter((s) => {
      const st = state.get(s.step);
      // Another tool's done (ZITADEL's) has no checksum: its check decides too.
      return s.repeatable && st?.latest.event === 'done' && (st.latest.checksum === s.checksum || (st.latest.source !== undefined && st.latest.checksum === undefined));
    })
    .map((s) => s.step);
}

export function planSteps(input: PlanInput): Plan {
  const entries: PlanEntry[] = [];
  const actionOf = new Map<string, Action>();
  /** Steps left out that hold back the steps after them -> the step they wait for, and why. */
  const waiting = new Map<string, { step: string; why: string }>();
  for (const s of input.steps) {
    const decided = decide(s, input);
    let { action, reason } = decided;
    let leftOut = decided.holds === true;
    if (decided.holds) waiting.set(s.step, { step: s.step, why: reason });
    // Left out of this run (a kind's off()): work it would do is skipped, and says why.
    if (s.off !== undefined && WORK_ACTIONS.has(action)) {
      reason = `${s.off} (would ${action}: ${reason})`;
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
    if (action === 'drift' && input.allowDrift) {
      action = 'skip';
      reason = `${reason} (allowed by --allow-drift)`;
    }
    if (WORK_ACTIONS.has(action)) {
      const bad = s.after.find((d) => actionOf.get(d) === 'drift' || actionOf.get(d) === 'blocked');
      if (bad !== undefined) {
        reason = `depends on ${actionOf.get(bad) === 'drift' ? 'drifted' : 'blocked'} step "${bad}" (would ${action}: ${reason})`;
        action = 'blocked';
      }
    }
    actionOf.set(s.step, action);
    entries.push({ ...s, action, reason, ...(leftOut && action === 'skip' ? { leftOut: true } : {}) });
  }
  return {
    entries,
    pending: entries.filter((e) => WORK_ACTIONS.has(e.action)).length,
    drift: entries.filter((e) => e.action === 'drift').length,
    blocked: entries.filter((e) => e.action === 'blocked').length,
  };
}

function decide(s: PlanStep, input: PlanInput): { action: Action; reason: string; holds?: boolean } {
  const st = input.state.get(s.step);
  if (!st) return { action: 'run', reason: 'never applied' };
  const { latest, lastDone } = st;
  if (s.resumable && latest.event !== 'done' && st.checkpoint) {
    const c = st.checkpoint;
    const pct = c.total ? ` (${Math.floor((100 * (c.done ?? 0)) / c.total)}%)` : '';
    const what = latest.event === 'failed' ? `failed (${firstLine(latest.error ?? 'unknown error')})` : latest.event === 'started' ? 'left unfinished' : 'interrupted';
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
      return { action: 'run', reason: `started by ${latest.owner} at ${stamp(latest.at)} and never finished (interrupted, or still running)` };
    case 'interrupted':
      return { action: 'run', reason: `interrupted at ${stamp(latest.at)} (started by ${latest.owner})` };
    case 'done':
      break;
  }
  const done = lastDone ?? latest;
  // Another tool's record (ZITADEL's) has no checksum: it says the step ran, not what ran.
  const foreign = done.source !== undefined && done.checksum === undefined;
  if (!foreign && done.checksum !== s.checksum) {
    const why = `checksum changed since applied ${stamp(done.at)}`;
    return s.repeatable ? { action: 'rerun', reason: why } : { action: 'drift', reason: why };
  }
  const applied = done.source !== undefined ? `applied by ${done.source} at ${stamp(done.at)}` : `applied ${stamp(done.at)}`;
  if (!s.repeatable) return { action: 'skip', reason: applied };
  const check = input.checks.get(s.step);
  if (check === undefined) return { action: 'skip', reason: applied };
  if (typeof check === 'object') return { action: 'blocked', reason: `repeatable: check(lastRun) threw: ${firstLine(check.error)}` };
  return check
    ? { action: 'rerun', reason: 'repeatable: check(lastRun) returned true' }
    : { action: 'skip', reason: `repeatable: check(lastRun) returned false (${applied})` };
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
