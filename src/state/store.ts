/**
 * The StateStore contract: where zsetup records what ran.
 *
 * How to implement a store (prove it with `stateStoreContract` from `zsetup/testing`):
 * 1. `init()` creates what the store needs, idempotently. The engine calls it only while
 *    holding the run lock, never from `plan` or `status`.
 * 2. `load()` returns, per step, its latest event and its latest `done` event. It never
 *    writes, and returns an empty map when `init()` never ran.
 * 3. `record()` appends one event in its own transaction; `recordStatement()` returns SQL
 *    that appends the same event inside the caller's transaction, so a step's work and
 *    its `done` record commit together (or not at all).
 * 4. Events are appended, never updated: `history()` returns them oldest first.
 */
import type { Session } from '../db.js';

export type StepEventKind = 'started' | 'done' | 'failed' | 'interrupted';

export interface StepEvent {
  readonly step: string;
  readonly event: StepEventKind;
  /** Who wrote it: `host:pid:run`. */
  readonly owner: string;
  /** Checksum of the step's content (done, and started). */
  readonly checksum?: string | undefined;
  /** Repeatable steps: the value their `check` receives next time (done, failed). */
  readonly lastRun?: unknown;
  /** failed: the error with its cause chain. */
  readonly error?: string | undefined;
  /** interrupted: the last committed checkpoint. */
  readonly checkpoint?: unknown;
}

export interface RecordedEvent extends StepEvent {
  readonly id: number;
  readonly at: Date;
}

export interface StepState {
  readonly step: string;
  /** The last event of the step. */
  readonly latest: RecordedEvent;
  /** The last `done` event, if any (its `lastRun` is what `check` receives). */
  readonly lastDone?: RecordedEvent | undefined;
}

export interface StateStore {
  init(): Promise<void>;
  load(): Promise<Map<string, StepState>>;
  history(options?: { step?: string }): Promise<RecordedEvent[]>;
  record(event: StepEvent, session?: Session): Promise<void>;
  recordStatement(event: StepEvent): string;
}
