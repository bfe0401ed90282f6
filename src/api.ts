/**
 * The programmatic API: `plan()`, `apply()`, `status()`, `cleanup()`. Each returns a
 * result object and never throws for expected failures (bad config, unreachable
 * database, lock timeout, failed step, interruption): the CLI maps results to exit codes.
 */
import { Tokens, resolveContract } from './container.js';
import { ConfigError, LockTimeoutError, StepError, UsageError, ZsetupError } from './errors.js';
import type { RunControl, StopReason } from './engine/events.js';
import type { Lock, LockHandle } from './lock/lock.js';
import type { Project } from './config/project.js';
import { executePlan, type StepResult } from './engine/scheduler.js';
import { flushCommits } from './engine/transaction.js';
import { Recorder } from './engine/recorder.js';
import { WORK_ACTIONS, type Plan, type PlanEntry } from './plan/planner.js';
import { recordedSql } from './engine/step-run.js';
import { didYouMean } from './plan/graph.js';
import { planFor } from './run/checks.js';
import type { RecordedEvent, StepEvent, StepState } from './state/store.js';
import { describeHolder } from './lock/lock.js';
import { sqlState } from './classify.js';
import { recoverStuck, stuckSteps } from './run/recovery.js';
import { joinWhileWaiting, type Joiner } from './run/join.js';
import { retryConnectionFaults, session, type BaseOptions, type FailureStatus } from './run/session.js';

export type { BaseOptions, FailureStatus };

export interface PlanResult {
  status: 'ok' | FailureStatus;
  plan?: Plan;
  target?: string;
  error?: Error;
}

export interface ApplyOptions extends BaseOptions {
  /** Apply even when once-only steps changed after they ran (they are skipped). */
  allowDrift?: boolean;
}

export interface ApplyResult {
  status: 'ok' | 'failed' | 'drift' | 'interrupted' | FailureStatus;
  steps: StepResult[];
  plan?: Plan;
  target?: string;
  owner?: string;
  durationMs: number;
  error?: Error;
  /** Why the run stopped early (status `interrupted`). */
  stop?: StopReason;
}

export interface CleanupResult {
  status: 'ok' | FailureStatus;
  /** Steps found stuck (latest record `started`, owner gone) and recorded interrupted. */
  recovered: Array<{ step: string; previousOwner: string; startedAt: Date }>;
  target?: string;
  error?: Error;
}

export interface StatusEntry {
  step: string;
  /** Latest recorded event, or `pending` when never run. */
  state: RecordedEvent['event'] | 'pending';
  at?: Date;
  owner?: string;
  error?: string;
  declared: boolean;
  /** state `started`: whether the run that started it is live (holds the run lock now), or gone (left unfinished). */
  running?: boolean;
  /** state `done` without having run: recorded by `baseline` or `accept`. */
  via?: 'baseline' | 'accept';
}

export interface StatusResult {
  status: 'ok' | FailureStatus;
  steps?: StatusEntry[];
  history?: RecordedEvent[];
  target?: string;
  error?: Error;
}

/**
 * Dry run: what `apply` would do, and why. Never writes.
 * @example
 * ```ts
 * import { plan } from 'zsetup';
 *
 * const r = await plan({ configFile: 'zitadel.setup.ts' });
 * for (const e of r.plan?.entries ?? []) console.log(e.step, e.action, e.reason);
 * ```
 */
export async function plan(options: BaseOptions = {}): Promise<PlanResult> {
  return session(options, 'plan', async (project, db, _run, faults) => {
    const store = resolveContract(project.container, Tokens.StateStore, project.registrations, project.config.displayFile);
    const state = await store.load();
    const planned = await planFor(project, state, false, faults, await liveOwner(project, state));
    return { status: 'ok', plan: planned, target: db.target };
  });
}

/**
 * Run the plan under the run lock: every pending step, in dependency order. Never throws
 * for a bad config, an unreachable database, a lock timeout or a failed step: see `status`.
 * @example
 * ```ts
 * import { apply } from 'zsetup';
 *
 * const ac = new AbortController();
 * process.once('SIGTERM', () => ac.abort());
 * const r = await apply({ configFile: 'zitadel.setup.ts', signal: ac.signal });
 * if (r.status !== 'ok') console.error(r.error?.message ?? r.steps.find((s) => s.error)?.error?.message);
 * ```
 */
