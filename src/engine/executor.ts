/**
 * The executor: runs the work of a Plan while the caller holds the run lock. Records
 * state around each step, one transaction per step (step work and its `done` record
 * commit together), retries transient faults with backoff and jitter, runs independent
 * branches at once up to the pool's size, and stops dependants of a failed step.
 *
 * Every step gets the run's AbortSignal. When it aborts (signal, deadline, lock lost),
 * no new step starts, resumable steps stop at their next checkpoint, and a step that
 * stopped is recorded `interrupted` with its last committed checkpoint. Every write that
 * commits a step's work, a checkpoint or a record first checks, in the same transaction,
 * that the run lock is still ours (the fence), so a run that lost its lock commits nothing.
 */
import { randomBytes } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import type { Knex } from 'knex';
import type { Database, Session } from '../db.js';
import type { Checkpoint, StateStore, StepEvent, StepState } from '../state/store.js';
import type { StepContext } from '../config/dsl.js';
import type { ResolvedConfig } from '../config/resolve.js';
import type { ResolvedStep } from '../config/project.js';
import type { EngineEvents } from './events.js';
import { WORK_ACTIONS, type Action, type Plan, type PlanEntry } from '../plan/planner.js';
import { causeChain, describeThrown, redact } from '../errors.js';
import { FaultTrap, type FaultScope } from './faults.js';
import { CommitRefused, KNEX_BARE_ROLLBACK, guardKnex, type TransactionUse } from './guard.js';
import { MinHeap } from '../plan/graph.js';
import { CONNECTION_FAULT_MESSAGE, LOCK_LOST_CODE, fenced, sleep, withTimeout } from '../lock/lock.js';

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
  /** The run's signal: aborted when the run must stop. */
  readonly signal: AbortSignal;
  /** One statement that fails unless the run lock is still ours (empty: no fence). */
  readonly fence: string;
  /** Steps at once; the caller caps it at what the pool allows. */
  readonly concurrency: number;
  /** Called when a write finds the lock lost (the fence failed): the run must stop. */
  readonly onLockLost?: (message: string) => void;
  /**
   * Routes errors a step's code leaves behind (timers, unhandled rejections,
   * `process.exit`) to that step. Without it, such errors are Node's business.
   */
  readonly faults?: FaultTrap;
  /**
   * After the run was asked to stop: the time (epoch ms) by which a running step must have
   * settled. A step still running then (it ignores the signal, or never settles) is
   * abandoned: recorded interrupted, its transaction rolled back, so the run can end.
   */
  readonly settleBy?: () => number | undefined;
  /** A step failed after it was recorded done (its code left an error behind): the run must stop. */
  readonly onLateFault?: (step: string, message: string) => void;
  /**
   * Records written after a step settled (a late fault): the caller waits for them before
   * it releases the lock, then closes them (a fault after that fails the run, but the
   * journal, no longer ours to write, keeps `done`).
   */
  readonly late?: { readonly writes: Set<Promise<unknown>>; closed: boolean };
}

/**
 * A transactional step's work and its `done` record commit together, so they are made
 * durable together too: if the server crashed before the WAL flush, both would be lost
 * and the next run would simply run the step again. Its commit therefore need not wait
 * for the flush (one fsync per step was most of the bookkeeping cost: bench/README.md);
 * `flushCommits` makes everything durable before `apply` reports success.
 */
const ASYNC_COMMIT = 'SET LOCAL synchronous_commit = off';

/** SQLSTATE of a step that ended the transaction the engine runs it in. */
export const STEP_ENDED_TX_CODE = 'ZS002';

/**
 * The step's transaction is marked (a transaction-local setting) when it begins, and the
 * mark is checked before its `done` record: a `COMMIT` or `ROLLBACK` in the step's own SQL
 * (`db.raw('ROLLBACK')`, or in an SQL file) ends that transaction, the mark with it, and
 * the step fails instead of being recorded done over work that is not there.
 */
function transactionMark(id: string): { set: string; check: string } {
  return {
    set: `SET LOCAL zsetup.step_tx = '${id}'`,
    check: `DO $zsetup_tx$ BEGIN IF current_setting('zsetup.step_tx', true) IS DISTINCT FROM '${id}' THEN RAISE EXCEPTION 'the step ended the transaction zsetup runs it in (a COMMIT or ROLLBACK in its SQL): its work is not what would be recorded; remove it, or declare the step transaction: false' USING ERRCODE = '${STEP_ENDED_TX_CODE}'; END IF; END $zsetup_tx$`,
  };
}

