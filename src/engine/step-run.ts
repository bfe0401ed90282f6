/**
 * One step's run: its attempts (a transient fault is retried with backoff and jitter, up
 * to `apply.retries`), its records (through the recorder: `started`, then `done` in the
 * same transaction as the step's work, or `failed` / `interrupted`), and what its code
 * leaves behind (a fault, a promise that can never settle, a step that ignores a stop).
 */
import { randomBytes } from 'node:crypto';
import type { Session } from '../db.js';
import { MAX_RECORDED_SQL, type Checkpoint, type StepEvent } from '../state/store.js';
import type { StepContext } from '../config/dsl.js';
import type { ResolvedStep } from '../config/project.js';
import type { PlanEntry } from '../plan/planner.js';
import { StepError, causeChain, describeThrown, redact } from '../errors.js';
import { classifyFault, errorChain, isRetryable, sqlState, LOCK_LOST_CODE, START_REFUSED_CODE } from '../classify.js';
import type { FaultScope } from './faults.js';
import { CommitRefused, KNEX_BARE_ROLLBACK, guardKnex, type TransactionUse } from './guard.js';
import { sleep, withTimeout } from '../lock/lock.js';
import { ASYNC_COMMIT, newMark, sessionReset, stepTransaction } from './transaction.js';
import { Progress, checkJsonValue, createStepContext } from './context.js';
import { dropInvalidIndexesOf, runScript } from './script.js';
import { describeLocation, locate, noteReached, noteSent } from './locate.js';
import type { ExecuteOptions, StepResult, StepStatus } from './options.js';

/**
 * After an error from a one-pass script: did its first transaction (`started`) commit?
 * Yes when the server reported an SQL error other than a lost lock or a syntax error
 * (those come from the step's own transaction); a connection fault leaves it unknown, so
 * `started` is sent again (a duplicate `started` row is harmless). A cancel (57014, a stop)
 * can land in either transaction: undefined, the journal says.
 */
function committedBefore(err: unknown): boolean | undefined {
  const code = sqlState(err);
  if (code === QUERY_CANCELED) return undefined;
  // The store refused the start itself (the step is held elsewhere).
  if (code === START_REFUSED_CODE) return false;
  // 42601: the server parses the whole message before running any of it.
  return code !== undefined && classifyFault(err) !== 'connection' && code !== LOCK_LOST_CODE && code !== '42601' && !code.startsWith('57P');
}

const QUERY_CANCELED = '57014';

/** The SQLSTATE, detail and hint of the first error in the chain the server sent (scrubbed). */
function serverSaid(err: unknown, secrets: readonly string[]): { sqlstate?: string; detail?: string; hint?: string } {
  const e = errorChain(err).find((x) => x.code !== undefined && /^[0-9A-Z]{5}$/.test(x.code))?.value as { code?: string; detail?: unknown; hint?: unknown } | undefined;
  if (!e) return {};
  return {
    ...(e.code ? { sqlstate: e.code } : {}),
    ...(typeof e.detail === 'string' && e.detail ? { detail: redact(e.detail, secrets) } : {}),
    ...(typeof e.hint === 'string' && e.hint ? { hint: redact(e.hint, secrets) } : {}),
  };
}