export async function apply(options: ApplyOptions = {}): Promise<ApplyResult> {
  const t0 = performance.now();
  let stop: StopReason | undefined;
  // Steps whose code failed after they were recorded done (a timer, a rejection left behind).
  const lateFailures = new Map<string, string>();
  const r = await session<ApplyResult>(options, 'apply', async (project, db, run, faults) => {
    const { config, container } = project;
    const lock = resolveContract(container, Tokens.Lock, project.registrations, config.displayFile);
    const store = resolveContract(container, Tokens.StateStore, project.registrations, config.displayFile);
    // Waiting for the lock, take a share of a step the holder runs that can be shared (prefill).
    const joiner = joinWhileWaiting({ steps: project.steps, db, store, config, events: project.events, signal: run.signal });
    const handle = await acquireRunLock(lock, project, run, joiner).finally(() => joiner.stop());
    try {
      // Every record from here on is fenced, recovery's too: a run paused right after it got
      // the lock (SIGSTOP, a frozen VM) and taken over must not mark the new holder's step.
      const recorder = Recorder.forLock(db, store, handle.fence);
      const state = await retryConnectionFaults(run, async () => {
        await store.init();
        return recoverStuck(store, await store.load(), config.owner, project.events, recorder);
      });
      const planned = await planFor(project, state, options.allowDrift ?? false, faults);
      const base = { plan: planned, target: db.target, owner: config.owner };
      if (planned.drift > 0) return { ...base, status: 'drift', steps: [], durationMs: 0, error: refusingDrift(planned, config.displayFile) };
      // Never silent: each changed step that --allow-drift leaves as applied is named.
      for (const e of planned.entries) {
        if (e.allowedDrift) {
          project.events.emit({ type: 'log', level: 'warn', step: e.step, message: `${e.reason}: not run, left as applied; after review, \`zsetup accept ${e.step}\` records its new content (then --allow-drift is no longer needed for it)` });
        }
      }

      const late = { writes: new Set<Promise<unknown>>(), closed: false };
      const steps = await executePlan({
        plan: planned,
        steps: project.steps,
        state,
        db,
        store,
        recorder,
        config,
        events: project.events,
        signal: run.signal,
        faults,
        late,
        // The pool's size, less the lock's own connection when it takes one from the pool.
        concurrency: Math.max(1, Math.min(config.apply.concurrency, db.poolMax - (lock.usesPool ? 1 : 0))),
        onLockLost: (message) => run.stop({ kind: 'lock-lost', message }),
        onLateFault: (step, message) => {
          lateFailures.set(step, message);
          run.stop({ kind: 'fault', message: `step "${step}" failed: ${message}` });
        },
        settleBy: () => settleBy(run),
      });
      // A step that was never applied failing on "already exists": an existing database.
      for (const r of steps) {
        const code = r.status === 'failed' ? sqlState(r.error) : undefined;
        if (code === undefined || !ALREADY_EXISTS.has(code) || planned.entries.find((e) => e.step === r.step)?.reason !== 'never applied') continue;
        project.events.emit({
          type: 'log',
          level: 'warn',
          step: r.step,
          message: `the database already has what it creates: if it was set up before zsetup, \`zsetup baseline --until ${r.step}\` records the steps up to it as applied without running them (\`zsetup baseline ${r.step}\` for this one alone)`,
        });
      }
      // Let leftovers of the last step surface, and their records land, while we hold the lock.
      await new Promise((resolve) => setImmediate(resolve));
      await Promise.allSettled([...late.writes]);
      late.closed = true;
      // Steps committed asynchronously: make them durable before anyone is told they are done.
      if (steps.some((s) => s.status === 'applied')) await retryConnectionFaults(run, () => flushCommits(db));
      return { ...base, status: outcomeOf(steps, stop), steps, durationMs: 0 };
    } finally {
      await handle.release();
    }
  }, (reason) => (stop = reason));
  return settle({ steps: [], ...r, durationMs: performance.now() - t0 }, stop, lateFailures);
}

/**
 * The owner of the live run that holds the run lock now, when a step of `state` was left
 * `started` by zsetup (plan, status: running, or left unfinished); otherwise, or unknown,
 * none: the lock is asked only then, not on every plan.
 */
