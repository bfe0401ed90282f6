/**
 * The scheduler: runs the work of a Plan while the caller holds the run lock. A ready
 * queue (ties go to the step declared first) starts independent branches at once, up to
 * the pool's size; each step is a StepRun (its attempts, retries and records); a step that
 * did not end applied blocks its dependants.
 *
 * Every step gets the run's AbortSignal. When it aborts (signal, deadline, lock lost),
 * no new step starts, resumable steps stop at their next checkpoint, and a step that
 * stopped is recorded `interrupted` with its last committed checkpoint. Steps still
 * running at `settleBy` are abandoned, so the run can end.
 */
import { WORK_ACTIONS, type PlanEntry } from '../plan/planner.js';
import { StepError, causeChain, redact } from '../errors.js';
import { MinHeap } from '../plan/graph.js';
import { StepRun } from './step-run.js';
import { Train, trainable, trainBytes, TRAIN_MAX_BYTES, TRAIN_MAX_STEPS } from './train.js';

export type { StepStatus, StepResult, ExecuteOptions } from './options.js';
import type { ExecuteOptions, StepResult, StepStatus } from './options.js';

type Status = 'pending' | 'running' | StepStatus;

export async function executePlan(options: ExecuteOptions): Promise<StepResult[]> {
  const byName = new Map(options.steps.map((s) => [s.def.name, s] as const));
  const status = new Map<string, Status>();
  const results = new Map<string, StepResult>();
  const finish = (r: StepResult) => {
    status.set(r.step, r.status);
    results.set(r.step, r);
  };
  for (const e of options.plan.entries) {
    if (WORK_ACTIONS.has(e.action)) status.set(e.step, 'pending');
    else {
      finish({ step: e.step, action: e.action, reason: e.reason, status: e.action === 'skip' ? 'skipped' : e.action === 'drift' ? 'drift' : 'blocked' });
      if (e.action === 'blocked') options.events.emit({ type: 'step.blocked', step: e.step, reason: e.reason });
    }
  }
  // A ready queue: each pending step waits for its dependencies; when one finishes, only
  // its dependants are looked at (O(steps + edges), not a rescan of every step).
  const pending = options.plan.entries.filter((e) => WORK_ACTIONS.has(e.action));
  const index = new Map(options.plan.entries.map((e, i) => [e.step, i] as const));
  const dependants = new Map<string, PlanEntry[]>();
  const waiting = new Map<string, number>();
  // Ties go to the step declared first (a heap of plan positions): deterministic order.
  const ready = new MinHeap();
  const bad = (st: Status | undefined) => st === 'failed' || st === 'blocked' || st === 'interrupted' || st === 'drift';
  // Iterative: a failure at the head of a 10,000-step chain must not overflow the stack.
  const block = (first: PlanEntry, firstReason: string) => {
    const todo: Array<[PlanEntry, string]> = [[first, firstReason]];
    while (todo.length > 0) {
      const [e, reason] = todo.pop()!;
      if (status.get(e.step) !== 'pending') continue;
      finish({ step: e.step, action: e.action, reason, status: 'blocked' });
      options.events.emit({ type: 'step.blocked', step: e.step, reason });
      for (const d of dependants.get(e.step) ?? []) todo.push([d, `not run: depends on blocked step "${e.step}"`]);
    }
  };
  for (const e of pending) {
    let n = 0;
    for (const d of e.after) {
      const st = status.get(d);
      if (st === 'applied' || st === 'skipped') continue;
      n++;
      if (!dependants.has(d)) dependants.set(d, []);
      dependants.get(d)!.push(e);
    }
    waiting.set(e.step, n);
  }
  for (const e of pending) {
    const b = e.after.find((d) => bad(status.get(d)));
    if (b !== undefined) block(e, `not run: depends on ${status.get(b)} step "${b}"`);
    else if (waiting.get(e.step) === 0) ready.push(index.get(e.step)!);
  }
  const settle = (r: StepResult) => {
    finish(r);
    for (const d of dependants.get(r.step) ?? []) {
      if (r.status !== 'applied') block(d, `not run: depends on ${r.status} step "${r.step}"`);
      else {
        const n = waiting.get(d.step)! - 1;
        waiting.set(d.step, n);
        if (n === 0 && status.get(d.step) === 'pending') ready.push(index.get(d.step)!);
      }
    }
  };
  // A chain of SQL steps goes to the server as one message (src/engine/train.ts): from a
  // step taken off the ready queue, the next member is the step the queue would give next
  // once this one is done (its only unmet dependencies are members), while each is trainable.
  const trainFrom = (first: PlanEntry): PlanEntry[] => {
    const stepOf = (e: PlanEntry) => byName.get(e.step)!;
    const canRide = (e: PlanEntry) => !alone.has(e.step) && trainable(e, stepOf(e), options);
    if (!canRide(first)) return [first];
    const members = [first];
    const inTrain = new Set([first.step]);
    let bytes = trainBytes(stepOf(first));
    // Lowest position among steps that would become ready but were passed over.
    let passed = Infinity;
    for (let last = first; members.length < TRAIN_MAX_STEPS; ) {
      let next: PlanEntry | undefined;
      for (const d of dependants.get(last.step) ?? []) {
        if (status.get(d.step) !== 'pending' || inTrain.has(d.step)) continue;
        const unmet = waiting.get(d.step)! - d.after.filter((a) => inTrain.has(a)).length;
        if (unmet !== 0) continue;
        if (next === undefined || index.get(d.step)! < index.get(next.step)!) {
          if (next !== undefined) passed = Math.min(passed, index.get(next.step)!);
          next = d;
        } else passed = Math.min(passed, index.get(d.step)!);
      }
      if (next === undefined) break;
      // With room for steps at once, a step that becomes ready beside the train must not
      // wait for all of it: the train ends where one is passed over.
      if (options.concurrency > 1 && passed !== Infinity) break;
      const at = index.get(next.step)!;
      if (at > passed || at > (ready.peek() ?? Infinity)) break;
      const step = stepOf(next);
      bytes += trainBytes(step);
      if (!canRide(next) || bytes > TRAIN_MAX_BYTES) break;
      members.push(next);
      inTrain.add(next.step);
      last = next;
    }
    return members;
  };
  const launchTrain = (entries: PlanEntry[]): Promise<void> => {
    for (const e of entries) status.set(e.step, 'running');
    const train = new Train(entries.map((e) => ({ entry: e, step: byName.get(e.step)! })), options);
    const handle: { abandon(): void } = { abandon: () => train.abandon() };
    const p = train.run().then(async (out) => {
      // Back to pending first, so that settling the applied ones makes the next ready; if the
      // run was stopped meanwhile, they are not run (pending steps were blocked at the stop).
      for (const m of out.rest) status.set(m.entry.step, 'pending');
      // Their part was refused whole (a syntax error in one): each runs alone. What the
      // server ran is unknown (the journal was unreadable): each checks it first.
      if (out.alone || out.unsure) for (const m of out.rest) alone.add(m.entry.step);
      if (out.unsure) for (const m of out.rest) verify.add(m.entry.step);
      if (stopHandled) for (const m of out.rest) block(m.entry, 'not run: the run was stopped');
      for (const r of out.applied) settle(r);
      // A member given back with nothing left to wait for is ready again.
      for (const m of out.rest) if (status.get(m.entry.step) === 'pending' && waiting.get(m.entry.step) === 0) ready.push(index.get(m.entry.step)!);
      if (!out.failed) return;
      const { member, prior } = out.failed;
      const sr = new StepRun(member.entry, member.step, options);
      handle.abandon = () => sr.abandon();
      settle(await sr.run(prior));
    }).catch((err) => {
      // Not expected (a train's outcome is always given): fail what has no result yet.
      for (const e of entries) {
        if (status.get(e.step) === 'running') settle({ step: e.step, action: e.action, reason: e.reason, status: 'failed', error: new StepError(e.step, redact(causeChain(err), options.config.secrets), err) });
      }
    });
    const tracked: Promise<void> = p.finally(() => running.delete(tracked));
    running.set(tracked, handle);
    return tracked;
  };
  const running = new Map<Promise<void>, { abandon(): void }>();
  /** Steps that must run alone (not in a train), and steps that check the journal before they run. */
  const alone = new Set<string>();
  const verify = new Set<string>();
  let stopHandled = false;
  let abandonTimer: NodeJS.Timeout | undefined;
  let wake: (() => void) | undefined;
  const abandonAll = () => {
    for (const r of running.values()) r.abandon();
  };
  const onAbort = () => wake?.();
  options.signal.addEventListener('abort', onAbort, { once: true });
  try {
    for (;;) {
      if (options.signal.aborted && !stopHandled) {
        stopHandled = true;
        for (const e of pending) block(e, 'not run: the run was stopped');
        // Steps still running get until settleBy to stop; then they are abandoned.
        const by = options.settleBy?.();
        if (by !== undefined) abandonTimer = setTimeout(abandonAll, Math.max(0, by - Date.now()));
      }
      while (running.size < options.concurrency && ready.size > 0 && !options.signal.aborted) {
        const e = options.plan.entries[ready.pop()]!;
        if (status.get(e.step) !== 'pending') continue;
        const train = trainFrom(e);
        if (train.length > 1) {
          launchTrain(train);
          continue;
        }
        status.set(e.step, 'running');
        const sr = new StepRun(e, byName.get(e.step)!, options);
        const p: Promise<void> = sr.run(undefined, { verifyFirst: verify.has(e.step) }).then(settle, (err) =>
          settle({ step: e.step, action: e.action, reason: e.reason, status: 'failed', error: new StepError(e.step, redact(causeChain(err), options.config.secrets), err) }),
        );
        const tracked = p.finally(() => running.delete(tracked));
        running.set(tracked, sr);
      }
      if (running.size === 0) break;
      // Wake up on the first step to settle, or on a stop (to arm the abandon timer).
      const stopped = new Promise<void>((r) => {
        wake = r;
        if (options.signal.aborted && !stopHandled) r();
      });
      await Promise.race([...running.keys(), stopped]);
      wake = undefined;
    }
  } finally {
    clearTimeout(abandonTimer);
    options.signal.removeEventListener('abort', onAbort);
  }
  return options.plan.entries.map((e) => results.get(e.step)!);
}
