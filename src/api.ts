/**
 * The programmatic API: `plan()`, `apply()`, `status()`, `cleanup()`. Each returns a
 * result object and never throws for expected failures (bad config, unreachable
 * database, lock timeout, failed step, interruption): the CLI maps results to exit codes.
 */
import { loadProject, type LoadOptions, type Project } from './config/project.js';
import { Tokens, resolveAllOrNone, resolveContract } from './container.js';
import { FaultTrap } from './engine/faults.js';
import type { Database } from './db.js';
import { ConfigError, DatabaseUnreachableError, LockTimeoutError, causeChain, describeThrown, redact } from './errors.js';
import { CONFIG_TIMEOUT_MS } from './config/load.js';
import { formatMs, parseDuration } from './config/duration.js';
import { EngineEvents, describeStop, type EngineEvent, type Hooks, type RunControl, type StopReason } from './engine/events.js';
import { executePlan, flushCommits, type StepResult } from './engine/executor.js';
import { planSteps, stepsNeedingCheck, type CheckResult, type Plan } from './plan/planner.js';
import type { RecordedEvent, StateStore, StepEvent, StepState } from './state/store.js';
import { describeHolder } from './lock/lock.js';
import { LOCK_LOST_CODE, fenceStatement, fenced, isConnectionFault, sleep, withTimeout } from './lock/lock.js';
import { isDeepStrictEqual } from 'node:util';

export type FailureStatus = 'config' | 'unreachable' | 'lock-timeout' | 'error';

export interface BaseOptions extends Omit<LoadOptions, 'command' | 'events'> {
  /** Stop early: aborting it stops the run as a signal would (steps stop at their next checkpoint). */
  signal?: AbortSignal;
  /** Receives every engine event. */
  onEvent?: (event: EngineEvent) => void;
  /**
   * When the run started (epoch ms): `apply.deadline` counts from here. @default when the
   * call was made. The CLI passes the process start, as a Job's activeDeadlineSeconds counts.
   */
  startedAt?: number;
}

interface Failure {
  status: FailureStatus;
  error: Error;
}

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
}

export interface StatusResult {
  status: 'ok' | FailureStatus;
  steps?: StatusEntry[];
  history?: RecordedEvent[];
  target?: string;
  error?: Error;
}

/** Dry run: what `apply` would do, and why. Never writes. */
export async function plan(options: BaseOptions = {}): Promise<PlanResult> {
  return session(options, 'plan', async (project, db, _run, faults) => {
    const store = resolveContract(project.container, Tokens.StateStore, project.registrations, project.config.displayFile);
    const state = await store.load();
    const p = await makePlan(project, state, false, faults);
    return { status: 'ok', plan: p, target: db.target };
  });
}

