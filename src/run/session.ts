/**
 * The run's session: everything around a command's own work. It loads the project,
 * traps what code run by zsetup leaves behind (FaultTrap), wires the plugins' hooks, gives
 * apply and cleanup a RunControl (stop, deadline, cleanup deadline), connects, always
 * closes (bounded), and maps expected failures to results: a command never throws for a
 * bad config, an unreachable database, a lock timeout or a failed step.
 */
import { loadProject, type LoadOptions, type Project } from '../config/project.js';
import { Tokens, resolveAllOrNone, resolveContract } from '../container.js';
import { FaultTrap } from '../engine/faults.js';
import type { Database } from '../db.js';
import { ConfigError, DatabaseUnreachableError, LockTimeoutError, UsageError, causeChain, redact } from '../errors.js';
import { EngineEvents, describeStop, type EngineEvent, type Hooks, type RunControl, type StopReason } from '../engine/events.js';
import { classifyFault } from '../classify.js';
import { sleep, withTimeout } from '../lock/lock.js';

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

export interface Failure {
  status: FailureStatus;
  error: Error;
}

/**
 * The bookkeeping around the steps (create/load the state, recover, the final flush) is
 * retried when its connection drops (terminated, reset): it is idempotent, and a run that
 * holds the lock should not fail on it. A fence that fails means the lock is lost: stop.
 */
export async function retryConnectionFaults<T>(run: RunControl, fn: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      const fault = classifyFault(err);
      if (fault === 'lock-lost') {
        const message = String((err as Error).message);
        run.stop({ kind: 'lock-lost', message });
        throw new Error(`lock lost: ${message}`);
      }
      // Stopping cancels the running statement (57014): that is the stop, not an error.
      if (run.signal.aborted) throw run.signal.reason instanceof Error ? run.signal.reason : err;
      if (fault !== 'connection' || attempt >= 4) throw err;
      await sleep(100 * 2 ** attempt, run.signal);
    }
  }
}


/**
 * Load the project, connect, run `fn`, always close. Expected failures become results.
 * `apply` and `cleanup` get a RunControl that plugins (signal handler) and the deadline
 * use to stop the run; stopping aborts `run.signal` and cancels running statements.
 */
export async function session<R extends { status: string }>(
  options: BaseOptions,
  command: 'plan' | 'apply' | 'status' | 'cleanup' | 'baseline' | 'accept',
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
  command: 'plan' | 'apply' | 'status' | 'cleanup' | 'baseline' | 'accept',
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
    if (command === 'apply' || command === 'cleanup' || command === 'baseline' || command === 'accept') {
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
    err instanceof ConfigError || err instanceof UsageError ? 'config' : err instanceof DatabaseUnreachableError ? 'unreachable' : err instanceof LockTimeoutError ? 'lock-timeout' : 'error';
  if (err instanceof ConfigError) {
    // Problems may quote what a plugin or the config threw: scrub every one of them.
    return { status, error: new ConfigError(err.problems.map((p) => ({ ...p, message: redact(p.message, secrets) }))) };
  }
  const e = err instanceof Error ? err : new Error(causeChain(err));
  const safe = new Error(redact(status === 'error' ? causeChain(e) : e.message, secrets));
  Object.assign(safe, { hint: (e as { hint?: string }).hint, stack: redact(e.stack ?? '', secrets) });
  // Why it could not connect, for machines (--json: `code`, `sqlstate`).
  if (e instanceof DatabaseUnreachableError) Object.assign(safe, { code: e.code, sqlstate: e.sqlstate });
  return { status, error: safe };
}

