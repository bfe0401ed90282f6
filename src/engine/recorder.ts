/**
 * The recorder: the only code that writes a fenced record. `started`, `done`, `failed`,
 * `interrupted`, recovery records and checkpoints all go through it, each preceded in its
 * transaction by the fence (the lock's proof that this run still holds it), so a run that
 * lost its lock commits nothing more. The state store says what a record is (its SQL);
 * the lock says what proves ownership (the fence); the recorder puts them together.
 */
import type { Database } from '../db.js';
import type { StateStore, StepEvent } from '../state/store.js';
import { ASYNC_COMMIT, checkNotice, noticeStatement } from './transaction.js';
import { fenceStatement } from '../lock/lock.js';

export class Recorder {
  /** One statement that fails unless the run lock is still ours (empty: no fence). */
  readonly fence: string;

  constructor(
    private readonly db: Database,
    private readonly store: StateStore,
    /** The lock's fence condition (`LockHandle.fence`), true while the run holds the lock; none: unfenced. */
    private readonly condition?: string,
  ) {
    this.fence = condition ? fenceStatement(condition) : '';
  }

  /** A recorder fenced by a held lock's fence condition (`LockHandle.fence`; none: unfenced). */
  static forLock(db: Database, store: StateStore, fence: string | undefined): Recorder {
    return new Recorder(db, store, fence || undefined);
  }

  /** The record's statement after the fence, for a transaction the caller runs (a step's `done` commits with its work). */
  statement(ev: StepEvent): string {
    return this.fenced(this.store.recordStatement(ev));
  }

  /**
   * The record in a transaction of its own, as a script to send with other SQL in one
   * round trip. `started` is a diagnostic (a crash that loses it loses nothing else): its
   * commit does not wait for the WAL flush. The other records commit synchronously.
   * With `notice` (letters, digits, spaces and `:._-`), the server also raises it to the
   * client as the record is written: how a chain of steps sent in one message is followed.
   */
  script(ev: StepEvent, notice?: string): string {
    if (notice === undefined) return `BEGIN;\n${ev.event === 'started' ? `${ASYNC_COMMIT};\n` : ''}${this.statement(ev)};\nCOMMIT;`;
    // The fence's own block raises it (no second block); the level is set so that a
    // database or role default of client_min_messages cannot hide it.
    const raise = this.condition ? fenceStatement(this.condition, checkNotice(notice)) : noticeStatement(notice);
    const settings = `SELECT ${ev.event === 'started' ? "set_config('synchronous_commit', 'off', true), " : ''}set_config('client_min_messages', 'notice', true)`;
    return `BEGIN;\n${settings};\n${raise};\n${this.store.recordStatement(ev)};\nCOMMIT;`;
  }

  /** Several records' statements after one fence, for a transaction the caller runs. */
  statements(...events: StepEvent[]): string {
    return this.fenced(events.map((ev) => this.store.recordStatement(ev)).join(';\n'));
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