/** Run the plan under the run lock. */
export async function apply(options: ApplyOptions = {}): Promise<ApplyResult> {
  const t0 = performance.now();
  let stop: StopReason | undefined;
  // Steps whose code failed after they were recorded done (a timer, a rejection left behind).
  const lateFailures = new Map<string, string>();
  const r = await session<ApplyResult>(options, 'apply', async (project, db, run, faults) => {
    const { config, container, events } = project;
    const lock = resolveContract(container, Tokens.Lock, project.registrations, config.displayFile);
    const store = resolveContract(container, Tokens.StateStore, project.registrations, config.displayFile);
    const lockStart = Date.now();
    const handle = await lock.acquire({
      owner: config.owner,
      timeoutMs: config.lock.timeoutMs,
      signal: run.signal,
      onWait: (holder, waitedMs) => events.emit({ type: 'lock.waiting', lock: lock.description, holder: describeHolder(holder), waitedMs }),
    });
    const onLost = () => run.stop({ kind: 'lock-lost', message: String((handle.lost.reason as Error)?.message ?? handle.lost.reason) });
    handle.lost.addEventListener('abort', onLost, { once: true });
    try {
      events.emit({ type: 'lock.acquired', lock: lock.description, owner: config.owner, waitedMs: Date.now() - lockStart });
      run.signal.throwIfAborted();
      const fence = handle.fence ? fenceStatement(handle.fence) : '';
      // Recovery records are fenced like every other record: a run paused right after it got
      // the lock (SIGSTOP, a frozen VM) and taken over must not mark the new holder's step.
      const recordFenced = (ev: StepEvent) => db.withSession((s) => s.exec(fenced(fence, store.recordStatement(ev))));
      const state = await retryConnectionFaults(run, async () => {
        await store.init();
        return recoverStuck(store, await store.load(), config.owner, events, recordFenced);
      });
      const p = await makePlan(project, state, options.allowDrift ?? false, faults);
      const base = { plan: p, target: db.target, owner: config.owner };
      if (p.drift > 0) {
        const names = p.entries.filter((e) => e.action === 'drift').map((e) => `"${e.step}" (${e.reason})`);
        return {
          ...base,
          status: 'drift',
          steps: [],
          durationMs: 0,
          error: new ConfigError([
            {
              file: config.displayFile,
              path: '',
              message: `refusing to apply: ${p.drift} once-only step${p.drift > 1 ? 's' : ''} changed after ${p.drift > 1 ? 'they' : 'it'} ran: ${names.join(', ')}. Revert the change, give the new content a new step name, or pass --allow-drift to leave ${p.drift > 1 ? 'them' : 'it'} as applied`,
            },
          ]),
        };
      }
      const reserve = lock.usesPool ? 1 : 0;
      const concurrency = Math.max(1, Math.min(config.apply.concurrency, db.poolMax - reserve));
      const onLockLost = (message: string) => run.stop({ kind: 'lock-lost', message });
      // A running step gets until shortly before the run must be over to stop by itself;
      // then it is abandoned, so records, lock release and pool close still fit.
      const settleBy = () => {
        const by = run.cleanupBy;
        if (by === undefined) return undefined;
        return by - Math.min(1500, Math.max(0, (by - Date.now()) / 3));
      };
      const onLateFault = (step: string, message: string) => {
        lateFailures.set(step, message);
        run.stop({ kind: 'fault', message: `step "${step}" failed: ${message}` });
      };
      const late = { writes: new Set<Promise<unknown>>(), closed: false };
      const steps = await executePlan({ plan: p, steps: project.steps, state, db, store, config, events, signal: run.signal, fence, concurrency, onLockLost, faults, settleBy, onLateFault, late });
      // Let leftovers of the last step surface, and their records land, while we hold the lock.
      await new Promise((r) => setImmediate(r));
      await Promise.allSettled([...late.writes]);
      late.closed = true;
      // Steps committed asynchronously: make them durable before anyone is told they are done.
      if (steps.some((s) => s.status === 'applied')) await retryConnectionFaults(run, () => flushCommits(db));
      const stopped = steps.some((s) => s.status === 'interrupted' || (s.status === 'blocked' && s.reason === 'not run: the run was stopped'));
      const failed = steps.some((s) => s.status === 'failed' || s.status === 'blocked') || stop?.kind === 'fault';
      return { ...base, status: stop?.kind === 'fault' ? 'failed' : stopped ? 'interrupted' : failed ? 'failed' : 'ok', steps, durationMs: 0 };
    } finally {
      handle.lost.removeEventListener('abort', onLost);
      await handle.release();
    }
  }, (reason) => (stop = reason));
  const out: ApplyResult = { steps: [], ...r, durationMs: performance.now() - t0 };
  // A fault left behind by a step's code, even one that surfaced while the run was closing
  // (releasing its lock, closing the pool), fails the run and that step.
  if (lateFailures.size > 0) out.steps = out.steps.map((s) => (lateFailures.has(s.step) && s.status === 'applied' ? { ...s, status: 'failed', error: lateFailures.get(s.step) } : s));
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
      const recovered = stuckSteps(state, config.owner).map((s) => ({ step: s.step, previousOwner: s.latest.owner, startedAt: s.latest.at }));
      if (recovered.length > 0) await recoverStuck(store, state, config.owner, events);
      return { status: 'ok', recovered, target: db.target };
    } finally {
      await handle.release();
    }
  });
  return { recovered: [], ...r };
}

/** Each step's recorded state, or (history) every recorded event. Never writes. */
export async function status(options: BaseOptions & { history?: boolean } = {}): Promise<StatusResult> {
  return session(options, 'status', async (project, db) => {
    const store = resolveContract(project.container, Tokens.StateStore, project.registrations, project.config.displayFile);
    if (options.history) return { status: 'ok', history: await store.history(), target: db.target };
    const state = await store.load();
    const declared = new Set(project.steps.map((s) => s.def.name));
    const entries: StatusEntry[] = project.steps.map((s) => entry(s.def.name, state.get(s.def.name), true));
    for (const [name, st] of state) if (!declared.has(name)) entries.push(entry(name, st, false));
    return { status: 'ok', steps: entries, target: db.target };
  });
}

