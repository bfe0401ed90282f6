/**
 * The config DSL: `defineConfig` and the step builders. Everything here is plain data
 * plus functions; nothing touches a database at import or build time.
 */
import type { Knex } from 'knex';
import type { DependencyContainer } from 'tsyringe';
import type { Session } from '../db.js';

export type Awaitable<T> = T | Promise<T>;

/** A duration: milliseconds as a number, or a string such as `"500ms"`, `"10s"`, `"5m"`, `"1h"`. */
import type { Duration } from './duration.js';

export type { Duration };

const FILE = Symbol.for('zsetup.file');

/** A reference to an SQL file, resolved relative to the config file. */
export interface SqlFile {
  readonly [FILE]: true;
  readonly path: string;
}

/**
 * Reference an SQL file, relative to the config file's folder.
 * @example step('01_tables', { sql: file('sql/01_tables.sql') })
 */
export function file(path: string): SqlFile {
  return { [FILE]: true, path };
}

export function isSqlFile(v: unknown): v is SqlFile {
  return typeof v === 'object' && v !== null && (v as Record<symbol, unknown>)[FILE] === true;
}

/** Options every step accepts. */
export interface CommonStepOptions {
  /**
   * Steps this one runs after. Replaces the implicit edge to the step declared just
   * before it, so independent branches can run at once with `--concurrency`.
   * @default [the previous step]
   */
  after?: readonly string[];
  /**
   * Run the step in one transaction together with its state record. Set `false` for
   * statements that cannot run in a transaction (`CREATE INDEX CONCURRENTLY`); the step
   * must then be idempotent (`IF NOT EXISTS`).
   * @default true
   */
  transaction?: boolean;
  /**
   * What identifies this step's content for change detection. When set, the checksum is
   * taken from it instead of the SQL text / function source.
   */
  version?: string | number;
  /** One line shown by `zsetup plan`. */
  description?: string;
}

/** What a step's code receives. */
export interface StepContext {
  /** The step's name. */
  readonly name: string;
  /**
   * The database: the step's transaction when `transaction` is true (the default), or
   * the shared pool otherwise. Never open a pool of your own.
   */
  readonly db: Knex | Knex.Transaction;
  /** Run an SQL script of one or more statements on the step's connection. */
  exec(sql: string): Promise<void>;
  /** One statement with `$1` parameters; returns its rows (on the step's connection). */
  query<R = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<R[]>;
  /** Aborted when the run is asked to stop (signal, deadline, lock lost). */
  readonly signal: AbortSignal;
  /** For repeatable steps: the `lastRun` value recorded by the last successful run. */
  readonly lastRun: unknown;
  /** Write one line to the run's log. */
  log(message: string): void;
  /** The resolved config of this invocation. */
  readonly config: ResolvedConfig;
  /**
   * Resumable steps: the last committed checkpoint (undefined on a first run). Continue
   * from it; rows committed before it must not be written again.
   */
  readonly checkpoint: unknown;
  /**
   * Resumable steps: record `value` as the checkpoint INSIDE `trx`, the transaction that
   * commits the batch it describes, so a kill loses at most the batch in flight and
   * duplicates nothing. Fails (and so rolls the batch back) if this run lost its lock.
   * `progress` (what the checkpoint covers) is stored with it, so `plan` can say how far
   * the step got; without it, the last `ctx.progress()` is used.
   */
  saveCheckpoint(trx: Knex.Transaction | Session, value: unknown, progress?: { done: number; total?: number }): Promise<void>;
  /**
   * Run `fn` in one transaction on a pool connection, without knex (lighter than
   * `ctx.db.transaction`; knex is then never loaded): commit when `fn` resolves, roll
   * back when it throws. Made for resumable batches:
   * `await ctx.transaction(async (tx) => { await tx.query(sql, params); await ctx.saveCheckpoint(tx, to); })`
   */
  transaction<T>(fn: (tx: Session) => Promise<T>): Promise<T>;
  /** Report progress; renderers show rate, percentage and ETA. Cheap: call it per batch. */
  progress(p: { done: number; total?: number }): void;
}