/**
 * Undo what a step's code set on its session (\`SET search_path\`, \`SET ROLE\`,
 * \`SET default_transaction_read_only\`): the connection goes back to the pool, and the next
 * step and the engine's own records must not run under it. \`RESET ALL\` leaves the role
 * alone, hence \`RESET ROLE\`; the pool's own settings are then made again.
 */
function sessionReset(db: Database): string {
  return `RESET ALL;\nRESET ROLE${db.sessionSetup ? `;\n${db.sessionSetup}` : ''}`;
}

/** One synchronous commit flushes the WAL up to it, and so every asynchronous commit before it. */
export async function flushCommits(db: Database): Promise<void> {
  await db.withSession((s) => s.exec('SELECT txid_current()'));
}

/**
 * After an error from a one-pass script: did its first transaction (`started`) commit?
 * Yes when the server reported an SQL error other than a lost lock or a syntax error
 * (those come from the step's own transaction); a connection fault leaves it unknown, so
 * `started` is sent again (a duplicate `started` row is harmless).
 */
function committedBefore(err: unknown): boolean {
  const code = (err as { code?: string })?.code;
  // 42601: the server parses the whole message before running any of it.
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) && !code.startsWith('08') && !code.startsWith('57P') && code !== LOCK_LOST_CODE && code !== '42601';
}

/** Faults worth another attempt: the transaction rolled back and nothing was committed. */
const TRANSIENT_CODES = new Set([
  '40001', // serialization_failure
  '40P01', // deadlock_detected
  '55P03', // lock_not_available (lock_timeout)
  '57P01', // admin_shutdown (pg_terminate_backend)
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now
  '08000', '08001', '08003', '08004', '08006', // connection exceptions
  '53300', // too_many_connections
]);

export function isTransient(err: unknown): boolean {
  // The database error may be the cause of the error a step threw ("Keep the cause chain"):
  // the first error in the chain with an SQLSTATE decides.
  const errors = chain(err);
  for (const e of errors) {
    if (e.code && TRANSIENT_CODES.has(e.code)) return true;
    if (e.code && /^[0-9A-Z]{5}$/.test(e.code)) return false;
  }
  return errors.some((e) => CONNECTION_FAULT_MESSAGE.test(String(e.message ?? '')));
}

/** The fence failed somewhere in the error's cause chain: this run lost its lock. */
function isLockLost(err: unknown): boolean {
  return chain(err).some((e) => e.code === LOCK_LOST_CODE);
}

/**
 * The error and its causes, as plain `{ code, message }` read defensively: a thrown object
 * whose getters throw (a Proxy, a `get message()` that throws) must not break the path
 * that records the failure.
 */
function chain(err: unknown): Array<{ code?: string; message?: string }> {
  const out: Array<{ code?: string; message?: string }> = [];
  const seen = new Set<unknown>();
  const read = (o: object, k: string): unknown => {
    try {
      return (o as Record<string, unknown>)[k];
    } catch {
      return undefined;
    }
  };
  for (let e: unknown = err; e !== null && typeof e === 'object' && !seen.has(e) && out.length < 10; e = read(e, 'cause')) {
    seen.add(e);
    const code = read(e, 'code');
    const message = read(e, 'message');
    out.push({ code: typeof code === 'string' ? code : undefined, message: typeof message === 'string' ? message : undefined });
  }
  return out;
}

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
  // A ready queue: each pending step waits for its dependencies; when one finishes, only
  // its dependants are looked at (O(steps + edges), not a rescan of every step).
  const pending = o.plan.entries.filter((e) => WORK_ACTIONS.has(e.action));
  const index = new Map(o.plan.entries.map((e, i) => [e.step, i] as const));
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
      o.events.emit({ type: 'step.blocked', step: e.step, reason });
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
  const running = new Map<Promise<void>, StepRun>();
  let stopHandled = false;
  let abandonTimer: NodeJS.Timeout | undefined;
  let wake: (() => void) | undefined;
  const abandonAll = () => {
    for (const r of running.values()) r.abandon();
  };
  const onAbort = () => wake?.();
  o.signal.addEventListener('abort', onAbort, { once: true });
  try {
    for (;;) {
      if (o.signal.aborted && !stopHandled) {
        stopHandled = true;
        for (const e of pending) block(e, 'not run: the run was stopped');
        // Steps still running get until settleBy to stop; then they are abandoned.
        const by = o.settleBy?.();
        if (by !== undefined) abandonTimer = setTimeout(abandonAll, Math.max(0, by - Date.now()));
      }
      while (running.size < o.concurrency && ready.size > 0 && !o.signal.aborted) {
        const e = o.plan.entries[ready.pop()]!;
        if (status.get(e.step) !== 'pending') continue;
        status.set(e.step, 'running');
        const sr = new StepRun(e, byName.get(e.step)!, o);
        const p: Promise<void> = sr.run().then(settle, (err) =>
          settle({ step: e.step, action: e.action, reason: e.reason, status: 'failed', error: redact(causeChain(err), o.config.secrets) }),
        );
        const tracked = p.finally(() => running.delete(tracked));
        running.set(tracked, sr);
      }
      if (running.size === 0) break;
      // Wake up on the first step to settle, or on a stop (to arm the abandon timer).
      const stopped = new Promise<void>((r) => {
        wake = r;
        if (o.signal.aborted && !stopHandled) r();
      });
      await Promise.race([...running.keys(), stopped]);
      wake = undefined;
    }
  } finally {
    clearTimeout(abandonTimer);
    o.signal.removeEventListener('abort', onAbort);
  }
  return o.plan.entries.map((e) => results.get(e.step)!);
}

