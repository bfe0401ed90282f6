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
 * 5. `checkpointStatement()` upserts one checkpoint per step inside the caller's
 *    transaction; `load()` returns it until a `done` event for the step clears it.
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
  /**
   * done: how the step came to be recorded applied without running it: `baseline` (an
   * existing database adopted: `zsetup baseline`), `accept` (a reviewed change of a step that
   * had run: `zsetup accept`). Absent when it ran.
   */
  readonly via?: 'baseline' | 'accept' | undefined;
  /**
   * done: the SQL the step ran (or was recorded with), when it is SQL and at most
   * MAX_RECORDED_SQL characters: what `plan` diffs a changed step against. A store may drop it.
   */
  readonly sql?: string | undefined;
}

/** The longest SQL text a `done` record keeps (characters); a longer one is not kept. */
export const MAX_RECORDED_SQL = 64 * 1024;

export interface RecordedEvent extends StepEvent {
  readonly id: number;
  readonly at: Date;
  /**
   * Who wrote it, when not zsetup (a store that reads another tool's records, such as
   * ZITADEL's own): `plan` says "applied by <source>". Such a record has no checksum: it
   * says that the step ran, not what ran.
   */
  readonly source?: string | undefined;
}

/** The last committed checkpoint of a resumable step (cleared when the step is done). */
export interface Checkpoint {
  readonly value: unknown;
  /** Progress reported with it, if any. */
  readonly done?: number | undefined;
  readonly total?: number | undefined;
  readonly owner: string;
  readonly at: Date;
}

export interface StepState {
  readonly step: string;
  /** The last event of the step. */
  readonly latest: RecordedEvent;
  /** The last `done` event, if any (its `lastRun` is what `check` receives). */
  readonly lastDone?: RecordedEvent | undefined;
  /** The last committed checkpoint, while the step is not done. */
  readonly checkpoint?: Checkpoint | undefined;
}

export interface StateStore {
  init(): Promise<void>;
  load(): Promise<Map<string, StepState>>;
  history(options?: { step?: string }): Promise<RecordedEvent[]>;
  record(event: StepEvent, session?: Session): Promise<void>;
  /**
   * ONE statement (it may run through a driver that takes one statement per call) that
   * appends the event; a `done` event also clears the step's checkpoint.
   */
  recordStatement(event: StepEvent): string;
  /**
   * ONE statement that saves a resumable step's checkpoint (upsert), to run inside the
   * caller's transaction: the checkpoint commits with the batch it describes.
   */
  checkpointStatement(step: string, owner: string, value: unknown, progress?: { done?: number | undefined; total?: number | undefined }): string;
}
