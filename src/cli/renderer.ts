/**
 * The seam between the commands and what they print. Every command hands its results to
 * one `Renderer`, made by the format `--format` names (the registry: ./formats.ts); no
 * command prints on its own. A renderer writes only through ./output.ts (`line`,
 * `jsonLine`, `errLine`), which scrub every password (`redact`, `redactDeep`): a new
 * format cannot leak one by forgetting to.
 *
 * A new format is one file in ./render/ that exports a `Format`, and one line in
 * ./formats.ts. See ./render/json.ts for a small one.
 */
import type { ApplyResult, CleanupResult, StatusEntry } from '../api.js';
import type { EngineEvent, StopReason } from '../engine/events.js';
import type { Plan, PlanEntry } from '../plan/planner.js';
import type { RecordedEvent } from '../state/store.js';
import type { Out } from './output.js';

/** The commands, by name. A format says which of them it can render. */
export type CommandName = 'plan' | 'apply' | 'status' | 'cleanup' | 'baseline' | 'accept';

/** What `plan` found. */
export interface PlanView {
  plan: Plan;
  target: string | undefined;
  /** plan --sql: also the SQL each pending step would run. */
  sql?: boolean;
}

/** What `status` found: each step's latest state, or (`--history`) every recorded event. */
export type StatusView = { target: string | undefined; steps: readonly StatusEntry[] } | { target: string | undefined; history: readonly RecordedEvent[] };

/** How many steps of an apply ended how. */
export interface ApplyCounts {
  applied: number;
  /** Up to date (applied before). */
  skipped: number;
  /** Skipped without having been applied: off for this run, or waiting for a step run elsewhere. */
  leftOut: number;
  failed: number;
  blocked: number;
  interrupted: number;
}

/** The end of a command that runs under the lock: `apply` or `cleanup`. */
export type Finish =
  | {
      command: 'apply';
      status: ApplyResult['status'];
      counts: ApplyCounts;
      durationMs: number;
      target: string | undefined;
      stop: StopReason | undefined;
      /** Set when the run ended on an error that `Renderer.error` reports right after. */
      error: Error | undefined;
    }
  | { command: 'cleanup'; target: string | undefined; recovered: CleanupResult['recovered'] }
  | RecordFinish<'baseline'>
  | RecordFinish<'accept'>;

/** The end of baseline or accept: the steps recorded as applied (declined: that would have been). */
export interface RecordFinish<C extends 'baseline' | 'accept'> {
  command: C;
  target: string | undefined;
  entries: readonly PlanEntry[];
  declined: boolean;
}

/**
 * One output format, as the commands see it. Each method is called by the commands the
 * format supports (`Format.commands`), and only with data: the renderer decides the words.
 *
 * @example
 * const render = FORMATS.json.create({ secrets: [] });
 * render.plan({ plan, target: 'postgres://root@127.0.0.1:5432/app' }); // one JSON line per step
 */
export interface Renderer {
  /** An engine event, as it happens (apply). */
  event(event: EngineEvent): void;
  /** What `plan` would do. */
  plan(view: PlanView): void;
  /** What `status` found. */
  status(view: StatusView): void;
  /** The end of an apply or a cleanup. */
  finish(finish: Finish): void;
  /** A command that could not do its work: `status` is the failure (`config`, `unreachable`, ...). */
  error(status: string, error: Error): void;
}

/** A registered output format: what `--format <name>` makes. */
export interface Format {
  /** For `--help`, after the name: what it writes (`writes one JSON object per line`). */
  readonly description: string;
  /** The commands it can render; the others refuse it with a usage error (exit 2). */
  readonly commands: readonly CommandName[];
  create(out: Out): Renderer;
}