/** What decides whether a repeatable step runs again. */
export interface RepeatableSpec<L = unknown> {
  /** The value recorded when the step ran (ZITADEL: the step's own settings). */
  lastRun: () => Awaitable<L>;
  /**
   * Given the `lastRun` recorded by the last successful run, should it run again?
   * @default run again when `lastRun()` differs from the recorded value
   */
  check?: (lastRun: L | undefined) => Awaitable<boolean>;
}

/** A declared step: plain data, interpreted by the step kind named in `kind`. */
export interface StepDefinition extends CommonStepOptions {
  readonly kind: string;
  readonly name: string;
  readonly repeatable?: RepeatableSpec<any>;
  /** See FunctionStepOptions.resumable. */
  readonly resumable?: boolean;
  readonly [field: string]: unknown;
}

/** The fields shared by every step kind (everything else belongs to the kind). */
export const COMMON_STEP_FIELDS = ['kind', 'name', 'after', 'transaction', 'version', 'description', 'repeatable', 'resumable'] as const;

export interface SqlStepOptions extends CommonStepOptions {
  /** SQL text (one or more statements), or `file('path.sql')`. */
  sql: string | SqlFile;
}

export interface FunctionStepOptions extends CommonStepOptions {
  /** TypeScript code to run. Receives the step context; `ctx.db` is its transaction. */
  run: (ctx: StepContext) => Awaitable<void>;
  /**
   * Long work in batches that survives interruption: the step is not wrapped in one
   * transaction; `ctx.db` is the pool. Commit each batch in its own transaction together
   * with `ctx.saveCheckpoint(trx, value)`, start from `ctx.checkpoint`, report
   * `ctx.progress()`, and stop between batches when `ctx.signal` aborts
   * (`ctx.signal.throwIfAborted()`). Interrupted, it shows in `plan` as `resume`.
   * @example
   * step('fill', { resumable: true, run: async (ctx) => {
   *   let next = (ctx.checkpoint as number | undefined) ?? 0;
   *   while (next < total) {
   *     ctx.signal.throwIfAborted();
   *     await ctx.db.transaction(async (trx) => {
   *       await trx.raw('INSERT INTO t SELECT g FROM generate_series(?::int, ?::int) g', [next, next + 9999]);
   *       await ctx.saveCheckpoint(trx, next + 10000, { done: next + 10000, total });
   *     });
   *     next += 10000;
   *     ctx.progress({ done: next, total });
   *   }
   * } })
   */
  resumable?: boolean;
}

export type StepOptions = SqlStepOptions | FunctionStepOptions;

/**
 * A once-only step: runs once, recorded by name; a later change of its content is drift.
 * @example
 * step('01_tables', { sql: 'CREATE SCHEMA IF NOT EXISTS auth' })
 * step('02_assets', { sql: file('sql/02_assets.sql') })
 * step('31_index', { transaction: false, sql: 'CREATE INDEX CONCURRENTLY IF NOT EXISTS ...' })
 * step('03_seed', { run: async ({ db }) => { await db('t').insert({ id: 1 }) } })
 */
export function step(name: string, options: StepOptions): StepDefinition {
  return toDefinition(name, options);
}

export type RepeatableOptions<L> = StepOptions & RepeatableSpec<L>;

/**
 * A repeatable step: runs again when `check(lastRun)` says so, or when its content
 * (checksum) changed. `lastRun()` is recorded after each successful run.
 * @example
 * repeatable('config_change', {
 *   lastRun: () => ({ externalDomain }),
 *   check: (last) => last?.externalDomain !== externalDomain,
 *   sql: "UPDATE ...",
 * })
 */
export function repeatable<L = unknown>(name: string, options: RepeatableOptions<L>): StepDefinition {
  const { lastRun, check, ...rest } = options as RepeatableOptions<L> & Record<string, unknown>;
  const def = toDefinition(name, rest as StepOptions) as Record<string, unknown>;
  def.repeatable = { lastRun, check };
  return def as StepDefinition;
}

function toDefinition(name: string, options: StepOptions): StepDefinition {
  const o = (options ?? {}) as unknown as Record<string, unknown>;
  const kind = 'run' in o && !('sql' in o) ? 'function' : 'sql';
  return { ...o, kind, name } as StepDefinition;
}

