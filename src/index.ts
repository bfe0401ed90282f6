/**
 * The core's public API: the config DSL, the commands (without any plugin bound: pass
 * `defaults`), the contracts and tokens plugins build on. Re-exports only. The package
 * entry (`zsetup`, ../index.ts) adds the built-in plugins and binds them as defaults; the
 * core never imports a plugin.
 */
import './cjs.js';

export { defineConfig, step, repeatable, file, isSqlFile, COMMON_STEP_FIELDS } from './config/dsl.js';
export type {
  UserConfig,
  DatabaseConfig,
  StepDefinition,
  StepOptions,
  SqlStepOptions,
  FunctionStepOptions,
  RepeatableOptions,
  RepeatableSpec,
  CommonStepOptions,
  StepContext,
  StepKind,
  ScriptKind,
  RunKind,
  StepTraits,
  PrepareContext,
  Prepared,
  Plugin,
  SqlFile,
  Duration,
  ConfigCommand,
  ConfigExport,
  Awaitable,
} from './config/dsl.js';
export type { ResolvedConfig, ConfigFlags } from './config/resolve.js';
export { parseDuration, formatMs, MAX_DURATION_MS } from './config/duration.js';
export { loadProject, type Project, type ResolvedStep, type LoadOptions } from './config/project.js';

export { plan, apply, status, cleanup } from './api.js';
export type { PlanResult, ApplyResult, ApplyOptions, StatusResult, StatusEntry, CleanupResult, BaseOptions, FailureStatus } from './api.js';

export { Tokens, buildContainer, instanceCachingFactory, resolveAllOrNone } from './container.js';
export type { Database, Session, DedicatedSession } from './db.js';
export { quoteIdent, quoteLiteral } from './db.js';

export type { StateStore, StepEvent, StepEventKind, RecordedEvent, StepState, Checkpoint } from './state/store.js';
export { MAX_RECORDED_SQL } from './state/store.js';

export type { Lock, LockHandle, LockHolder, AcquireOptions, LockKind } from './lock/lock.js';
export { sleep, withTimeout, fenceStatement, LOCK_LOST_CODE, describeHolder } from './lock/lock.js';
export { START_REFUSED_CODE } from './classify.js';

export { EngineEvents, describeStop, type EngineEvent, type EngineEventType, type Hooks, type RunControl, type StopReason } from './engine/events.js';
export type { StepResult, StepStatus } from './engine/scheduler.js';
export { classifyFault, isRetryable, connectFault, type FaultClass, type ConnectFault, type ConnectReason } from './classify.js';
export { splitStatements, statementsAt, canonicalSql, type Statement } from './engine/split.js';
export { runScript } from './engine/script.js';

export { planSteps, type Plan, type PlanEntry, type PlanStep, type Action, type CheckResult } from './plan/planner.js';
export { buildGraph } from './plan/graph.js';
export { checksum, normalizeSource } from './plan/checksum.js';

export { ZsetupError, ConfigError, UsageError, StepError, LockTimeoutError, DatabaseUnreachableError, LockLostError, redact, redactDeep, causeChain, describeThrown, rememberSecret, passwordsIn, type ConfigProblem } from './errors.js';
