/**
 * The step context: what a step's code gets (`ctx`). Its database handles, its signal,
 * its last run, its checkpoint (saved through the recorder, fenced, in the step's own
 * transaction), and its progress (rate and ETA, reported at most every 250 ms). A context
 * outlives nothing: once its step settled, every call fails, so a stray callback of the
 * step's code cannot write after the engine recorded the outcome.
 */
import { inTransaction } from './transaction.js';
import { isDeepStrictEqual } from 'node:util';
import type { Knex } from 'knex';
import type { Session } from '../db.js';
import type { StepContext } from '../config/dsl.js';
import { describeThrown, redact } from '../errors.js';
import { guardKnex } from './guard.js';
import type { ExecuteOptions } from './options.js';

/** What the context needs of the step it belongs to. */
export interface ContextHost {
  readonly name: string;
  readonly owner: string;
  readonly resumable: boolean;
  /** The checkpoint the step resumes from (its last committed one). */
  readonly checkpoint: unknown;
  /** Settled, failed or abandoned: the context no longer works. */
  ended(): boolean;
  /** Settled: logs and progress are dropped. */
  settled(): boolean;
}

/**
 * A step's context. `trx`: its own (guarded) transaction, or undefined (the pool);
 * `onSession`: how `exec` and `query` get a session.
 */
export function createStepContext(
  host: ContextHost,
  o: ExecuteOptions,
  progress: Progress,
  trx: Knex.Transaction | undefined,
  onSession: <T>(fn: (s: Session) => Promise<T>) => Promise<T>,
): StepContext {
  const name = host.name;
  let pool: Knex | undefined;
  const live = () => {
    if (host.ended()) throw new Error(`step "${name}" is over: its context can no longer be used`);
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
      if (host.settled()) return;
      o.events.emit({ type: 'log', level: 'info', message: redact(String(message), o.config.secrets), step: name });
    },
    config: o.config,
    checkpoint: host.checkpoint,
    saveCheckpoint: async (tx, value, p) => {
      live();
      if (p) progress.state = { done: p.done, total: p.total };
      if (!host.resumable) throw new Error(`step "${name}" is not resumable: declare it with resumable: true to save checkpoints`);
      checkCheckpointValue(name, value);
      const run = (sql: string) => ('raw' in tx ? tx.raw(sql) : tx.exec(sql));
      const save = o.recorder.checkpoint(name, host.owner, value, progress.state);
      // Through knex, one statement per call (knex-pglite takes no more); a session takes them in one round trip.
      if ('raw' in tx) for (const sql of save) await tx.raw(sql);
      else await tx.exec(save.join(';\n'));
      const due = o.db.checkpointDue?.();
      if (due) {
        const t = performance.now();
        await run(due.sql);
        due.done(performance.now() - t);
      }
    },
    transaction: async (fn) => {
      live();
      return inTransaction(o.db, fn);
    },
    progress: (p) => {
      if (!host.settled()) progress.report(p);
    },
  };
}

/** A step's progress: the last reported count, and its rate and ETA as events (at most every 250 ms). */
export class Progress {
  state: { done: number; total?: number | undefined } | undefined;
  private rate: { t0: number; done0: number } | undefined;
  private lastEmit = 0;

  constructor(private readonly emit: (p: { done: number; total?: number | undefined; ratePerSec?: number | undefined; etaMs?: number | undefined }) => void) {}

  report(p: { done: number; total?: number }): void {
    const now = performance.now();
    this.state = { done: p.done, total: p.total };
    if (!this.rate) this.rate = { t0: now, done0: p.done };
    const final = p.total !== undefined && p.done >= p.total;
    if (!final && now - this.lastEmit < 250) return;
    this.lastEmit = now;
    const elapsed = (now - this.rate.t0) / 1000;
    const ratePerSec = elapsed > 0.2 ? (p.done - this.rate.done0) / elapsed : undefined;
    const etaMs = ratePerSec && p.total !== undefined && ratePerSec > 0 ? Math.max(0, ((p.total - p.done) / ratePerSec) * 1000) : undefined;
    this.emit({ done: p.done, total: p.total, ratePerSec, etaMs });
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
export function checkJsonValue(what: string, value: unknown, o: { undefinedOk?: boolean; exact?: boolean } = {}): void {
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