function entry(step: string, st: StepState | undefined, declared: boolean): StatusEntry {
  if (!st) return { step, state: 'pending', declared };
  return { step, state: st.latest.event, at: st.latest.at, owner: st.latest.owner, error: st.latest.error, declared };
}

/**
 * A step whose latest record is `started` by another owner, seen while we hold the lock,
 * is stuck by definition (the lock proves its owner is gone): record it interrupted.
 */
async function recoverStuck(
  store: StateStore,
  state: Map<string, StepState>,
  owner: string,
  events: EngineEvents,
  record: (ev: StepEvent) => Promise<void> = (ev) => store.record(ev),
): Promise<Map<string, StepState>> {
  const stuck = stuckSteps(state, owner);
  if (stuck.length === 0) return state;
  for (const s of stuck) {
    await record({
      step: s.step,
      event: 'interrupted',
      owner,
      checksum: s.latest.checksum,
      checkpoint: s.checkpoint?.value,
      error: `recovered: started by ${s.latest.owner} at ${s.latest.at.toISOString()}; that run is gone (we hold the lock)`,
    });
    events.emit({ type: 'step.recovered', step: s.step, previousOwner: s.latest.owner, startedAt: s.latest.at.toISOString() });
  }
  return store.load();
}

/** Steps whose latest record is `started` by another owner. */
function stuckSteps(state: Map<string, StepState>, owner: string): StepState[] {
  return [...state.values()].filter((s) => s.latest.event === 'started' && s.latest.owner !== owner);
}

/**
 * The bookkeeping around the steps (create/load the state, recover, the final flush) is
 * retried when its connection drops (terminated, reset): it is idempotent, and a run that
 * holds the lock should not fail on it. A fence that fails means the lock is lost: stop.
 */
async function retryConnectionFaults<T>(run: RunControl, fn: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if ((err as { code?: string })?.code === LOCK_LOST_CODE) {
        const message = String((err as Error).message);
        run.stop({ kind: 'lock-lost', message });
        throw new Error(`lock lost: ${message}`);
      }
      // Stopping cancels the running statement (57014): that is the stop, not an error.
      if (run.signal.aborted) throw run.signal.reason instanceof Error ? run.signal.reason : err;
      if (!isConnectionFault(err) || attempt >= 4) throw err;
      await sleep(100 * 2 ** attempt, run.signal);
    }
  }
}

async function makePlan(project: Project, state: Map<string, StepState>, allowDrift: boolean, faults?: FaultTrap): Promise<Plan> {
  const planSteps_ = project.steps.map((s) => s.plan);
  const checks = new Map<string, CheckResult>();
  const byName = new Map(project.steps.map((s) => [s.def.name, s] as const));
  for (const name of stepsNeedingCheck(planSteps_, state)) {
    const rep = byName.get(name)!.def.repeatable!;
    const last = state.get(name)?.lastDone?.lastRun;
    try {
      const decide = () => Promise.resolve().then(async () => (rep.check ? Boolean(await rep.check(last)) : !isDeepStrictEqual(normalizeJson(await rep.lastRun()), last)));
      checks.set(name, await boundedCheck(name, decide, faults));
    } catch (err) {
      checks.set(name, { error: redact(causeChain(err), project.config.secrets) });
    }
  }
  return planSteps({ steps: planSteps_, state, checks, allowDrift });
}

/** How long a repeatable step's check() may take (`ZSETUP_CONFIG_TIMEOUT` changes it too). */
function checkTimeoutMs(): number {
  const v = process.env.ZSETUP_CONFIG_TIMEOUT;
  return (v ? parseDuration(v) : undefined) ?? CONFIG_TIMEOUT_MS;
}

/**
 * Run a repeatable step's check() in its own fault scope (a throw it leaves in a timer
 * fails the check, not the run) and bounded in time (a check that never settles blocks
 * its step instead of hanging the command).
 */