/**
 * A step kind, contributed by a plugin: how steps of `kind` are checked, fingerprinted and
 * run. A kind is one of two shapes:
 * - a **script kind** (no `run`): `prepare` returns the step's SQL as `script`, and the
 *   engine runs it: in one round trip with the step's records when the step is
 *   transactional, statement by statement otherwise (a killed `CREATE INDEX CONCURRENTLY`'s
 *   invalid index is rebuilt);
 * - a **run kind**: `run` does the work through `ctx.db` / `ctx.exec`, honours `ctx.signal`
 *   and throws on failure; `prepare` returns no script.
 *
 * How to implement one:
 * 1. Pick a unique `kind` string and list the extra fields your steps carry in `fields`
 *    (anything else is reported as an unknown field).
 * 2. Declare its `traits`: whether its steps run in a transaction, can be resumable, can
 *    be repeatable; where a trait is `'optional'` the user chooses in the step.
 * 3. `prepare` validates one definition (report problems with `ctx.problem`) and returns
 *    the text its checksum is computed from (and, for a script kind, the `script`).
 * 4. Export a builder that returns `{ kind, name, ...fields }` for your users. The engine
 *    records state around every step; never record state yourself.
 *
 * @example
 * ```ts
 * const vacuumKind: StepKind<StepDefinition & { table: string }> = {
 *   kind: 'vacuum',
 *   fields: { table: 'a table name' },
 *   traits: { transaction: 'never', resumable: 'never' },
 *   prepare: (def) => ({ source: def.table }),
 *   run: (def, ctx) => ctx.exec(`VACUUM ${quoteIdent(def.table)}`),
 * };
 * ```
 */
export type StepKind<D extends StepDefinition = StepDefinition> = ScriptKind<D> | RunKind<D>;

/** What every kind declares. */
interface StepKindBase<D extends StepDefinition> {
  readonly kind: string;
  /** Extra fields of this kind, with a short type description for error messages. */
  readonly fields: Readonly<Record<string, string>>;
  /** What its steps are; unset traits are `'optional'` (the step's own fields decide). */
  readonly traits?: StepTraits;
  prepare(def: D, ctx: PrepareContext): Awaitable<Prepared>;
  /**
   * Whether this run leaves the step out: a reason (shown by `plan`, e.g. "projection
   * prefill is off (--no-init-projections)") or undefined to run it as usual. A step left
   * out is skipped, not failed: its dependants run.
   */
  off?(def: D, config: ResolvedConfig): string | undefined;
  /**
   * A step of this kind left out (off) and not applied yet holds back the steps after it
   * (`after`, directly or through others): they are skipped too, not failed, saying that
   * they wait for it, until it has been applied (by someone else: the `zitadel.external`
   * kind's steps are run by ZITADEL's own binary).
   */
  readonly holds?: boolean;
  /**
   * Share another process's work: while this `apply` waits for the run lock and the
   * process holding it runs a step of this kind (its `started` is the latest record),
   * take units of that step's work that nobody holds, claimed through PostgreSQL alone
   * (transaction-level advisory locks, rows read `FOR UPDATE`), never through the run
   * lock. Return once no unit is left or `ctx.signal` aborts (the lock was acquired, or
   * the run stops). `ctx.checkpoint` is the holder's last checkpoint; `saveCheckpoint`
   * does nothing (the step is not this process's).
   */
  join?(def: D, ctx: StepContext): Promise<void>;
}

/** A kind whose steps are SQL that the engine runs (`prepare` returns the `script`). */
export interface ScriptKind<D extends StepDefinition = StepDefinition> extends StepKindBase<D> {
  readonly run?: undefined;
}

/** A kind whose steps are code: `run` does the work. */
export interface RunKind<D extends StepDefinition = StepDefinition> extends StepKindBase<D> {
  run(def: D, ctx: StepContext, prepared: Prepared): Promise<void>;
}

/**
 * What a kind's steps are. `'always'` / `'never'` fix a trait (a step that asks otherwise
 * is a config error); `'optional'` lets the step choose (`transaction` defaults to true,
 * `resumable` to false).
 */
export interface StepTraits {
  /** Run in one transaction with the step's `done` record. @default 'optional' */
  readonly transaction?: 'always' | 'never' | 'optional';
  /** Save checkpoints and resume after a stop (a resumable step is never transactional). @default 'optional' */
  readonly resumable?: 'always' | 'never' | 'optional';
  /** May be declared with `repeatable(...)`. @default true */
  readonly repeatable?: boolean;
}

