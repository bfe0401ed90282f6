/**
 * The executor: runs the work of a Plan while the caller holds the run lock. Records
 * state around each step, one transaction per step (step work and its `done` record
 * commit together), retries lock timeouts with backoff, runs independent branches at
 * once up to the pool's size, and stops dependants of a failed step. Every step gets
 * the run's AbortSignal.
 */
import type { Knex } from 'knex';
import type { Database, Session } from '../db.js';
import type { StateStore, StepState } from '../state/store.js';
import type { StepContext } from '../config/dsl.js';
import type { ResolvedConfig } from '../config/resolve.js';
import type { ResolvedStep } from '../config/project.js';
import type { EngineEvents } from './events.js';
import { WORK_ACTIONS, type Action, type Plan, type PlanEntry } from '../plan/planner.js';
import { causeChain, redact } from '../errors.js';
import { sleep } from '../lock/lock.js';

export type StepStatus = 'applied' | 'skipped' | 'failed' | 'blocked' | 'interrupted' | 'drift';

export interface StepResult {
  readonly step: string;
  readonly action: Action;
  readonly reason: string;
  readonly status: StepStatus;
  readonly durationMs?: number;
  readonly error?: string;
}

export interface ExecuteOptions {
  readonly plan: Plan;
  readonly steps: readonly ResolvedStep[];
  readonly state: ReadonlyMap<string, StepState>;
  readonly db: Database;
  readonly store: StateStore;
  readonly config: ResolvedConfig;
  readonly events: EngineEvents;
  readonly signal: AbortSignal;
  /** Steps at once; the caller caps it at what the pool allows. */
  readonly concurrency: number;
}

const LOCK_NOT_AVAILABLE = '55P03';

type Status = 'pending' | 'running' | StepStatus;

export async function executePlan(o: ExecuteOptions): Promise<StepResult[]> {
  const byName = new Map(o.steps.map((s) => [s.def.name, s] as const));
  const status = new Map<string, Status>();
  const results = new Map<string, StepResult>();
  const finish = (r: StepResult) => {
    status.set(r.step, r.status);
    results.set(r.step, r);
  };
  for (const e of o.plan.entries) {
    if (WORK_ACTIONS.has(e.action)) status.set(e.step, 'pending');
    else {
      finish({ step: e.step, action: e.action, reason: e.reason, status: e.action === 'skip' ? 'skipped' : e.action === 'drift' ? 'drift' : 'blocked' });
      if (e.action === 'blocked') o.events.emit({ type: 'step.blocked', step: e.step, reason: e.reason });
    }
  }
  const pending = o.plan.entries.filter((e) => WORK_ACTIONS.has(e.action));
  const running = new Set<Promise<void>>();
  const ok = (d: string) => status.get(d) === 'applied' || status.get(d) === 'skipped';

  for (;;) {
    for (const e of pending) {
      if (status.get(e.step) !== 'pending') continue;
      const bad = e.after.find((d) => ['failed', 'blocked', 'interrupted', 'drift'].includes(status.get(d) ?? ''));
      if (bad !== undefined || o.signal.aborted) {
        const reason = o.signal.aborted ? 'not run: the run was stopped' : `not run: depends on ${status.get(bad!)} step "${bad}"`;
        finish({ step: e.step, action: e.action, reason, status: 'blocked' });
        o.events.emit({ type: 'step.blocked', step: e.step, reason });
      }
    }
    for (const e of pending) {
      if (running.size >= o.concurrency) break;
      if (status.get(e.step) !== 'pending' || !e.after.every(ok)) continue;
      status.set(e.step, 'running');
      const p: Promise<void> = runStep(e, byName.get(e.step)!, o).then(finish, (err) =>
        finish({ step: e.step, action: e.action, reason: e.reason, status: 'failed', error: redact(causeChain(err), o.config.secrets) }),
      );
      const tracked = p.finally(() => running.delete(tracked));
      running.add(tracked);
    }
    if (running.size === 0) break;
    await Promise.race(running);
  }
  return o.plan.entries.map((e) => results.get(e.step)!);
}