async function boundedCheck(name: string, decide: () => Promise<boolean>, faults?: FaultTrap): Promise<boolean> {
  let fail!: (err: Error) => void;
  const failed = new Promise<never>((_r, reject) => (fail = reject));
  failed.catch(() => undefined);
  let done = false;
  const ms = checkTimeoutMs();
  const timer = setTimeout(() => fail(new Error(`check() did not settle within ${formatMs(ms)}`)), ms);
  const scope = {
    step: name,
    fault: (err: unknown, how: string) => {
      if (!done) fail(new Error(`${describeThrown(err)} (${how} left behind by check())`));
    },
    idle: () => fail(new Error('check() can never settle: it waits for something that never happens')),
  };
  try {
    faults?.enter(scope);
    const p = faults ? faults.run(scope, decide) : decide();
    p.catch(() => undefined);
    return await Promise.race([p, failed]);
  } finally {
    done = true;
    clearTimeout(timer);
    faults?.leave(scope);
  }
}

/** What a value looks like after a JSON round trip through the journal. */
function normalizeJson(v: unknown): unknown {
  return v === undefined ? undefined : JSON.parse(JSON.stringify(v));
}

/**
 * Load the project, connect, run `fn`, always close. Expected failures become results.
 * `apply` and `cleanup` get a RunControl that plugins (signal handler) and the deadline
 * use to stop the run; stopping aborts `run.signal` and cancels running statements.
 */
async function session<R extends { status: string }>(
  options: BaseOptions,
  command: 'plan' | 'apply' | 'status' | 'cleanup',
  fn: (project: Project, db: Database, run: RunControl, faults: FaultTrap) => Promise<R>,
  onStop?: (reason: StopReason) => void,
): Promise<R | (Failure & { target?: string })> {
  const origin = options.startedAt ?? Date.now();
  const events = new EngineEvents();
  if (options.onEvent) events.on(options.onEvent);
  // Errors that code run by zsetup leaves behind (the config's, a plugin's, a step's) are
  // caught while the command runs: a step's fail that step, others fail the command.
  let runFault: Error | undefined;
  let run: RunControl | undefined;
  const faults = new FaultTrap((err, how, who) => {
    const message = `${who ?? 'code outside any step (the config or a plugin)'} left ${how} behind: ${causeChain(err)}`;
    runFault ??= new Error(message);
    run?.stop({ kind: 'fault', message });
  });
  const untrap = faults.install();
  try {
    let project: Project;
    try {
      project = await loadProject({ ...options, command, events });
    } catch (err) {
      return failure(runFault ?? err, []);
    }
    const r = await sessionWith(project, options, command, origin, events, faults, (x) => (run = x), fn, onStop);
    if (runFault && r.status !== 'config') return { ...failure(runFault, project.config.secrets), target: (r as { target?: string }).target };
    return r;
  } finally {
    untrap();
  }
}

