/**
 * The recorder: the only code that writes a fenced record. `started`, `done`, `failed`,
 * `interrupted`, recovery records and checkpoints all go through it, each preceded in its
 * transaction by the fence (the lock's proof that this run still holds it), so a run that
 * lost its lock commits nothing more. The state store says what a record is (its SQL);
 * the lock says what proves ownership (the fence); the recorder puts them together.
 */
import type { Database } from '../db.js';
import type { StateStore, StepEvent } from '../state/store.js';
import { ASYNC_COMMIT } from './transaction.js';
import { fenceStatement } from '../lock/lock.js';

export class Recorder {
  constructor(
    private readonly db: Database,
    private readonly store: StateStore,
    /** One statement that fails unless the run lock is still ours (empty: no fence). */
    readonly fence: string,
  ) {}

  /** A recorder fenced by a held lock's fence condition (`LockHandle.fence`; none: unfenced). */
  static forLock(db: Database, store: StateStore, fence: string | undefined): Recorder {
    return new Recorder(db, store, fence ? fenceStatement(fence) : '');
  }

  /** The record's statement after the fence, for a transaction the caller runs (a step's `done` commits with its work). */
  statement(ev: StepEvent): string {
    return this.fenced(this.store.recordStatement(ev));
  }

  /**
   * The record in a transaction of its own, as a script to send with other SQL in one
   * round trip. `started` is a diagnostic (a crash that loses it loses nothing else): its
   * commit does not wait for the WAL flush. The other records commit synchronously.
   */
  script(ev: StepEvent): string {
    const async = ev.event === 'started' ? `${ASYNC_COMMIT};\n` : '';
    return `BEGIN;\n${async}${this.statement(ev)};\nCOMMIT;`;
  }

  /** Write records, each in its own transaction, in one round trip. */
  async record(...events: StepEvent[]): Promise<void> {
    await this.db.withSession((s) => s.exec(events.map((ev) => this.script(ev)).join('\n')));
  }

  /** The statements that save a step's checkpoint, fenced, for the step's own transaction (one per entry: knex-pglite takes one statement per call). */
  checkpoint(step: string, owner: string, value: unknown, progress?: { done: number; total?: number | undefined }): string[] {
    const save = this.store.checkpointStatement(step, owner, value, progress);
    return this.fence ? [this.fence, save] : [save];
  }

  private fenced(sql: string): string {
    return this.fence ? `${this.fence};\n${sql}` : sql;
  }
}