/** Why a step's attempt was cut short from outside its own code. */
class CutShort extends Error {
  constructor(
    message: string,
    /** fault: the step's code left an error behind; idle: it can never settle; abandoned: it did not stop in time. */
    readonly why: 'fault' | 'idle' | 'abandoned',
    cause?: unknown,
  ) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'CutShort';
  }
}

/**
 * A checkpoint is stored as JSON and handed back as `ctx.checkpoint` on resume: a value
 * that does not survive that round trip (undefined, NaN, a BigInt, a function, a cycle)
 * would make the resumed run start over or fail late. Refuse it at the first save.
 */
function checkCheckpointValue(step: string, value: unknown): void {
  checkJsonValue(`step "${step}": saveCheckpoint(trx, value)`, value, { exact: true });
}

/**
 * A value stored as JSON must be JSON. `exact`: it must also come back the same when read
 * (a checkpoint: a resumed run continues from it); `undefined` means "none" where allowed.
 */
function checkJsonValue(what: string, value: unknown, o: { undefinedOk?: boolean; exact?: boolean } = {}): void {
  if (o.undefinedOk && value === undefined) return;
  const use = 'pass numbers, strings, booleans, null, and plain objects and arrays of them';
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (err) {
    throw new TypeError(`${what}: the value is not JSON (${describeThrown(err).split('\n')[0]}); ${use}`);
  }
  if (text === undefined || (text === 'null' && value !== null)) {
    throw new TypeError(`${what}: the value is ${value === undefined ? 'undefined' : typeof value === 'number' ? String(value) : `a ${typeof value}`}, which ${o.exact ? 'a resumed run could not get back' : 'cannot be stored'}; ${use}`);
  }
  // Inside an object: {lastId: NaN} would come back as {lastId: null}, a Date as a string.
  if (o.exact && !isDeepStrictEqual(JSON.parse(text), value)) {
    throw new TypeError(`${what}: the value would come back different from JSON (as ${text.length > 80 ? `${text.slice(0, 77)}...` : text}); ${use}`);
  }
}

/** A value a step threw that is not an Error, as an Error that keeps it as its cause. */
class StepThrew extends Error {
  constructor(value: unknown) {
    super(describeThrown(value), { cause: value });
    this.name = 'StepThrew';
  }
}

/** What the step's code did (or threw), as an Error with a readable message. */
function asError(value: unknown): Error {
  if (value instanceof Error) {
    if (KNEX_BARE_ROLLBACK.test(value.message)) return new Error('a transaction was rolled back without an error (rollback() with no argument), so the step did not complete its work');
    return value;
  }
  return new StepThrew(value);
}

/** The step rolled back its own transaction: nothing it did was kept. */
function rolledBack(use: TransactionUse): Error {
  const why = use.ended?.error;
  return new Error(
    `the step rolled back its own transaction (rollback() on ctx.db)${why !== undefined ? `: ${describeThrown(why)}` : ''}; nothing it did was kept, so it is not done`,
    why === undefined ? undefined : { cause: why },
  );
}

