/**
 * `zsetup/plugin`: everything a plugin may use, and nothing else. The built-in plugins
 * (`plugins/`) import only this module, so a third-party plugin can do whatever they do.
 *
 * - Contracts: what a plugin provides (a step kind, a database, a lock, a state store,
 *   hooks) and what it is given (the resolved config, a step's context, engine events).
 * - Tokens: where each contract is registered in the container.
 * - Helpers plugins need: errors the CLI maps to exit codes, durations, identifier quoting,
 *   statement splitting, and the lock skeleton (`pollAcquire`, `holdLock`, fencing) with
 *   `createLock` for the lock kind `lock.kind` names.
 *
 * @example
 * ```ts
 * import { Tokens, type Plugin } from 'zsetup/plugin';
 *
 * export const audit = (): Plugin => ({
 *   name: 'audit',
 *   register(c) {
 *     c.register(Tokens.Hooks, { useValue: { afterStep: (e) => console.log(e.step, e.status) } });
 *   },
 * });
 * ```
 */
import './cjs.js';

// Contracts
export type {
  Plugin,
  StepKind,
  ScriptKind,
  RunKind,
  StepTraits,
  StepDefinition,
  StepContext,
  PrepareContext,
  Prepared,
  CommonStepOptions,
  Duration,
  Awaitable,
} from './config/dsl.js';
export { COMMON_STEP_FIELDS, isSqlFile } from './config/dsl.js';
export type { ResolvedConfig } from './config/resolve.js';
export type { Database, Session, DedicatedSession, ExecOptions } from './db.js';
export type { StateStore, StepEvent, StepEventKind, RecordedEvent, StepState, Checkpoint } from './state/store.js';
export { MAX_RECORDED_SQL } from './state/store.js';
export type { Lock, LockHandle, LockHolder, AcquireOptions, LockKind } from './lock/lock.js';
export type { EngineEvent, EngineEventType, Hooks, RunControl, StopReason } from './engine/events.js';
export { EngineEvents, describeStop } from './engine/events.js';

// Tokens
export { Tokens, instanceCachingFactory, resolveAllOrNone } from './container.js';

// Errors
export { ZsetupError, ConfigError, UsageError, StepError, LockTimeoutError, DatabaseUnreachableError, LockLostError, describeThrown, causeChain, redact, type ConfigProblem } from './errors.js';

// Helpers
export { parseDuration, formatMs, MAX_DURATION_MS } from './config/duration.js';
export { quoteIdent, quoteLiteral } from './db.js';
export { splitStatements, statementsAt, canonicalSql, type Statement } from './engine/split.js';
export { runScript } from './engine/script.js';
export { sleep, withTimeout, withLockTimeout, pollDelay, isConnectionFault, fenceStatement, WAIT_REPORT_MS, LOCK_LOST_CODE, describeHolder } from './lock/lock.js';
export { START_REFUSED_CODE, connectFault, type ConnectFault, type ConnectReason } from './classify.js';
// The lock skeleton (poll-acquire, hold and release) and lock kinds
export { pollAcquire, holdLock, type PollSpec, type HoldSpec, type HeldLock } from './lock/skeleton.js';
export { createLock } from './lock/kinds.js';
