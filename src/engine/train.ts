/**
 * A train: a chain of transactional SQL steps sent to the server in a few messages instead
 * of one message per step.
 *
 * Each member keeps the records it has when it runs alone: its SQL and its `done` record
 * commit together or not at all, and its `started` record is committed before its SQL
 * runs (written in the same transaction as the member before it, which ends the moment
 * this one begins; the first member of a message writes its own). The server runs a
 * message's statements in order and, at the first error, skips the rest of it
 * (https://www.postgresql.org/docs/current/protocol-flow.html#PROTOCOL-FLOW-MULTI-STATEMENT):
 * every member before the one that failed is committed, nothing after it ran.
 *
 * Messages ("parts") grow: 4 members, 16, then 64. The first step starts at once, and each
 * next part is built while the server runs the one before; it is sent when that one has
 * succeeded, and not at all once the run is stopping (a deadline lets the running step
 * finish; no new part starts). Measured on 500 trivial steps: the round trip per step, the
 * wake-ups around it and a transaction per `started` record were ~40% of a step's time
 * (bench/apply-500.mjs, issue 8 part 8).
 *
 * Progress comes back while a part runs: each member raises a notice as it begins (in the
 * fence's block for the first of a part, in a block of its own for the others), and the
 * notice of member i says member i-1 committed. The journal, not the notices, decides
 * what committed when a part fails: it is read once, and the member that did not reach
 * `done` continues as an ordinary step run (src/engine/step-run.ts) from that failed first
 * attempt: retried, or recorded failed or interrupted, as if it had run alone. The members
 * after it were never run; the scheduler runs (or blocks) them as usual.
 *
 * Only where the database passes notices on as they arrive (`Database.notices`), and only
 * for steps whose first attempt is one message anyway (transactional scripts, not
 * repeatable). A stop cancels the running member as it cancels a lone step.
 */
import { randomBytes } from 'node:crypto';
import type { ResolvedStep } from '../config/project.js';
import type { PlanEntry } from '../plan/planner.js';
import type { StepEvent } from '../state/store.js';
import { sleep, withTimeout } from '../lock/lock.js';
import { START_REFUSED_CODE, sqlState } from '../classify.js';
import { noteReached, noteSent } from './locate.js';
import type { Session } from '../db.js';
import { stepTransaction } from './transaction.js';
import type { ExecuteOptions, StepResult } from './options.js';
import { recordedSql, type PriorAttempt } from './step-run.js';

export interface TrainMember {
  readonly entry: PlanEntry;
  readonly step: ResolvedStep;
}

export interface TrainOutcome {
  /** Members recorded done, in order. */
  readonly applied: StepResult[];
  /** The member whose attempt failed, and how: it continues as a step run. */
  readonly failed?: { readonly member: TrainMember; readonly prior: PriorAttempt };
  /** Members never run (after the one that failed, or not sent after a stop): the scheduler takes them back. */
  readonly rest: TrainMember[];
  /** The rest must each run alone (their part was refused as a whole: a syntax error in one of them). */
  readonly alone?: boolean;
  /** What the server ran after the failed member is unknown (the journal was unreadable): the rest check it first. */
  readonly unsure?: boolean;
}

/** At most this many steps, and about this much SQL, in one message. */
export const TRAIN_MAX_STEPS = 500;
export const TRAIN_MAX_BYTES = 1 << 20;

/** Members in the first part of a train's message, and at most in any part (each part is 4x the one before). */
const TRAIN_PART_FIRST = 4;
const TRAIN_PART_MAX = 64;

/** How long reading the journal after a failed train may take (the run may be ending). */
const READ_BOUND_MS = 3000;

/** Can this step ride in a train? Its first attempt must be one message on its own. */
export function trainable(entry: PlanEntry, step: ResolvedStep, options: ExecuteOptions): boolean {
  return (
    options.db.notices === true &&
    entry.action === 'run' &&
    step.plan.transaction &&
    step.kind.run === undefined &&
    !step.def.repeatable &&
    typeof step.prepared.script === 'string'
  );
}

/** SQL size of a member, for TRAIN_MAX_BYTES. */
export function trainBytes(step: ResolvedStep): number {
  return (step.prepared.script?.length ?? 0) + 512;
}

