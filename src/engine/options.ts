/**
 * What the scheduler is given (ExecuteOptions) and what it returns for each step
 * (StepResult): shared by the scheduler, the step run and the step context.
 */
import type { Database } from '../db.js';
import type { StateStore, StepState } from '../state/store.js';
import type { ResolvedConfig } from '../config/resolve.js';
import type { ResolvedStep } from '../config/project.js';
import type { EngineEvents } from './events.js';
import type { Action, Plan } from '../plan/planner.js';
import type { StepError } from '../errors.js';
import type { FaultTrap } from './faults.js';
import type { Recorder } from './recorder.js';

export type StepStatus = 'applied' | 'skipped' | 'failed' | 'blocked' | 'interrupted' | 'drift';

export interface StepResult {
  readonly step: string;
  readonly action: Action;
  readonly reason: string;
  readonly status: StepStatus;
  readonly durationMs?: number;
  /** Why it failed or was interrupted: the message as printed, the original as `cause`. */
  readonly error?: StepError;
}

export interface ExecuteOptions {
  readonly plan: Plan;
  readonly steps: readonly ResolvedStep[];
  readonly state: ReadonlyMap<string, StepState>;
  readonly db: Database;
  /** Where the state is read (a retry, an interruption: what really committed). */
  readonly store: StateStore;
  /** Where every record and checkpoint is written, fenced. */
  readonly recorder: Recorder;
  readonly config: ResolvedConfig;
  readonly events: EngineEvents;
  /** The run's signal: aborted when the run must stop. */
  readonly signal: AbortSignal;
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