async function liveOwner(project: Project, state: ReadonlyMap<string, StepState>): Promise<string | undefined> {
  if (![...state.values()].some((s) => s.latest.event === 'started' && s.latest.source === undefined)) return undefined;
  try {
    const lock = resolveContract(project.container, Tokens.Lock, project.registrations, project.config.displayFile);
    return (await lock.holder())?.owner;
  } catch {
    return undefined;
  }
}

/** duplicate_table, duplicate_object, duplicate_column, duplicate_schema, duplicate_function, duplicate_database. */
const ALREADY_EXISTS = new Set(['42P07', '42710', '42701', '42P06', '42723', '42P04']);

/** Wait for the run lock (saying who holds it while waiting); losing it later stops the run. */
async function acquireRunLock(lock: Lock, project: Project, run: RunControl, joiner?: Joiner): Promise<Pick<LockHandle, 'fence' | 'release'>> {
  const { config, events } = project;
  const since = Date.now();
  let handle: LockHandle;
  for (;;) {
    try {
      handle = await lock.acquire({
        owner: config.owner,
        timeoutMs: config.lock.timeoutMs,
        signal: run.signal,
        onWait: (holder, waitedMs) => {
          joiner?.start();
          events.emit({ type: 'lock.waiting', lock: lock.description, holder: describeHolder(holder), waitedMs });
        },
      });
      break;
    } catch (err) {
      // Waiting while it helped the holder's step is not waiting in vain: wait again.
      if (err instanceof LockTimeoutError && joiner?.takeJoined() && !run.signal.aborted) continue;
      throw err;
    }
  }
  const onLost = () => run.stop({ kind: 'lock-lost', message: String((handle.lost.reason as Error)?.message ?? handle.lost.reason) });
  handle.lost.addEventListener('abort', onLost, { once: true });
  const held = {
    fence: handle.fence,
    // Once released, the lock is no longer ours to lose: a late 'lost' must not stop a finished run.
    release: async () => {
      handle.lost.removeEventListener('abort', onLost);
      await handle.release();
    },
  };
  events.emit({ type: 'lock.acquired', lock: lock.description, owner: config.owner, waitedMs: Date.now() - since });
  if (run.signal.aborted) {
    await held.release();
    run.signal.throwIfAborted();
  }
  return held;
}

/**
 * After a stop, a running step gets until shortly before the run must be over to stop by
 * itself; then it is abandoned, so records, lock release and pool close still fit.
 */
function settleBy(run: RunControl): number | undefined {
  const by = run.cleanupBy;
  if (by === undefined) return undefined;
  return by - Math.min(1500, Math.max(0, (by - Date.now()) / 3));
}

/** The error of an apply that refuses to run because once-only steps changed after they ran. */
function refusingDrift(planned: Plan, file: string): ConfigError {
  const n = planned.drift;
  const names = planned.entries.filter((entry) => entry.action === 'drift').map((entry) => `"${entry.step}" (${entry.reason})`);
  return new ConfigError([
    {
      file,
      path: '',
      message: `refusing to apply: ${n} once-only step${n > 1 ? 's' : ''} changed after ${n > 1 ? 'they' : 'it'} ran: ${names.join(', ')}. \`zsetup plan\` shows what changed. Revert the change; or, after review, \`zsetup accept ${planned.entries.filter((entry) => entry.action === 'drift').map((entry) => entry.step).join(' ')}\` records the new content as applied (it does not run); or give the new content a new step name; or pass --allow-drift to leave ${n > 1 ? 'them' : 'it'} as applied for this run`,
    },
  ]);
}

/** What the steps' results make of the run (before anything that happens while it closes). */
function outcomeOf(steps: readonly StepResult[], stop: StopReason | undefined): ApplyResult['status'] {
  if (stop?.kind === 'fault') return 'failed';
  if (steps.some((s) => s.status === 'interrupted' || (s.status === 'blocked' && s.reason === 'not run: the run was stopped'))) return 'interrupted';
  return steps.some((s) => s.status === 'failed' || s.status === 'blocked') ? 'failed' : 'ok';
}