export interface PrepareContext {
  /** The config file's folder: resolve relative paths against it. */
  readonly configDir: string;
  /** Report one problem; `path` is relative to the step (`"sql"`, `"options.table"`). */
  problem(path: string, message: string): void;
}

export interface Prepared {
  /** The text that defines the step; normalised and hashed into its checksum. */
  readonly source: string;
  /**
   * Texts an earlier zsetup hashed for this same definition (the sql kind hashed the raw
   * text before it hashed canonicalSql()): a recorded checksum of one of them is the same
   * step, not drift.
   */
  readonly formerSources?: readonly string[];
  /**
   * The source is the step's code, not a `version` (a function step without one): a change
   * of it is shown by `plan` ("changed (no version)"), and never refused as drift.
   */
  readonly sourceIsCode?: boolean;
  /** Where the script comes from, for errors: its file as the config names it (`sql/002_orders.sql`). */
  readonly origin?: string;
  /**
   * A script kind's SQL (a run kind returns none). Transactional: sent in one round trip
   * together with the step's records; otherwise run statement by statement.
   */
  readonly script?: string;
}

/**
 * A plugin: a plain object returned by a factory. Built-in plugins use this same contract.
 *
 * How to write one:
 * 1. Export a factory `myPlugin(options)` returning `{ name, register }`.
 * 2. In `register`, add providers to the container with the typed tokens from `zsetup`
 *    (`Tokens.StepKind` to add a step kind, `Tokens.StateStore` / `Tokens.Lock` to replace
 *    a contract, `Tokens.Hooks` for hooks and events). Resolve lazily (`useFactory`):
 *    nothing may touch the database in `register`.
 * 3. Get the pool with `c.resolve(Tokens.Database)`; never open connections of your own.
 */
export interface Plugin {
  readonly name: string;
  register(container: DependencyContainer, config: ResolvedConfig): void;
}

/** The config a user writes; every field but `steps` is optional. */
export interface UserConfig {
  database?: DatabaseConfig;
  /** Plugins, registered after the built-in defaults (a plugin can replace a default). */
  plugins?: readonly Plugin[];
  /** The steps, in order. Without `after`, each step runs after the one before it. */
  steps: readonly StepDefinition[];
  state?: {
    /** Schema of zsetup's own tables (journal, lease). @default "zsetup" */
    schema?: string;
  };
  lock?: {
    /**
     * Which registered lock kind holds the run lock: `advisory` (session advisory lock),
     * `lease` (a lease row, for PgBouncer/CockroachDB), `datadir` (the embedded PGlite's
     * data-dir lock), or one a plugin registers (`Tokens.LockKind`).
     * @default "advisory" with a database URL, "datadir" on the embedded PGlite
     */
    kind?: 'advisory' | 'lease' | 'datadir' | (string & {});
    /** How long `apply` waits for the lock. @default "60s" */
    timeout?: Duration;
    /** Lease lifetime; renewed every third of it. @default "30s" */
    leaseTtl?: Duration;
    /** Lock name (several independent setups in one database need different names). @default "zsetup" */
    name?: string;
  };
  apply?: {
    /** Independent branches run at once, never more than the pool allows. @default 1 */
    concurrency?: number;
    /** `lock_timeout` set for each step's statements. @default "10s" */
    ddlLockTimeout?: Duration;
    /**
     * Retries of a step that hit a transient fault (lock_timeout, serialization failure,
     * deadlock, connection terminated), with backoff and jitter. @default 5
     */
    retries?: number;
    /**
     * Stop gracefully before this much time has passed since the start (at the next
     * checkpoint), record `interrupted`, exit 143: a Kubernetes Job with
     * `activeDeadlineSeconds` is never killed mid-batch. `--deadline` overrides.
     * @default none
     */
    deadline?: Duration;
    /** How long cleanup may take after a stop (records, lock release). @default "10s" */
    cleanupDeadline?: Duration;
    /**
     * Run projection prefill steps (ZITADEL's `--init-projections`). `--init-projections` /
     * `--no-init-projections` and ZSETUP_INIT_PROJECTIONS override. Left out, `plan` still
     * shows them, as skipped with the reason. @default true
     */
    initProjections?: boolean;
    /**
     * Workers of one prefill step, each on a pool connection. @default pool max / 4, at
     * least 1, at most the number of instances (ZITADEL's rule)
     */
    prefillWorkers?: number;
  };
}