async function sessionWith<R extends { status: string }>(
  project: Project,
  options: BaseOptions,
  command: 'plan' | 'apply' | 'status' | 'cleanup',
  origin: number,
  events: EngineEvents,
  faults: FaultTrap,
  expose: (run: RunControl) => void,
  fn: (project: Project, db: Database, run: RunControl, faults: FaultTrap) => Promise<R>,
  onStop?: (reason: StopReason) => void,
): Promise<R | (Failure & { target?: string })> {
  const { config } = project;
  const secrets = config.secrets;
  let hooks: Hooks[];
  try {
    hooks = resolveAllOrNone(project.container, Tokens.Hooks);
  } catch (err) {
    return failure(new ConfigError([{ file: config.displayFile, path: 'plugins', message: `a plugin's hooks (Tokens.Hooks) could not be created: ${causeChain(err)}` }]), secrets);
  }
  hooks.forEach((h, i) => {
    if (typeof h?.onEvent !== 'function') return;
    // A hook runs in its own fault scope: what it leaves behind (a rejected async onEvent)
    // is the plugin's fault and fails the run, never the step whose event it was handling.
    const who = `a plugin's onEvent hook (#${i + 1} of Tokens.Hooks)`;
    const scope = { step: '', fault: (err: unknown, how: string) => faults.runFault(err, how, who), idle: () => undefined };
    events.on((e) => faults.run(scope, () => h.onEvent!(e)));
  });

  let db: Database | undefined;
  const ac = new AbortController();
  const timers: NodeJS.Timeout[] = [];
  let stopped = false;
  const deadline = command === 'apply' ? config.apply.deadlineMs : undefined;
  const deadlineAt = deadline !== undefined ? origin + deadline : undefined;
  let cleanupBy: number | undefined;
  const run: RunControl = {
    command,
    signal: ac.signal,
    cleanupDeadlineMs: config.apply.cleanupDeadlineMs,
    get cleanupBy() {
      return cleanupBy;
    },
    deadlineAt,
    events,
    stop(reason, o) {
      if (stopped) return;
      stopped = true;
      // The run must be over by then: the deadline itself, or now plus the cleanup deadline.
      cleanupBy = reason.kind === 'deadline' && deadlineAt !== undefined ? deadlineAt : Date.now() + (o?.cleanupDeadlineMs ?? config.apply.cleanupDeadlineMs);
      onStop?.(reason);
      const why = describeStop(reason);
      events.emit({ type: 'run.stopping', reason: why, signal: reason.kind === 'signal' ? reason.signal : undefined });
      ac.abort(new Error(why));
      // A deadline stops at the next checkpoint; everything else stops now: cancel the
      // running statements (their transactions roll back on the server).
      if (reason.kind !== 'deadline') void db?.cancelRunning?.().catch(() => undefined);
    },
  };
  expose(run);
  const external = options.signal;
  const onExternal = () => run.stop({ kind: 'signal', signal: 'SIGTERM' });
  if (external?.aborted) onExternal();
  external?.addEventListener('abort', onExternal, { once: true });
  const disposers: Array<() => void> = [];
  try {
    if (command === 'apply' || command === 'cleanup') {
      hooks.forEach((h, i) => {
        if (typeof h?.onRun !== 'function') return;
        let d: unknown;
        try {
          d = h.onRun(run);
        } catch (err) {
          throw new ConfigError([{ file: config.displayFile, path: 'plugins', message: `a plugin's onRun hook (#${i + 1} of Tokens.Hooks) failed: ${causeChain(err)}` }]);
        }
        if (typeof d === 'function') disposers.push(d as () => void);
      });
      if (deadline !== undefined && deadlineAt !== undefined) {
        // Stop early enough that the batch in flight and cleanup finish before the deadline.
        // It counts from the start of the run (loading the config is part of it), not from here.
        const margin = Math.min(config.apply.cleanupDeadlineMs, deadline / 4);
        const left = deadlineAt - Date.now();
        timers.push(setTimeout(() => run.stop({ kind: 'deadline', deadline: new Date(deadlineAt) }), Math.max(0, left - margin)));
        timers.push(setTimeout(() => void db?.cancelRunning?.().catch(() => undefined), Math.max(0, left - margin / 2)));
        for (const t of timers) t.unref();
      }
    }
    db = resolveContract(project.container, Tokens.Database, project.registrations, config.displayFile);
    events.emit({ type: 'run.started', command, target: db.target, owner: config.owner, steps: project.steps.length });
    await db.connect(run.signal);
    return await fn(project, db, run, faults);
  } catch (err) {
    return { ...failure(err, secrets), target: db?.target };
  } finally {
    for (const t of timers) clearTimeout(t);
    external?.removeEventListener('abort', onExternal);
    // Bounded: a step abandoned mid-transaction may still hold a pool connection, and the
    // pool's end waits for it. The process is about to end; the server rolls it back.
    await withTimeout(db?.close() ?? Promise.resolve(), cleanupBy === undefined ? 5000 : Math.max(200, cleanupBy - Date.now()));
    for (const d of disposers) {
      try {
        d();
      } catch {
        // a hook's disposer must not turn a result into a crash
      }
    }
  }
}

function failure(err: unknown, secrets: readonly string[]): Failure {
  const status: FailureStatus =
    err instanceof ConfigError ? 'config' : err instanceof DatabaseUnreachableError ? 'unreachable' : err instanceof LockTimeoutError ? 'lock-timeout' : 'error';
  if (err instanceof ConfigError) {
    // Problems may quote what a plugin or the config threw: scrub every one of them.
    return { status, error: new ConfigError(err.problems.map((p) => ({ ...p, message: redact(p.message, secrets) }))) };
  }
  const e = err instanceof Error ? err : new Error(causeChain(err));
  const safe = new Error(redact(status === 'error' ? causeChain(e) : e.message, secrets));
  Object.assign(safe, { hint: (e as { hint?: string }).hint, stack: redact(e.stack ?? '', secrets) });
  return { status, error: safe };
}