/** The result, once the run has closed: what a stop or a late fault makes of it. */
function settle(out: ApplyResult, stop: StopReason | undefined, lateFailures: ReadonlyMap<string, string>): ApplyResult {
  // A fault left behind by a step's code, even one that surfaced while the run was closing
  // (releasing its lock, closing the pool), fails the run and that step.
  if (lateFailures.size > 0) out.steps = out.steps.map((s) => (lateFailures.has(s.step) && s.status === 'applied' ? { ...s, status: 'failed', error: new StepError(s.step, lateFailures.get(s.step)!) } : s));
  if (stop?.kind === 'fault' && (out.status === 'ok' || out.status === 'interrupted')) {
    out.status = 'failed';
    out.stop = stop;
  }
  // A signal always ends the run as stopped (143/130), even when it landed after the last
  // step: the exit code then does not depend on the moment the signal came.
  if (stop?.kind === 'signal' && out.status === 'ok') out.status = 'interrupted';
  // After a stop, a lock wait that gave up or a statement that failed (cancelled by the
  // stop) is the stop itself, not a separate failure.
  if (stop && stop.kind !== 'fault' && (out.status === 'interrupted' || out.status === 'lock-timeout' || out.status === 'error')) {
    out.stop = stop;
    out.status = 'interrupted';
  }
  return out;
}

/**
 * Record every stuck step (latest record `started` by an owner that is gone) as
 * interrupted, in one call. Refuses while a live run holds the lock (lock-timeout).
 * `apply` does the same on its own; this is for operators who want it by hand.
 * @example
 * ```ts
 * import { cleanup } from 'zsetup';
 *
 * const r = await cleanup({ configFile: 'zitadel.setup.ts' });
 * console.log(r.recovered.map((s) => `${s.step} (left by ${s.previousOwner})`));
 * ```
 */
export async function cleanup(options: BaseOptions = {}): Promise<CleanupResult> {
  const r = await session<CleanupResult>(options, 'cleanup', async (project, db, run) => {
    const { config, container, events } = project;
    const lock = resolveContract(container, Tokens.Lock, project.registrations, config.displayFile);
    const store = resolveContract(container, Tokens.StateStore, project.registrations, config.displayFile);
    const holder = await lock.holder().catch(() => undefined);
    let handle;
    try {
      handle = await lock.acquire({ owner: config.owner, timeoutMs: 0, signal: run.signal });
    } catch (err) {
      if (err instanceof LockTimeoutError) {
        const h = (await lock.holder().catch(() => undefined)) ?? holder;
        throw new LockTimeoutError(`refusing to clean up: a live run holds the ${lock.description}: ${describeHolder(h)}`, {
          hint: 'that run will recover stuck steps itself; nothing to do by hand',
        });
      }
      throw err;
    }
    try {
      const state = await store.load();
      // Asked for by an operator: another tool's unfinished step too (ZITADEL's setup cleanup).
      const recovered = stuckSteps(state, config.owner, { foreign: true }).map((s) => ({ step: s.step, previousOwner: s.latest.owner, startedAt: s.latest.at }));
      if (recovered.length > 0) await recoverStuck(store, state, config.owner, events, Recorder.forLock(db, store, handle.fence), { foreign: true });
      return { status: 'ok', recovered, target: db.target };
    } finally {
      await handle.release();
    }
  });
  return { recovered: [], ...r };
}

export interface RecordOptions extends BaseOptions {
  /** The steps, by name. baseline: none (and no `until`) means every step that would run. */
  steps?: readonly string[];
  /** baseline: every step that would run, in plan order, up to and including this one. */
  until?: string;
  /**
   * Asked with what is about to be recorded (the lock is held meanwhile): false records
   * nothing (status `declined`). Not given: recorded without asking.
   */
  confirm?: (entries: readonly PlanEntry[], target: string) => Promise<boolean>;
}

export interface RecordResult {
  status: 'ok' | 'declined' | FailureStatus;
  /** What was recorded (or, declined, would have been), in plan order. */
  entries: PlanEntry[];
  plan?: Plan;
  target?: string;
  error?: Error;
}

/**
 * Record steps as applied without running them, for a database that already has what
 * they make (adopting an existing database, as Flyway's `baseline` or Prisma's
 * `migrate resolve --applied`). Each gets a `done` record marked `baseline`, all in one
 * transaction, under the run lock. Only steps that would run can be baselined.
 * @example
 * ```ts
 * import { baseline } from 'zsetup';
 *
 * const r = await baseline({ configFile: 'zsetup.config.ts', until: '003_orders' });
 * console.log(r.entries.map((e) => e.step));
 * ```
 */