/** Give up waiting on a record write after this long (the run is ending anyway). */
const RECORD_BOUND_MS = 3000;

/** One step's attempts, records and context. */
class StepRun {
  private readonly owner: string;
  private lastRun: unknown;
  private checkpoint: Checkpoint | undefined;
  private progressState: { done: number; total?: number | undefined } | undefined;
  private rate: { t0: number; done0: number } | undefined;
  private lastProgressEmit = 0;
  /** Rejects when the step is cut short from outside its code (a fault, idle, abandoned). */
  private readonly cut: Promise<never>;
  private cutWith!: (err: CutShort) => void;
  private cutReason: CutShort | undefined;
  /** Settled: its context no longer works, later faults are late. */
  private over = false;
  private outcome: StepStatus | undefined;
  private readonly scope: FaultScope;

  constructor(
    private readonly e: PlanEntry,
    private readonly step: ResolvedStep,
    private readonly o: ExecuteOptions,
  ) {
    this.owner = o.config.owner;
    this.checkpoint = o.state.get(e.step)?.checkpoint;
    this.cut = new Promise<never>((_r, reject) => (this.cutWith = reject));
    this.cut.catch(() => undefined);
    this.scope = { step: e.step, fault: (err, how) => this.onFault(err, how), idle: () => this.cutShort(new CutShort('the step can never finish: its promise waits for something that never happens (no timer, socket or query is left pending)', 'idle')) };
  }

  /** The step did not stop within the cleanup deadline after a stop: give up on it. */
  abandon(): void {
    this.cutShort(new CutShort('it did not stop within the cleanup deadline (its code ignores ctx.signal, or never settles)', 'abandoned'));
  }

  private cutShort(err: CutShort): void {
    if (this.over || this.cutReason) return;
    this.cutReason = err;
    this.cutWith(err);
  }

  private onFault(err: unknown, how: string): void {
    const message = `${describeThrown(err)} (${how} left behind by the step's code)`;
    if (!this.over) return this.cutShort(new CutShort(message, 'fault'));
    // After it settled. Applied: its record says done, but its code failed after all.
    if (this.outcome !== 'applied') {
      this.o.events.emit({ type: 'log', level: 'warn', step: this.e.step, message: redact(`after it stopped, the step's code left ${how} behind: ${describeThrown(err)}`, this.o.config.secrets) });
      return;
    }
    this.outcome = 'failed';
    const closed = this.o.late?.closed ?? false;
    const text = redact(
      `after it was recorded done, the step's code left ${how} behind: ${describeThrown(err)}${closed ? ' (the run had already closed its journal: the record still says done; check what the step did)' : ''}`,
      this.o.config.secrets,
    );
    this.o.events.emit({ type: 'step.failed', step: this.e.step, error: `step "${this.e.step}" failed: ${text}`, durationMs: 0 });
    this.o.onLateFault?.(this.e.step, text);
    if (closed) return;
    const write = withTimeout(this.record(this.event('failed', { lastRun: this.lastRun, error: text })), RECORD_BOUND_MS).catch(() => undefined);
    this.o.late?.writes.add(write);
  }