/** A checkpoint's value as people read it: its JSON, shortened. */
function shortJson(v: unknown): string {
  const s = JSON.stringify(v) ?? 'null';
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

/** What a `done` record keeps of a script step: its SQL, when not too long to keep. */
export function recordedSql(step: ResolvedStep): { sql?: string } {
  const sql = step.prepared.script;
  return sql !== undefined && sql.length <= MAX_RECORDED_SQL ? { sql } : {};
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

/** A step's first attempt, run in a train (src/engine/train.ts), that failed. */
export interface PriorAttempt {
  readonly error: unknown;
  /** Its `started` record committed. */
  readonly started: boolean;
  /** When it started (performance.now()). */
  readonly startedAt: number;
}

/** Give up waiting on a record write after this long (the run is ending anyway). */
const RECORD_BOUND_MS = 3000;

/** One step's attempts, records and context. */
export class StepRun {
  private readonly owner: string;
  private lastRun: unknown;
  private checkpoint: Checkpoint | undefined;
  private readonly progress: Progress;
  /** Rejects when the step is cut short from outside its code (a fault, idle, abandoned). */
  private readonly cut: Promise<never>;
  private cutWith!: (err: CutShort) => void;
  private cutReason: CutShort | undefined;
  /** Settled: its context no longer works, later faults are late. */
  private over = false;
  private outcome: StepStatus | undefined;
  private readonly scope: FaultScope;

  constructor(
    private readonly entry: PlanEntry,
    private readonly step: ResolvedStep,
    private readonly options: ExecuteOptions,
  ) {
    this.owner = options.config.owner;
    this.checkpoint = options.state.get(entry.step)?.checkpoint;
    this.progress = new Progress((p) => options.events.emit({ type: 'step.progress', step: entry.step, ...p }));
    this.cut = new Promise<never>((_r, reject) => (this.cutWith = reject));
    this.cut.catch(() => undefined);
    this.scope = { step: entry.step, fault: (err, how) => this.onFault(err, how), idle: () => this.cutShort(new CutShort('the step can never finish: its promise waits for something that never happens (no timer, socket or query is left pending)', 'idle')) };
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
      this.options.events.emit({ type: 'log', level: 'warn', step: this.entry.step, message: redact(`after it stopped, the step's code left ${how} behind: ${describeThrown(err)}`, this.options.config.secrets) });
      return;
    }
    this.outcome = 'failed';
    const closed = this.options.late?.closed ?? false;
    const text = redact(
      `after it was recorded done, the step's code left ${how} behind: ${describeThrown(err)}${closed ? ' (the run had already closed its journal: the record still says done; check what the step did)' : ''}`,
      this.options.config.secrets,
    );
    this.options.events.emit({ type: 'step.failed', step: this.entry.step, error: `step "${this.entry.step}" failed: ${text}`, durationMs: 0 });
    this.options.onLateFault?.(this.entry.step, text);
    if (closed) return;
    const write = withTimeout(this.record(this.event('failed', { lastRun: this.lastRun, error: text })), RECORD_BOUND_MS).catch(() => undefined);
    this.options.late?.writes.add(write);
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
    return { step: this.entry.step, event, owner: this.owner, checksum: this.entry.checksum, ...(event === 'done' ? recordedSql(this.step) : {}), ...extra };
  }

  /** Append a record (fenced) in its own transaction: one round trip. */
  private record(ev: StepEvent): Promise<void> {
    return this.options.recorder.record(ev);
  }

  /** A transactional script: started record, step and done record go in one round trip. */
  private get onePass(): boolean {
    return this.step.plan.transaction && this.step.kind.run === undefined;
  }

  /**
   * Run the step. `prior`: its first attempt already ran elsewhere (in a train of steps sent
   * in one message) and failed with `error`; `started`: its `started` record committed. The
   * run goes on from there as if that attempt had been its own: retry, or record the failure.
   */
  async run(prior?: PriorAttempt, o: { verifyFirst?: boolean } = {}): Promise<StepResult> {
    if (o.verifyFirst && !prior) {
      // A train lost sight of what the server ran: this step may be done already.
      if (await this.latestByThisRun('done')) {
        const e = this.entry;
        this.options.events.emit({ type: 'step.started', step: e.step, action: e.action, reason: e.reason });
        this.options.events.emit({ type: 'step.done', step: e.step, durationMs: 0 });
        return this.settled({ step: e.step, action: e.action, reason: e.reason, status: 'applied', durationMs: 0 });
      }
    }
    const faults = this.options.faults;
    if (!faults) return this.settled(await this.attempts(prior));
    faults.enter(this.scope);
    try {
      return this.settled(await faults.run(this.scope, () => this.attempts(prior)));
    } finally {
      faults.leave(this.scope);
    }
  }

  /** The journal's latest record of this step is `event` of this run (unreadable: no). */
  private async latestByThisRun(event: 'started' | 'done'): Promise<boolean> {
    const latest = (await withTimeout(this.options.store.load(), RECORD_BOUND_MS).catch(() => undefined))?.get(this.entry.step)?.latest;
    return latest?.event === event && latest.owner === this.owner;
  }

  private settled(r: StepResult): StepResult {
    this.over = true;
    this.outcome = r.status;
    return r;
  }

  private async attempts(prior?: PriorAttempt): Promise<StepResult> {
    const { events, config, signal } = this.options;
    const e = this.entry;
    const t0 = prior?.startedAt ?? performance.now();
    const base = { step: e.step, action: e.action, reason: e.reason };
    if (!prior) events.emit({ type: 'step.started', step: e.step, action: e.action, reason: e.reason });
    // A resumable step that goes on from a checkpoint says from where.
    const cp = this.step.plan.resumable ? this.checkpoint : undefined;
    if (!prior && cp !== undefined) {
      const pct = cp.total ? ` (${Math.floor((100 * (cp.done ?? 0)) / cp.total)}%)` : '';
      events.emit({ type: 'log', level: 'info', step: e.step, message: `resuming from checkpoint ${shortJson(cp.value)}${pct}, committed by ${cp.owner} at ${cp.at.toISOString()}` });
    }
    let started = prior?.started ?? false;
    for (let attempt = 0; ; attempt++) {
      try {
        if (attempt === 0 && prior) throw prior.error;
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
          this.checkpoint = (await this.guarded(this.options.store.load())).get(e.step)?.checkpoint;
        }
        await this.attempt(started ? '' : this.options.recorder.script(this.event('started')));
        started = true;
        const durationMs = performance.now() - t0;
        events.emit({ type: 'step.done', step: e.step, durationMs });
        return { ...base, status: 'applied', durationMs };
      } catch (err0) {
        const err = err0 instanceof CutShort ? err0 : asError(err0);
        const durationMs = performance.now() - t0;
        const message = redact(causeChain(err), config.secrets) || 'failed with no message';
        // One pass: an SQL error came from the step, after its `started` transaction committed.
        if (this.onePass && !started) started = committedBefore(err) ?? (await this.latestByThisRun('started'));
        // The fence failed: another run holds the lock now. Nothing of ours committed.
        if (classifyFault(err) === 'lock-lost') this.options.onLockLost?.(message);
        const cut = err instanceof CutShort ? err.why : undefined;
        if (cut === 'abandoned' || (signal.aborted && cut === undefined)) return this.interrupted(base, durationMs, message, started);
        if (cut === undefined && isRetryable(err) && attempt < config.apply.retries) {
          const delayMs = Math.round(Math.min(250 * 2 ** attempt, 8000) * (0.5 + Math.random()));
          events.emit({ type: 'step.retry', step: e.step, attempt: attempt + 1, delayMs, error: message });
          await sleep(delayMs, signal);
          // A connection that died around COMMIT leaves the outcome unknown: if our `done`
          // record committed, the step is applied; running it again would fail or repeat it.
          if (await this.latestByThisRun('done')) {
            const durationMs = performance.now() - t0;
            events.emit({ type: 'step.done', step: e.step, durationMs });
            return { ...base, status: 'applied', durationMs };
          }
          if (signal.aborted) return this.interrupted(base, durationMs, message, started);
          continue;
        }
        // Where in its SQL (a script kind): the statement, the file, line and column.
        const script = this.step.prepared.script;
        const location = script !== undefined && cut === undefined ? locate(err, script, this.step.prepared.origin) : undefined;
        const at = location ? `\n    ${describeLocation(location)}` : '';
        const error = `step "${e.step}" failed${attempt > 0 ? ` after ${attempt + 1} attempts` : ''}: ${message}${at}`;
        const said = serverSaid(err, config.secrets);
        // The journal tells the whole story: a failure is always preceded by its start.
        // A start the store refused (the step is held elsewhere) leaves no record at all.
        if (!started && sqlState(err) === START_REFUSED_CODE) {
          events.emit({ type: 'step.failed', step: e.step, error, durationMs, location, ...said });
          return { ...base, status: 'failed', durationMs, error: new StepError(e.step, error, err) };
        }
        try {
          const failed = this.options.recorder.script(this.event('failed', { lastRun: this.lastRun, error: `${message}${at}` }));
          await withTimeout(this.options.db.withSession((s) => s.exec(started ? failed : `${this.options.recorder.script(this.event('started'))}\n${failed}`)), RECORD_BOUND_MS);
        } catch {
          // Recorded or not, the step failed: the next apply runs it again either way.
        }
        events.emit({ type: 'step.failed', step: e.step, error, durationMs, location, ...said });
        return { ...base, status: 'failed', durationMs, error: new StepError(e.step, error, err) };
      }
    }
  }

  private async interrupted(base: Pick<StepResult, 'step' | 'action' | 'reason'>, durationMs: number, message: string, started: boolean): Promise<StepResult> {
    const { store, events, signal } = this.options;
    // The checkpoint that really committed (a batch in flight may have rolled back).
    const cp = this.step.plan.resumable
      ? await withTimeout(store.load().then((m) => m.get(this.entry.step)?.checkpoint), RECORD_BOUND_MS).catch(() => this.checkpoint)
      : undefined;
    const reason = String((signal.reason as Error)?.message ?? signal.reason ?? 'stopped');
    // A script outside a transaction stopped mid-way: its stopped index builds left INVALID
    // indexes. Dropped before the record says it stopped (another tool may take it over).
    const script = this.step.prepared.script;
    if (started && !this.step.plan.transaction && this.step.kind.run === undefined && script !== undefined) {
      const left = await withTimeout(this.options.db.withSession((s) => dropInvalidIndexesOf(script, s)), RECORD_BOUND_MS).catch(() => undefined);
      for (const name of left ?? []) {
        events.emit({ type: 'log', level: 'warn', step: this.entry.step, message: `index ${name} is INVALID (its build was stopped) and could not be dropped now: run zsetup apply again (it rebuilds it) before another tool runs this step` });
      }
    }
    // Nothing to close when our `started` record never committed (nothing ran).
    // The stop's reason, once: a step stopped by it often says the same ("SIGINT received").
    const why = message === '' || message === reason || message.startsWith(`${reason}:`) ? reason : `${reason}: ${message}`;
    // A stop cancels the statements running at that moment; a cancel that arrives after its
    // statement ended can hit the next one on that connection (this record): then once more.
    const record = () => withTimeout(this.record(this.event('interrupted', { checkpoint: cp?.value, error: why })), RECORD_BOUND_MS);
    if (started) await record().catch((err: unknown) => (sqlState(err) === QUERY_CANCELED ? record() : undefined)).catch(() => undefined);
    const percent = cp?.total ? Math.floor((100 * (cp.done ?? 0)) / cp.total) : undefined;
    events.emit({ type: 'step.interrupted', step: this.entry.step, reason, checkpoint: cp?.value, percent });
    return { ...base, status: 'interrupted', durationMs, error: new StepError(this.entry.step, message) };
  }

  /** `startedScript`: the `started` record's own transaction, sent ahead in the same round trip. */
  private async attempt(startedScript: string): Promise<void> {
    const { db } = this.options;
    const step = this.step;
    const done = this.options.recorder.statement(this.event('done', { lastRun: this.lastRun }));
    const lockTimeout = `SET LOCAL lock_timeout = '${Math.round(this.options.config.apply.ddlLockTimeoutMs)}ms'`;
    const mark = newMark();
    // Run before the fence and the record, in the step's transaction (so on its connection).
    const closing = `${mark.check};\n${sessionReset(db)};\n${ASYNC_COMMIT}`;
    const script = step.prepared.script;
    const transaction = step.plan.transaction;
    // The step kind's own code: a synchronous throw is a rejection too.
    // A run kind's code, or a script kind's SQL run statement by statement (outside a
    // transaction; inside one, the script goes in one round trip below).
    const kind = step.kind;
    const runStep = (ctx: StepContext) =>
      this.guarded(Promise.resolve().then(() => (kind.run ? kind.run(step.def, ctx, step.prepared) : runScript(script ?? '', ctx))));

    if (transaction && kind.run === undefined) {
      // One round trip: the step's SQL and its done record commit together, or neither does.
      // Two transactions in one message: `started` commits first (visible while the step
      // runs); the step and its `done` record then commit together, or neither does.
      // Its statements each after a notice: an error without a position still names its statement.
      const marks = `zsetup step ${randomBytes(4).toString("hex")} s`;
      const tx = stepTransaction(db, script ?? '', done, this.options.config.apply.ddlLockTimeoutMs, undefined, marks);
      await this.guarded(
        db.withSession(async (s) => {
          const message = startedScript ? `${startedScript}\n${tx}` : tx;
          let last: number | undefined;
          try {
            await s.exec(message, { onNotice: (n) => n.startsWith(marks) && (last = Number(n.slice(marks.length))) });
          } catch (err) {
            noteSent(err, message, marks);
            if (last !== undefined) noteReached(err, last);
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
            await db.withSession((ts) => ts.exec(`${closing};\n${done}`), trx);
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
        await s.exec(`SET lock_timeout = '${Math.round(this.options.config.apply.ddlLockTimeoutMs)}ms'`);
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
    if (step.plan.resumable) this.options.signal.throwIfAborted();
    await this.guarded(db.withSession((s) => s.exec(done)));
  }

  /** The step's context; `trx` is its own (guarded) transaction, or undefined for the pool. */
  private context(trx: Parameters<typeof createStepContext>[3], onSession: <T>(fn: (s: Session) => Promise<T>) => Promise<T>): StepContext {
    const self = this;
    const host = {
      name: this.step.def.name,
      owner: this.owner,
      resumable: Boolean(this.step.plan.resumable),
      checkpoint: this.checkpoint?.value,
      ended: () => self.over || self.cutReason !== undefined,
      settled: () => self.over,
    };
    return createStepContext(host, this.options, this.progress, trx, onSession);
  }
}