export async function baseline(options: RecordOptions = {}): Promise<RecordResult> {
  return recordWithoutRunning(options, 'baseline', (planned, file) => {
    const pending = planned.entries.filter((e) => WORK_ACTIONS.has(e.action));
    const names = options.steps ?? [];
    if (names.length > 0 && options.until !== undefined) throw new UsageError('baseline: give steps or --until, not both');
    if (options.until !== undefined) {
      const at = findEntry(planned, options.until, file, 'baseline');
      return pending.filter((e) => planned.entries.indexOf(e) <= planned.entries.indexOf(at));
    }
    if (names.length === 0) return pending;
    const problems: string[] = [];
    const chosen = new Set<string>();
    for (const name of names) {
      const e = findEntry(planned, name, file, 'baseline');
      if (WORK_ACTIONS.has(e.action)) chosen.add(e.step);
      else
        problems.push(
          e.action === 'drift'
            ? `step "${name}" was applied and has changed since (${e.reason}): after review, \`zsetup accept ${name}\` records its new content`
            : `step "${name}" would not run (${e.action}: ${e.reason}): baseline records only steps that would run`,
        );
    }
    if (problems.length > 0) throw new UsageError(`baseline: nothing recorded: ${problems.join('; ')}`, { hint: pending.length > 0 ? `steps that would run: ${names_(pending)}` : 'no step would run: the database has every step recorded' });
    return pending.filter((e) => chosen.has(e.step));
  });
}

/**
 * Record the new content of steps that changed after they ran (drift), after review: a
 * `done` record marked `accept` with the new checksum and SQL. Nothing runs; the next
 * apply takes the step as applied.
 * @example
 * ```ts
 * import { accept } from 'zsetup';
 *
 * await accept({ configFile: 'zsetup.config.ts', steps: ['002_users'] });
 * ```
 */
export async function accept(options: RecordOptions = {}): Promise<RecordResult> {
  return recordWithoutRunning(options, 'accept', (planned, file) => {
    const names = options.steps ?? [];
    const changed = planned.entries.filter((e) => e.change !== undefined || e.codeChanged === true);
    const which = changed.length > 0 ? `steps that changed: ${names_(changed)}` : 'no step has changed since it was applied';
    if (names.length === 0) throw new UsageError('accept: name the steps to accept (zsetup accept STEP...)', { hint: which });
    const problems: string[] = [];
    const chosen = new Set<string>();
    for (const name of names) {
      const e = findEntry(planned, name, file, 'accept');
      if (changed.includes(e)) chosen.add(e.step);
      else
        problems.push(
          WORK_ACTIONS.has(e.action) && e.reason === 'never applied'
            ? `step "${name}" was never applied: there is no change to accept (\`zsetup baseline ${name}\` records a step as applied without running it)`
            : `step "${name}" has not changed since it was applied (${e.action}: ${e.reason})`,
        );
    }
    if (problems.length > 0) throw new UsageError(`accept: nothing accepted: ${problems.join('; ')}`, { hint: which });
    return planned.entries.filter((e) => chosen.has(e.step));
  });
}

/** A plan entry by step name, or a usage error that names the closest step. */
function findEntry(planned: Plan, name: string, file: string, command: string): PlanEntry {
  const e = planned.entries.find((x) => x.step === name);
  if (e) return e;
  const guess = didYouMean(name, planned.entries.map((x) => x.step));
  throw new UsageError(`${command}: nothing recorded: no step "${name}" in ${file}${guess ? ` (did you mean "${guess}"?)` : ''}`, { hint: '`zsetup plan` lists the steps' });
}

/** Step names for a hint: the first few. */
function names_(entries: readonly PlanEntry[]): string {
  const n = entries.map((e) => e.step);
  return n.length > 8 ? `${n.slice(0, 8).join(', ')} and ${n.length - 8} more` : n.join(', ');
}