export class Train {
  /** Rejects when the train is abandoned (it did not stop in time after a stop). */
  private readonly cut: Promise<never>;
  private cutWith!: (err: Error) => void;

  constructor(
    private readonly members: readonly TrainMember[],
    private readonly options: ExecuteOptions,
  ) {
    this.cut = new Promise<never>((_r, reject) => (this.cutWith = reject));
    this.cut.catch(() => undefined);
  }

  /** The member running did not stop within the cleanup deadline after a stop: give up on it. */
  abandon(): void {
    this.cutWith(new Error('it did not stop within the cleanup deadline'));
  }

  /** Never rejects: whatever happens, the outcome says which members are done. */
  async run(): Promise<TrainOutcome> {
    const { db, events, recorder, config } = this.options;
    const members = this.members;
    const owner = config.owner;
    const id = randomBytes(4).toString('hex');
    const token = `zsetup train ${id}`;
    const event = (m: TrainMember, kind: StepEvent['event']): StepEvent => ({ step: m.entry.step, event: kind, owner, checksum: m.entry.checksum, ...(kind === 'done' ? recordedSql(m.step) : {}) });
    // Member i of a part [from, upTo): its SQL and `done` in one transaction that also
    // writes the next member's `started` (committed the moment that member begins, as if in
    // a transaction of its own, ~0.15 ms a step less); the first of a part writes its own.
    const memberScript = (i: number, from: number, upTo: number) => {
      const m = members[i]!;
      const records = i + 1 < upTo ? recorder.statements(event(m, 'done'), event(members[i + 1]!, 'started')) : recorder.statement(event(m, 'done'));
      const work = stepTransaction(db, m.step.prepared.script ?? '', records, config.apply.ddlLockTimeoutMs, i === from ? undefined : `${token} ${i}`, `${token} ${i} s`);
      return i === from ? `${recorder.script(event(m, 'started'), `${token} ${i}`)}\n${work}` : work;
    };
    const applied: StepResult[] = [];
    // `current`: the member running, since `since` (performance.now()); `announced`: the
    // last member whose step.started was reported.
    let current = 0;
    let since = performance.now();
    let announced = -1;
    const announce = (upTo: number) => {
      while (announced < upTo) {
        const e = members[++announced]!.entry;
        events.emit({ type: 'step.started', step: e.step, action: e.action, reason: e.reason });
      }
    };
    // Members before `upTo` committed: report each done (and started, if not yet).
    const doneUpTo = (upTo: number) => {
      const now = performance.now();
      while (current < upTo) {
        announce(current);
        const e = members[current]!.entry;
        const durationMs = now - since;
        events.emit({ type: 'step.done', step: e.step, durationMs });
        applied.push({ step: e.step, action: e.action, reason: e.reason, status: 'applied', durationMs });
        current++;
        since = now;
      }
    };
    let noticed = -1;
    let cancelSent = false;
    let session: Session | undefined;
    // The first member of the part on the server.
    let partFrom = 0;
    // The part sent last: a failure came from it (locate.ts finds the member's SQL in it).
    let lastSent = '';
    // Per member, the statement of its SQL whose notice came last (`<token> <i> s<k>`).
    const reachedOf = new Map<number, number>();
    const onNotice = (message: string) => {
      if (!message.startsWith(token)) return;
      const stmt = /^(\d+) s(\d+)$/.exec(message.slice(token.length + 1));
      if (stmt) {
        reachedOf.set(Number(stmt[1]), Number(stmt[2]));
        return;
      }
      const i = Number(message.slice(token.length + 1));
      if (!Number.isInteger(i) || i <= noticed || i >= members.length) return;
      noticed = i;
      doneUpTo(i);
      announce(i);
      // A stop that lets the running step finish (a deadline): that step just finished, so
      // cancel the one that began (it is recorded interrupted; no later one starts).
      if (this.options.signal.aborted && !cancelSent) {
        cancelSent = true;
        void session?.cancel?.().catch(() => undefined);
      }
    };

    announce(0);
    let failure: unknown;
    let abandoned = false;
    let sentUpTo = 0;
    try {
      const sent = db.withSession(async (s) => {
        session = s;
        // In parts: the first is small, so the first step starts at once; each next part is
        // built while the server runs the one before, and sent when that one succeeded.
        // A stop (a deadline lets the running step finish) sends no further part.
        let running: Promise<void> | undefined;
        try {
          for (let from = 0, part = 0; from < members.length; part++) {
            const upTo = Math.min(members.length, from + Math.min(TRAIN_PART_MAX, TRAIN_PART_FIRST * 4 ** part));
            const sql = Array.from({ length: upTo - from }, (_, k) => memberScript(from + k, from, upTo)).join('\n');
            await running;
            if (this.options.signal.aborted) break;
            partFrom = from;
            lastSent = sql;
            running = s.exec(sql, { onNotice });
            sentUpTo = upTo;
            from = upTo;
          }
          await running;
        } catch (err) {
          await s.exec('ROLLBACK').catch(() => undefined);
          throw err;
        }
      });
      sent.catch(() => undefined);
      await Promise.race([sent, this.cut.catch((err) => Promise.reject(((abandoned = true), err)))]);
      doneUpTo(sentUpTo);
      return { applied, rest: members.slice(sentUpTo) };
    } catch (err) {
      failure = err;
    }

    // Nothing was sent (no connection): the first member's own attempt failed, as a lone
    // step's would; it retries or fails from here.
    if (sentUpTo === 0) return { applied, failed: { member: members[0]!, prior: { error: failure, started: false, startedAt: since } }, rest: members.slice(1) };

    // What committed: the journal says, per member, whether its `done` (or its `started`)
    // is there, written by this run. It is read again (within the connect timeout) after a
    // connection fault: without it, steps the server ran after the last notice would run again.
    const state = abandoned ? undefined : await this.readJournal();
    let startedCommitted = false;
    if (state) {
      let upTo = current;
      while (upTo < sentUpTo) {
        const latest = state.get(members[upTo]!.entry.step)?.latest;
        if (latest?.owner !== owner || latest.event !== 'done') {
          startedCommitted = latest?.owner === owner && latest.event === 'started';
          break;
        }
        upTo++;
      }
      doneUpTo(upTo);
      // All that was sent committed (the error came after): the rest was never sent.
      if (upTo === sentUpTo) return { applied, rest: members.slice(sentUpTo) };
      // Nothing of the part ran: the server refused the whole message (it parses all of it
      // first: a syntax error in any of its steps). Each of them runs alone instead, so the
      // error is its own step's.
      if (upTo === partFrom && !startedCommitted && noticed < partFrom) return { applied, rest: members.slice(partFrom), alone: true };
      // The store refused a member's `started` (that step is held elsewhere). A member's
      // done is sent with the next one's start, so the refusal may have rolled back the
      // member before it: each runs alone, and only the held one fails (with no record).
      if (sqlState(failure) === START_REFUSED_CODE) return { applied, rest: members.slice(current), alone: true };
    }
    announce(current);
    // Where in the failing member's SQL: its statements were marked `<token> <current> s<k>`.
    noteSent(failure, lastSent, `${token} ${current} s`);
    if (reachedOf.has(current)) noteReached(failure, reachedOf.get(current)!);
    return {
      applied,
      failed: { member: members[current]!, prior: { error: failure, started: startedCommitted, startedAt: since } },
      rest: members.slice(current + 1),
      // Unknown what the server ran after the last notice: each checks the journal first.
      ...(state ? {} : { unsure: true }),
    };
  }

  /** The journal, read again after a connection fault for up to the connect timeout (undefined: unreadable). */
  private async readJournal(): Promise<Awaited<ReturnType<ExecuteOptions['store']['load']>> | undefined> {
    const until = Date.now() + Math.max(READ_BOUND_MS, this.options.config.database?.pool?.connectTimeoutMs ?? 10_000);
    for (let attempt = 0; ; attempt++) {
      const state = await withTimeout(this.options.store.load(), READ_BOUND_MS).catch(() => undefined);
      if (state || Date.now() >= until || this.options.signal.aborted) return state;
      await sleep(Math.min(2000, 100 * 2 ** attempt), this.options.signal);
    }
  }
}