  /**
   * Before the step's `done` commits: let what its code left behind surface first (a
   * rejection nobody handles is reported once the microtasks run dry; a 0 ms timer fires on
   * the next turn), so such a step fails instead of being recorded done. About 1 ms.
   */
  private async strays(): Promise<void> {
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setTimeout(r, 0));
    if (this.cutReason) throw this.cutReason;
  }

  /** Await `p` (the step's own work) unless the step is cut short first. */
  private guarded<T>(p: Promise<T>): Promise<T> {
    p.catch(() => undefined);
    return Promise.race([p, this.cut]);
  }

  private event(event: StepEvent['event'], extra: Partial<StepEvent> = {}): StepEvent {
    return { step: this.e.step, event, owner: this.owner, checksum: this.e.checksum, ...extra };
  }

  /** Append a record (fenced) in its own transaction: one round trip. */
  private async record(ev: StepEvent): Promise<void> {
    await this.o.db.withSession((s) => s.exec(this.recordScript(ev)));
  }

  private recordScript(ev: StepEvent): string {
    const sql = this.o.store.recordStatement(ev);
    // `started` is a diagnostic (a crash that loses it loses nothing else): its commit
    // does not wait for the WAL flush. The other records commit synchronously.
    const async = ev.event === 'started' ? `${ASYNC_COMMIT};\n` : '';
    return `BEGIN;\n${async}${fenced(this.o.fence, sql)};\nCOMMIT;`;
  }

  /** Plain transactional SQL: started record, step and done record go in one round trip. */
  private get onePass(): boolean {
    return this.step.plan.transaction && this.step.prepared.script !== undefined;
  }

  async run(): Promise<StepResult> {
    const faults = this.o.faults;
    if (!faults) return this.settled(await this.attempts());
    faults.enter(this.scope);
    try {
      return this.settled(await faults.run(this.scope, () => this.attempts()));
    } finally {
      faults.leave(this.scope);
    }
  }

  private settled(r: StepResult): StepResult {
    this.over = true;
    this.outcome = r.status;
    return r;
  }

  private async attempts(): Promise<StepResult> {
    const { events, config, signal } = this.o;
    const e = this.e;
    const t0 = performance.now();
    const base = { step: e.step, action: e.action, reason: e.reason };
    events.emit({ type: 'step.started', step: e.step, action: e.action, reason: e.reason });
    let started = false;
    for (let attempt = 0; ; attempt++) {
      try {
        if (!started) {
          if (attempt === 0 && this.step.def.repeatable) {
            const rep = this.step.def.repeatable;
            const value = await this.guarded(Promise.resolve().then(() => rep.lastRun()).catch((err) => Promise.reject(asError(err))));
            // Recorded as JSON with the step's `done`: refuse what cannot be stored (and is
            // then not put in the failure record either).
            checkJsonValue(`step "${e.step}": lastRun()`, value, { undefinedOk: true });
            this.lastRun = value;
          }
          // Recorded again when the first try failed (a connection fault): no work without its start in the journal.
          if (!this.onePass) {
            await this.guarded(this.record(this.event('started')));
            started = true;
          }
        } else if (this.step.plan.resumable) {
          // Resume from what the failed attempt committed.
          this.checkpoint = (await this.guarded(this.o.store.load())).get(e.step)?.checkpoint;
        }
        await this.attempt(started ? '' : this.recordScript(this.event('started')));
        started = true;
        const durationMs = performance.now() - t0;
        events.emit({ type: 'step.done', step: e.step, durationMs });
        return { ...base, status: 'applied', durationMs };
      } catch (err0) {
        const err = err0 instanceof CutShort ? err0 : asError(err0);
        const durationMs = performance.now() - t0;
        const message = redact(causeChain(err), config.secrets) || 'failed with no message';
        // One pass: an SQL error came from the step, after its `started` transaction committed.
        if (this.onePass && !started && committedBefore(err)) started = true;
        // The fence failed: another run holds the lock now. Nothing of ours committed.
        if (isLockLost(err)) this.o.onLockLost?.(message);
        const cut = err instanceof CutShort ? err.why : undefined;
        if (cut === 'abandoned' || (signal.aborted && cut === undefined)) return this.interrupted(base, durationMs, message, started);
        if (cut === undefined && isTransient(err) && attempt < config.apply.retries) {
          const delayMs = Math.round(Math.min(250 * 2 ** attempt, 8000) * (0.5 + Math.random()));
          events.emit({ type: 'step.retry', step: e.step, attempt: attempt + 1, delayMs, error: message });
          await sleep(delayMs, signal);
          // A connection that died around COMMIT leaves the outcome unknown: if our `done`
          // record committed, the step is applied; running it again would fail or repeat it.
          const now = await this.o.store.load().then((m) => m.get(e.step)?.latest).catch(() => undefined);
          if (now?.event === 'done' && now.owner === this.owner) {
            const durationMs = performance.now() - t0;
            events.emit({ type: 'step.done', step: e.step, durationMs });
            return { ...base, status: 'applied', durationMs };
          }
          if (signal.aborted) return this.interrupted(base, durationMs, message, started);
          continue;
        }
        const error = `step "${e.step}" failed${attempt > 0 ? ` after ${attempt + 1} attempts` : ''}: ${message}`;
        // The journal tells the whole story: a failure is always preceded by its start.
        try {
          const failed = this.recordScript(this.event('failed', { lastRun: this.lastRun, error: message }));
          await withTimeout(this.o.db.withSession((s) => s.exec(started ? failed : `${this.recordScript(this.event('started'))}\n${failed}`)), RECORD_BOUND_MS);
        } catch {
          // Recorded or not, the step failed: the next apply runs it again either way.
        }
        events.emit({ type: 'step.failed', step: e.step, error, durationMs });
        return { ...base, status: 'failed', durationMs, error };
      }
    }
  }

  private async interrupted(base: Pick<StepResult, 'step' | 'action' | 'reason'>, durationMs: number, message: string, started: boolean): Promise<StepResult> {
    const { store, events, signal } = this.o;
    // The checkpoint that really committed (a batch in flight may have rolled back).
    const cp = this.step.plan.resumable
      ? await withTimeout(store.load().then((m) => m.get(this.e.step)?.checkpoint), RECORD_BOUND_MS).catch(() => this.checkpoint)
      : undefined;
    const reason = String((signal.reason as Error)?.message ?? signal.reason ?? 'stopped');
    // Nothing to close when our `started` record never committed (nothing ran).
    if (started) await withTimeout(this.record(this.event('interrupted', { checkpoint: cp?.value, error: `${reason}: ${message}` })), RECORD_BOUND_MS).catch(() => undefined);
    const percent = cp?.total ? Math.floor((100 * (cp.done ?? 0)) / cp.total) : undefined;
    events.emit({ type: 'step.interrupted', step: this.e.step, reason, checkpoint: cp?.value, percent });
    return { ...base, status: 'interrupted', durationMs, error: message };
  }

  /** `startedScript`: the `started` record's own transaction, sent ahead in the same round trip. */
  private async attempt(startedScript: string): Promise<void> {
    const { db, store } = this.o;
    const step = this.step;
    const fence = this.o.fence;
    const done = store.recordStatement(this.event('done', { lastRun: this.lastRun }));
    const lockTimeout = `SET LOCAL lock_timeout = '${Math.round(this.o.config.apply.ddlLockTimeoutMs)}ms'`;
    const mark = transactionMark(randomBytes(6).toString('hex'));
    // Run before the fence and the record, in the step's transaction (so on its connection).
    const closing = `${mark.check};\n${sessionReset(db)};\n${ASYNC_COMMIT}`;
    const script = step.prepared.script;
    const transaction = step.plan.transaction;
    // The step kind's own code: a synchronous throw is a rejection too.
    const runStep = (ctx: StepContext) => this.guarded(Promise.resolve().then(() => step.kind.run(step.def, ctx, step.prepared)));

    if (transaction && script !== undefined) {
      // One round trip: the step's SQL and its done record commit together, or neither does.
      await this.guarded(
        db.withSession(async (s) => {
          try {
            // Two transactions in one message: `started` commits first (visible while the step
            // runs); the step and its `done` record then commit together, or neither does.
            await s.exec(`${startedScript}${startedScript ? '\n' : ''}BEGIN;\n${ASYNC_COMMIT};\n${lockTimeout};\n${mark.set};\n${script}\n;\n${closing};\n${fenced(fence, done)};\nCOMMIT;`);
          } catch (err) {
            await s.exec('ROLLBACK').catch(() => undefined);
            throw err;
          }
        }),
      );
      return;
    }
    if (transaction) {
      const use: TransactionUse = {};
      try {
        // doNotRejectOnRollback: false, so a rollback by the step rejects this promise
        // instead of resolving it as if the step had succeeded.
        await this.guarded(
          db.knex.transaction(
          async (trx) => {
            await db.withSession((ts) => ts.exec(`${ASYNC_COMMIT};\n${lockTimeout};\n${mark.set}`), trx);
            try {
              await runStep(this.context(guardKnex(trx, use), (s) => db.withSession(s, trx)));
            } catch (err) {
              throw use.ended ? rolledBack(use) : err instanceof CutShort ? err : asError(err);
            }
            await this.strays();
            if (use.ended || trx.isCompleted()) throw rolledBack(use);
            await db.withSession((ts) => ts.exec(`${closing};\n${fenced(fence, done)}`), trx);
          },
          { doNotRejectOnRollback: false },
          ),
        );
      } catch (err) {
        throw use.ended && !(err instanceof CutShort) && !(err instanceof CommitRefused) ? rolledBack(use) : err;
      }
      return;
    }
    // Outside a transaction (CREATE INDEX CONCURRENTLY, resumable steps): statement by
    // statement, each with a session-level lock_timeout reset before the connection goes back.
    const onSession = <T>(fn: (s: Session) => Promise<T>) =>
      db.withSession(async (s) => {
        await s.exec(`SET lock_timeout = '${Math.round(this.o.config.apply.ddlLockTimeoutMs)}ms'`);
        try {
          return await fn(s);
        } finally {
          // Also undoes the lock_timeout: the connection goes back to the pool as it came.
          await s.exec(sessionReset(db)).catch(() => undefined);
        }
      });
    try {
      await runStep(this.context(undefined, onSession));
      await this.strays();
    } catch (err) {
      throw err instanceof CutShort ? err : asError(err);
    }
    // A resumable step that returned because the run is stopping is not done.
    if (step.plan.resumable) this.o.signal.throwIfAborted();
    await this.guarded(db.withSession((s) => s.exec(fenced(fence, done))));
  }

  /** The step's context; `trx` is its own (guarded) transaction, or undefined for the pool. */
  private context(trx: Knex.Transaction | undefined, onSession: <T>(fn: (s: Session) => Promise<T>) => Promise<T>): StepContext {
    const o = this.o;
    const self = this;
    const name = this.step.def.name;
    let pool: Knex | undefined;
    // After the step settled (failed, abandoned), its context does nothing more: a stray
    // callback of its code cannot write after the engine recorded the outcome.
    const live = () => {
      if (self.over || self.cutReason) throw new Error(`step "${name}" is over: its context can no longer be used`);
    };
    return {
      name,
      get db() {
        return trx ?? (pool ??= guardKnex(o.db.knex));
      },
      exec: async (sql) => {
        live();
        await onSession((s) => s.exec(sql));
      },
      query: async (sql, params) => {
        live();
        return onSession((s) => s.query(sql, params));
      },
      signal: o.signal,
      lastRun: o.state.get(name)?.lastDone?.lastRun,
      log: (message) => {
        if (self.over) return;
        o.events.emit({ type: 'log', level: 'info', message: redact(String(message), o.config.secrets), step: name });
      },
      config: o.config,
      checkpoint: this.checkpoint?.value,
      saveCheckpoint: async (tx, value, progress) => {
        live();
        if (progress) this.progressState = { done: progress.done, total: progress.total };
        if (!this.step.plan.resumable) throw new Error(`step "${name}" is not resumable: declare it with resumable: true to save checkpoints`);
        checkCheckpointValue(name, value);
        const save = o.store.checkpointStatement(name, this.owner, value, this.progressState);
        const run = (sql: string) => ('raw' in tx ? tx.raw(sql) : tx.exec(sql));
        // Through knex, one statement per call (knex-pglite takes no more).
        if ('raw' in tx && o.fence) await tx.raw(o.fence);
        await run('raw' in tx ? save : fenced(o.fence, save));
        const due = o.db.checkpointDue?.();
        if (due) {
          const t = performance.now();
          await run(due.sql);
          due.done(performance.now() - t);
        }
      },
      transaction: async (fn) => {
        live();
        return o.db.withSession(async (s) => {
          await s.exec('BEGIN');
          try {
            const r = await fn(s);
            await s.exec('COMMIT');
            return r;
          } catch (err) {
            await s.exec('ROLLBACK').catch(() => undefined);
            throw err;
          }
        });
      },
      progress: (p) => {
        if (!self.over) this.progress(p);
      },
    };
  }

  private progress(p: { done: number; total?: number }): void {
    const now = performance.now();
    this.progressState = { done: p.done, total: p.total };
    if (!this.rate) this.rate = { t0: now, done0: p.done };
    const final = p.total !== undefined && p.done >= p.total;
    if (!final && now - this.lastProgressEmit < 250) return;
    this.lastProgressEmit = now;
    const elapsed = (now - this.rate.t0) / 1000;
    const ratePerSec = elapsed > 0.2 ? (p.done - this.rate.done0) / elapsed : undefined;
    const etaMs = ratePerSec && p.total !== undefined && ratePerSec > 0 ? Math.max(0, ((p.total - p.done) / ratePerSec) * 1000) : undefined;
    this.o.events.emit({ type: 'step.progress', step: this.e.step, done: p.done, total: p.total, ratePerSec, etaMs });
  }
}