/** baseline and accept: under the run lock, choose the entries, ask, then record them done in one transaction. */
async function recordWithoutRunning(options: RecordOptions, command: 'baseline' | 'accept', choose: (planned: Plan, file: string) => PlanEntry[]): Promise<RecordResult> {
  const r = await session<RecordResult>(options, command, async (project, db, run, faults) => {
    const { config, container } = project;
    const lock = resolveContract(container, Tokens.Lock, project.registrations, config.displayFile);
    const store = resolveContract(container, Tokens.StateStore, project.registrations, config.displayFile);
    // Asked before the lock is taken (an unanswered question must not hold back a deploy),
    // then planned again under it: what is recorded is what was shown, or nothing.
    let asked: PlanEntry[] | undefined;
    if (options.confirm) {
      const now = await store.load();
      const before = await planFor(project, now, false, faults, await liveOwner(project, now));
      asked = choose(before, config.displayFile);
      if (asked.length > 0 && !(await options.confirm(asked, db.target))) return { entries: asked, plan: before, target: db.target, status: 'declined' };
    }
    const handle = await acquireRunLock(lock, project, run);
    try {
      const recorder = Recorder.forLock(db, store, handle.fence);
      const state = await retryConnectionFaults(run, async () => {
        await store.init();
        return recoverStuck(store, await store.load(), config.owner, project.events, recorder);
      });
      const planned = await planFor(project, state, false, faults);
      const entries = choose(planned, config.displayFile);
      const base = { entries, plan: planned, target: db.target };
      if (asked !== undefined && asked.map((e) => `${e.step}\0${e.checksum}`).join('\n') !== entries.map((e) => `${e.step}\0${e.checksum}`).join('\n')) {
        throw new ZsetupError(`${command}: what would be recorded changed while you were asked (another run applied or changed steps): nothing was recorded`, { hint: `run zsetup ${command} again to see the steps as they are now` });
      }
      if (entries.length === 0) return { ...base, status: 'ok' };
      const byName = new Map(project.steps.map((s) => [s.def.name, s]));
      const events: StepEvent[] = [];
      for (const e of entries) {
        const step = byName.get(e.step)!;
        const rep = step.def.repeatable;
        // A repeatable's check gets what it would have recorded: its lastRun() now (baseline),
        // or the one recorded when it last ran (accept).
        const lastRun = rep === undefined ? undefined : command === 'accept' ? state.get(e.step)?.lastDone?.lastRun : await Promise.resolve(rep.lastRun());
        events.push({ step: e.step, event: 'done', owner: config.owner, checksum: e.checksum, via: command, ...recordedSql(step), ...(lastRun !== undefined ? { lastRun } : {}) });
      }
      // All or nothing: one transaction.
      await retryConnectionFaults(run, () => db.withSession((s) => s.exec(`BEGIN;\n${recorder.statements(...events)};\nCOMMIT;`)));
      return { ...base, status: 'ok' };
    } finally {
      await handle.release();
    }
  });
  return { entries: [], ...r };
}

/**
 * Each step's recorded state, or (history) every recorded event. Never writes.
 * @example
 * ```ts
 * import { status } from 'zsetup';
 *
 * const r = await status({ configFile: 'zitadel.setup.ts' });
 * const stuck = r.steps?.filter((s) => s.state === 'started') ?? [];
 * ```
 */
export async function status(options: BaseOptions & { history?: boolean } = {}): Promise<StatusResult> {
  return session(options, 'status', async (project, db) => {
    const store = resolveContract(project.container, Tokens.StateStore, project.registrations, project.config.displayFile);
    if (options.history) return { status: 'ok', history: await store.history(), target: db.target };
    const state = await store.load();
    const running = await liveOwner(project, state);
    const declared = new Set(project.steps.map((s) => s.def.name));
    const entries: StatusEntry[] = project.steps.map((s) => entry(s.def.name, state.get(s.def.name), true, running));
    for (const [name, st] of state) if (!declared.has(name)) entries.push(entry(name, st, false, running));
    return { status: 'ok', steps: entries, target: db.target };
  });
}

function entry(step: string, st: StepState | undefined, declared: boolean, running: string | undefined): StatusEntry {
  if (!st) return { step, state: 'pending', declared };
  const started = st.latest.event === 'started';
  return {
    step,
    state: st.latest.event,
    at: st.latest.at,
    owner: st.latest.owner,
    error: st.latest.error,
    declared,
    ...(started ? { running: running !== undefined && st.latest.owner === running } : {}),
    ...(st.latest.event === 'done' && st.latest.via !== undefined ? { via: st.latest.via } : {}),
  };
}
