/**
 * Joining: an `apply` that waits for the run lock while another process runs a step
 * whose kind can share its work (`StepKind.join`, e.g. projection prefill) takes a share
 * of it, instead of waiting idle. Which step the holder runs is read from the journal
 * (its latest record is `started`, by another owner); the units of work are claimed
 * through PostgreSQL by the kind itself. The join stops when the lock is acquired or the
 * run stops; the holder records the step done, as always.
 */
import type { Database } from '../db.js';
import type { StateStore } from '../state/store.js';
import type { ResolvedStep } from '../config/project.js';
import type { StepContext, ResolvedConfig } from '../config/dsl.js';
import type { EngineEvents } from '../engine/events.js';
import { redact, causeChain } from '../errors.js';
import { sleep } from '../lock/lock.js';
import { inTransaction } from '../engine/transaction.js';

/** How often the journal is looked at while waiting. */
const LOOK_EVERY_MS = 1000;

export interface Joiner {
  /** Start looking (once another process holds the lock: an uncontended apply reads nothing more). */
  start(): void;
  /** Whether work was joined since the last call, or is being joined now (a lock wait that helps is not a timeout). */
  takeJoined(): boolean;
  /** Stop joining (the lock was acquired, or the wait ended). */
  stop(): Promise<void>;
}

export function joinWhileWaiting(o: {
  steps: readonly ResolvedStep[];
  db: Database;
  store: StateStore;
  config: ResolvedConfig;
  events: EngineEvents;
  signal: AbortSignal;
}): Joiner {
  const ac = new AbortController();
  const stopRun = () => ac.abort();
  o.signal.addEventListener('abort', stopRun, { once: true });
  const joinable = o.steps.filter((s) => typeof s.kind.join === 'function');
  let joined = false;
  const announced = new Set<string>();
  /** Joins running now: a wait that is helping is not a timeout, however long one join takes. */
  let active = 0;
  let loop: Promise<void> | undefined;
  const look = async () => {
    if (joinable.length === 0) return;
    while (!ac.signal.aborted) {
      const state = await o.store.load().catch(() => undefined);
      for (const s of joinable) {
        if (ac.signal.aborted) break;
        const st = state?.get(s.def.name);
        const latest = st?.latest;
        if (!latest || latest.event !== 'started' || latest.owner === o.config.owner || latest.checksum !== s.plan.checksum) continue;
        // The holder saves its first checkpoint (the bound of its work) before it shares any.
        if (st.checkpoint === undefined) continue;
        joined = true;
        // Said once per step and holder: the join is tried again every LOOK_EVERY_MS while the holder's step runs.
        const who = `${s.def.name}\0${latest.owner}`;
        if (!announced.has(who)) {
          announced.add(who);
          o.events.emit({ type: 'log', level: 'info', step: s.def.name, message: `joining the run of ${latest.owner}: taking units of this step that nobody holds` });
        }
        active++;
        try {
          await s.kind.join!(s.def, joinContext(s, st.checkpoint.value, o, ac.signal));
        } catch (err) {
          if (!ac.signal.aborted) o.events.emit({ type: 'log', level: 'warn', step: s.def.name, message: redact(`joining stopped: ${causeChain(err)}`, o.config.secrets) });
        } finally {
          active--;
          // The wait in which a join ended helped too: the next timeout waits again.
          joined = true;
        }
      }
      await sleep(LOOK_EVERY_MS, ac.signal);
    }
  };
  return {
    start() {
      loop ??= look();
    },
    takeJoined() {
      const j = joined || active > 0;
      joined = false;
      return j;
    },
    async stop() {
      ac.abort();
      o.signal.removeEventListener('abort', stopRun);
      await loop?.catch(() => undefined);
    },
  };
}

function joinContext(s: ResolvedStep, checkpoint: unknown, o: { db: Database; config: ResolvedConfig; events: EngineEvents }, signal: AbortSignal): StepContext {
  const name = s.def.name;
  return {
    name,
    get db() {
      return o.db.knex;
    },
    exec: (sql) => o.db.withSession((x) => x.exec(sql)),
    query: (sql, params) => o.db.withSession((x) => x.query(sql, params)),
    signal,
    lastRun: undefined,
    log: (message) => o.events.emit({ type: 'log', level: 'info', step: name, message: redact(String(message), o.config.secrets) }),
    config: o.config,
    checkpoint,
    saveCheckpoint: async () => undefined,
    transaction: (fn) => inTransaction(o.db, fn),
    progress: () => undefined,
  };
}
