/**
 * The programmatic API: `plan()`, `apply()`, `status()`. Each returns a result object and
 * never throws for expected failures (bad config, unreachable database, lock timeout,
 * failed step): the CLI maps results to exit codes.
 */
import { loadProject, type LoadOptions, type Project } from './config/project.js';
import { Tokens, resolveAllOrNone } from './container.js';
import type { Database } from './db.js';
import { ConfigError, DatabaseUnreachableError, LockTimeoutError, causeChain, redact } from './errors.js';
import { EngineEvents, type EngineEvent } from './engine/events.js';
import { executePlan, type StepResult } from './engine/executor.js';
import { planSteps, stepsNeedingCheck, type CheckResult, type Plan } from './plan/planner.js';
import type { RecordedEvent, StateStore, StepState } from './state/store.js';
import { describeHolder } from './lock/advisory.js';
import { isDeepStrictEqual } from 'node:util';

export type FailureStatus = 'config' | 'unreachable' | 'lock-timeout' | 'error';

export interface BaseOptions extends Omit<LoadOptions, 'command' | 'events'> {
  /** Stop early (SIGTERM handling passes one). */
  signal?: AbortSignal;
  /** Receives every engine event. */
  onEvent?: (event: EngineEvent) => void;
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
  return session(options, 'plan', async (project, db) => {
    const store = project.container.resolve(Tokens.StateStore);
    const state = await store.load();
    const p = await makePlan(project, state, false);
    return { status: 'ok', plan: p, target: db.target };
  });
}

/** Run the plan under the run lock. */
export async function apply(options: ApplyOptions = {}): Promise<ApplyResult> {
  const t0 = performance.now();
  const r = await session<ApplyResult>(options, 'apply', async (project, db, signal) => {
    const { config, container, events } = project;
    const lock = container.resolve(Tokens.Lock);
    const store = container.resolve(Tokens.StateStore);
    const lockStart = Date.now();
    const handle = await lock.acquire({
      owner: config.owner,
      timeoutMs: config.lock.timeoutMs,
      signal,
      onWait: (holder, waitedMs) => events.emit({ type: 'lock.waiting', lock: lock.description, holder: describeHolder(holder), waitedMs }),
    });
    try {
      events.emit({ type: 'lock.acquired', lock: lock.description, owner: config.owner, waitedMs: Date.now() - lockStart });
      const runSignal = AbortSignal.any([signal, handle.lost]);
      await store.init();
      let state = await store.load();
      state = await recoverStuck(store, state, config.owner, events);
      const p = await makePlan(project, state, options.allowDrift ?? false);
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
      const steps = await executePlan({ plan: p, steps: project.steps, state, db, store, config, events, signal: runSignal, concurrency });
      const failed = steps.some((s) => s.status === 'failed' || (s.status === 'blocked' && !runSignal.aborted));
      const interrupted = steps.some((s) => s.status === 'interrupted') || runSignal.aborted;
      return { ...base, status: interrupted ? 'interrupted' : failed ? 'failed' : 'ok', steps, durationMs: 0 };
    } finally {
      await handle.release();
    }
  });
  return { steps: [], ...r, durationMs: performance.now() - t0 };
}

/** Each step's recorded state, or (history) every recorded event. Never writes. */
export async function status(options: BaseOptions & { history?: boolean } = {}): Promise<StatusResult> {
  return session(options, 'status', async (project, db) => {
    const store = project.container.resolve(Tokens.StateStore);
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
async function recoverStuck(store: StateStore, state: Map<string, StepState>, owner: string, events: EngineEvents): Promise<Map<string, StepState>> {
  const stuck = [...state.values()].filter((s) => s.latest.event === 'started' && s.latest.owner !== owner);
  if (stuck.length === 0) return state;
  for (const s of stuck) {
    await store.record({ step: s.step, event: 'interrupted', owner, checksum: s.latest.checksum, checkpoint: s.latest.checkpoint, error: `recovered: started by ${s.latest.owner} at ${s.latest.at.toISOString()}, owner gone` });
    events.emit({ type: 'step.recovered', step: s.step, previousOwner: s.latest.owner, startedAt: s.latest.at.toISOString() });
  }
  return store.load();
}

async function makePlan(project: Project, state: Map<string, StepState>, allowDrift: boolean): Promise<Plan> {
  const planSteps_ = project.steps.map((s) => s.plan);
  const checks = new Map<string, CheckResult>();
  const byName = new Map(project.steps.map((s) => [s.def.name, s] as const));
  for (const name of stepsNeedingCheck(planSteps_, state)) {
    const rep = byName.get(name)!.def.repeatable!;
    const last = state.get(name)?.lastDone?.lastRun;
    try {
      checks.set(name, rep.check ? Boolean(await rep.check(last)) : !isDeepStrictEqual(normalizeJson(await rep.lastRun()), last));
    } catch (err) {
      checks.set(name, { error: causeChain(err) });
    }
  }
  return planSteps({ steps: planSteps_, state, checks, allowDrift });
}

/** What a value looks like after a JSON round trip through the journal. */
function normalizeJson(v: unknown): unknown {
  return v === undefined ? undefined : JSON.parse(JSON.stringify(v));
}

/**
 * Load the project, connect, run `fn`, always close. Expected failures become results.
 */
async function session<R extends { status: string }>(
  options: BaseOptions,
  command: 'plan' | 'apply' | 'status',
  fn: (project: Project, db: Database, signal: AbortSignal) => Promise<R>,
): Promise<R | (Failure & { target?: string })> {
  const events = new EngineEvents();
  if (options.onEvent) events.on(options.onEvent);
  const signal = options.signal ?? new AbortController().signal;
  let project: Project;
  try {
    project = await loadProject({ ...options, command, events });
  } catch (err) {
    return failure(err, []);
  }
  const secrets = project.config.secrets;
  for (const h of resolveAllOrNone(project.container, Tokens.Hooks)) if (h.onEvent) events.on(h.onEvent.bind(h));
  let db: Database | undefined;
  try {
    db = project.container.resolve(Tokens.Database);
    events.emit({ type: 'run.started', command, target: db.target, owner: project.config.owner, steps: project.steps.length });
    await db.connect(signal);
    return await fn(project, db, signal);
  } catch (err) {
    return { ...failure(err, secrets), target: db?.target };
  } finally {
    await db?.close();
  }
}

function failure(err: unknown, secrets: readonly string[]): Failure {
  const status: FailureStatus =
    err instanceof ConfigError ? 'config' : err instanceof DatabaseUnreachableError ? 'unreachable' : err instanceof LockTimeoutError ? 'lock-timeout' : 'error';
  const e = err instanceof Error ? err : new Error(String(err));
  if (status === 'error' || status === 'unreachable') {
    const safe = new Error(redact(status === 'error' ? causeChain(e) : e.message, secrets));
    Object.assign(safe, { hint: (e as { hint?: string }).hint, stack: redact(e.stack ?? '', secrets) });
    return { status, error: safe };
  }
  return { status, error: e };
}
