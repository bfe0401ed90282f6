/**
 * The engine's closed set of typed events. Renderers (text, JSON) and plugin hooks
 * subscribe; the engine never prints.
 */
import type { Action } from '../plan/planner.js';
import type { SqlLocation } from './locate.js';
import { redactDeep } from '../errors.js';

export type EngineEvent =
  | { type: 'run.started'; command: string; target: string; owner: string; steps: number }
  | { type: 'lock.waiting'; lock: string; holder: string; waitedMs: number }
  | { type: 'lock.acquired'; lock: string; owner: string; waitedMs: number }
  | { type: 'step.recovered'; step: string; previousOwner: string; startedAt: string }
  | { type: 'step.started'; step: string; action: Action; reason: string }
  | { type: 'step.retry'; step: string; attempt: number; delayMs: number; error: string }
  | { type: 'step.done'; step: string; durationMs: number }
  | {
      type: 'step.failed';
      step: string;
      error: string;
      durationMs: number;
      /** Where in its SQL, for a script step (see locate.ts). */
      location?: SqlLocation | undefined;
      /** What the server said, when the error came from it. */
      sqlstate?: string | undefined;
      detail?: string | undefined;
      hint?: string | undefined;
    }
  | { type: 'step.interrupted'; step: string; reason: string; checkpoint?: unknown; percent?: number | undefined }
  | { type: 'step.progress'; step: string; done: number; total?: number | undefined; ratePerSec?: number | undefined; etaMs?: number | undefined }
  | { type: 'run.stopping'; reason: string; signal?: string | undefined }
  | { type: 'step.blocked'; step: string; reason: string }
  | { type: 'log'; level: 'info' | 'warn' | 'error'; message: string; step?: string };

export type EngineEventType = EngineEvent['type'];

/** Why a run stops before it is done. */
export type StopReason =
  | { kind: 'signal'; signal: 'SIGINT' | 'SIGTERM' }
  | { kind: 'deadline'; deadline: Date }
  | { kind: 'lock-lost'; message: string }
  /** A step failed after it was recorded done (its code left an error behind), or code no step owns did. */
  | { kind: 'fault'; message: string };

/** What a plugin's `onRun` hook gets: a handle on the command that is running. */
export interface RunControl {
  readonly command: string;
  /** Aborted once the run is asked to stop. */
  readonly signal: AbortSignal;
  /**
   * Ask the run to stop: steps stop at their next checkpoint, running SQL is cancelled.
   * `cleanupDeadlineMs`: how long the run may take to end from now (default: the config's
   * `apply.cleanupDeadline`); steps still running near its end are abandoned.
   */
  stop(reason: StopReason, options?: { cleanupDeadlineMs?: number }): void;
  /** How long cleanup (records, lock release, pool close) may take after a stop. */
  readonly cleanupDeadlineMs: number;
  /**
   * When the run must be over (epoch ms), once it was asked to stop: the stop time plus the
   * cleanup deadline, or `--deadline` itself. Undefined before a stop.
   */
  readonly cleanupBy: number | undefined;
  /** The `--deadline` instant (epoch ms), if there is one. */
  readonly deadlineAt: number | undefined;
  readonly events: EngineEvents;
}

/** Hooks a plugin can register under `Tokens.Hooks` (read with `resolveAll`). */
export interface Hooks {
  /** Every engine event, in order. Must not throw; must be quick. */
  onEvent?(event: EngineEvent): void;
  /** `apply` or `cleanup` starts (they can be stopped); the returned function runs when it ends. */
  onRun?(run: RunControl): void | (() => void);
}

export function describeStop(r: StopReason): string {
  switch (r.kind) {
    case 'signal':
      return `${r.signal} received`;
    case 'deadline':
      return `deadline ${r.deadline.toISOString()} reached`;
    case 'lock-lost':
      return `lock lost: ${r.message}`;
    case 'fault':
      return r.message;
  }
}

/** A tiny synchronous event bus: emit, subscribe. Listener errors never reach the engine. */
export class EngineEvents {
  private readonly listeners: Array<(e: EngineEvent) => void> = [];

  on(listener: (e: EngineEvent) => void): () => void {
    this.listeners.push(listener);
    return () => {
      const i = this.listeners.indexOf(listener);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  emit(event: EngineEvent): void {
    // No listener (a renderer, a plugin's hook) ever sees a password.
    const safe = redactDeep(event);
    for (const l of this.listeners) {
      try {
        l(safe);
      } catch {
        // a renderer bug must not break a migration
      }
    }
  }
}