async function runStep(e: PlanEntry, step: ResolvedStep, o: ExecuteOptions): Promise<StepResult> {
  const { store, events, config } = o;
  const owner = config.owner;
  const t0 = performance.now();
  const base = { step: e.step, action: e.action, reason: e.reason };
  events.emit({ type: 'step.started', step: e.step, action: e.action, reason: e.reason });
  let lastRun: unknown;
  for (let attempt = 0; ; attempt++) {
    try {
      if (attempt === 0) {
        lastRun = step.def.repeatable ? await step.def.repeatable.lastRun() : undefined;
        await store.record({ step: e.step, event: 'started', owner, checksum: e.checksum });
      }
      await attemptStep(step, e, lastRun, o);
      const durationMs = performance.now() - t0;
      events.emit({ type: 'step.done', step: e.step, durationMs });
      return { ...base, status: 'applied', durationMs };
    } catch (err) {
      const durationMs = performance.now() - t0;
      const message = redact(causeChain(err), config.secrets);
      if (o.signal.aborted) {
        await store.record({ step: e.step, event: 'interrupted', owner, checksum: e.checksum, error: message }).catch(() => undefined);
        events.emit({ type: 'step.interrupted', step: e.step, reason: String((o.signal.reason as Error)?.message ?? o.signal.reason ?? 'stopped') });
        return { ...base, status: 'interrupted', durationMs, error: message };
      }
      if ((err as { code?: string }).code === LOCK_NOT_AVAILABLE && attempt < config.apply.lockRetries) {
        const delayMs = Math.round(Math.min(250 * 2 ** attempt, 8000) * (0.5 + Math.random()));
        events.emit({ type: 'step.retry', step: e.step, attempt: attempt + 1, delayMs, error: message });
        await sleep(delayMs, o.signal);
        continue;
      }
      const error = `step "${e.step}" failed: ${message}`;
      await store.record({ step: e.step, event: 'failed', owner, checksum: e.checksum, lastRun, error: message }).catch(() => undefined);
      events.emit({ type: 'step.failed', step: e.step, error, durationMs });
      return { ...base, status: 'failed', durationMs, error };
    }
  }
}

async function attemptStep(step: ResolvedStep, e: PlanEntry, lastRun: unknown, o: ExecuteOptions): Promise<void> {
  const { db, store, config } = o;
  const done = store.recordStatement({ step: e.step, event: 'done', owner: config.owner, checksum: e.checksum, lastRun });
  const lockTimeout = `SET LOCAL lock_timeout = '${Math.round(config.apply.ddlLockTimeoutMs)}ms'`;
  const script = step.prepared.script;

  if (e.transaction && script !== undefined) {
    // One round trip: the step's SQL and its done record commit together, or neither does.
    await db.withSession(async (s) => {
      try {
        await s.exec(`BEGIN;\n${lockTimeout};\n${script}\n;\n${done};\nCOMMIT;`);
      } catch (err) {
        await s.exec('ROLLBACK').catch(() => undefined);
        throw err;
      }
    });
    return;
  }
  if (e.transaction) {
    await db.knex.transaction(async (trx) => {
      await trx.raw(lockTimeout);
      await step.kind.run(step.def, context(step, trx, (sql) => db.withSession((s) => s.exec(sql), trx), o), step.prepared);
      await trx.raw(done);
    });
    return;
  }
  // Outside a transaction (CREATE INDEX CONCURRENTLY): statement by statement, each with
  // a session-level lock_timeout that is reset before the connection goes back.
  const exec = (sql: string) =>
    db.withSession(async (s: Session) => {
      await s.exec(lockTimeout.replace('SET LOCAL', 'SET'));
      try {
        await s.exec(sql);
      } finally {
        await s.exec('RESET lock_timeout').catch(() => undefined);
      }
    });
  await step.kind.run(step.def, context(step, db.knex, exec, o), step.prepared);
  await db.withSession((s) => s.exec(done));
}

function context(step: ResolvedStep, db: Knex | Knex.Transaction, exec: (sql: string) => Promise<void>, o: ExecuteOptions): StepContext {
  return {
    name: step.def.name,
    db,
    exec,
    signal: o.signal,
    lastRun: o.state.get(step.def.name)?.lastDone?.lastRun,
    // Events reach every renderer and hook: take the password out here, once.
    log: (message) => o.events.emit({ type: 'log', level: 'info', message: redact(String(message), o.config.secrets), step: step.def.name }),
    config: o.config,
  };
}