export interface DatabaseConfig {
  /**
   * PostgreSQL URL. Overridden by `ZSETUP_DATABASE_URL`.
   * @default unset: the embedded PGlite in `pglite.dataDir`
   */
  url?: string;
  pglite?: {
    /** Data directory, relative to the config file. @default ".zsetup/pglite" */
    dataDir?: string;
  };
  pool?: {
    /** Maximum open connections (the lock takes one more, outside the pool). @default 10 */
    max?: number;
    /** Close a connection idle this long. @default "5m" */
    idleTimeout?: Duration;
    /** Replace a connection older than this. @default "30m" */
    maxLifetime?: Duration;
    /** Keep retrying the first connection until this deadline (ZITADEL's AwaitInitialConn). @default "10s" */
    connectTimeout?: Duration;
  };
}

export type ConfigCommand = 'plan' | 'apply' | 'status' | 'cleanup' | 'baseline' | 'accept';
export type ConfigExport =
  | UserConfig
  | Promise<UserConfig>
  | ((env: { command: ConfigCommand }) => Awaitable<UserConfig>);

/**
 * Identity function that gives a config file its types.
 * @example
 * export default defineConfig({ steps: [step('01', { sql: 'SELECT 1' })] })
 */
export function defineConfig(config: UserConfig): UserConfig;
export function defineConfig(config: Promise<UserConfig>): Promise<UserConfig>;
export function defineConfig(config: (env: { command: ConfigCommand }) => Awaitable<UserConfig>): (env: { command: ConfigCommand }) => Awaitable<UserConfig>;
export function defineConfig(config: ConfigExport): ConfigExport {
  return config;
}

/**
 * The config after validation, defaults, environment and flags: complete and read-only.
 * Plugins get it from the container (`Tokens.Config`).
 */
export interface ResolvedConfig {
  /** Absolute path of the config file (or of package.json). */
  readonly file: string;
  /** The config file as shown in messages (relative to the working directory). */
  readonly displayFile: string;
  /** Folder of the config file: relative paths in the config resolve against it. */
  readonly dir: string;
  /** This invocation's owner id: `host:pid:run`. */
  readonly owner: string;
  readonly database: {
    readonly url: string | undefined;
    /** Where `url` came from, for messages: `ZSETUP_DATABASE_URL` or `database.url` (the config file). */
    readonly urlFrom?: string | undefined;
    readonly pglite: { readonly dataDir: string };
    readonly pool: { readonly max: number; readonly idleTimeoutMs: number; readonly maxLifetimeMs: number; readonly connectTimeoutMs: number };
  };
  readonly state: { readonly schema: string };
  readonly lock: {
    /** The lock kind's name (validated against `Tokens.LockKind` once the container is built). */
    readonly kind: string;
    /** Where `kind` came from, for messages: `lock.kind` or `ZSETUP_LOCK_KIND`; undefined when it is the default. */
    readonly kindFrom?: string | undefined;
    readonly timeoutMs: number;
    readonly leaseTtlMs: number;
    readonly name: string;
  };
  readonly apply: {
    readonly concurrency: number;
    readonly ddlLockTimeoutMs: number;
    readonly retries: number;
    /** Milliseconds from the start of the run; undefined: no deadline. */
    readonly deadlineMs: number | undefined;
    readonly cleanupDeadlineMs: number;
    /** Run projection prefill steps (`--init-projections`, the default; `--no-init-projections` leaves them out). */
    readonly initProjections: boolean;
    /** Workers of one prefill step (default: pool max / 4, at least 1, at most the number of instances). */
    readonly prefillWorkers?: number | undefined;
  };
  readonly plugins: readonly Plugin[];
  /** For each of `plugins`, its index in the config's own `plugins` array (for messages). */
  readonly pluginIndex?: readonly number[];
  readonly steps: readonly StepDefinition[];
  /** Values that must never appear in output (the database password). */
  readonly secrets: readonly string[];
}
