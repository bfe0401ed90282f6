/**
 * Typed tokens and the per-invocation container. Providers are registered with
 * `useValue` / `useFactory` and read with explicit `c.resolve(TOKEN)`: esbuild/tsx,
 * which load configs and run tests, emit no decorator metadata.
 */
import type { DependencyContainer, InjectionToken } from 'tsyringe';
import { requireCjs } from './cjs.js';
import type { StepKind, Plugin } from './config/dsl.js';
import type { ResolvedConfig } from './config/resolve.js';
import type { Database } from './db.js';
import type { StateStore } from './state/store.js';
import type { Lock } from './lock/lock.js';
import type { EngineEvents, Hooks } from './engine/events.js';
import { ConfigError } from './errors.js';

function token<T>(description: string): InjectionToken<T> {
  return Symbol(description) as InjectionToken<T>;
}

/** The tokens plugins register and resolve. */
export const Tokens = {
  /** The resolved config (read-only). */
  Config: token<ResolvedConfig>('zsetup.Config'),
  /** The only pool: a `Database` (knex plus raw access). Registered by the `pool` plugin. */
  Database: token<Database>('zsetup.Database'),
  /** Where step state is recorded. Default: the journal store. */
  StateStore: token<StateStore>('zsetup.StateStore'),
  /** The run-wide lock. Default: advisory lock (PostgreSQL) or data-dir lock (PGlite). */
  Lock: token<Lock>('zsetup.Lock'),
  /** Step kinds; many, read with `resolveAll`. */
  StepKind: token<StepKind<any>>('zsetup.StepKind'),
  /** Hooks and event subscribers; many, read with `resolveAll`. */
  Hooks: token<Hooks>('zsetup.Hooks'),
  /** The engine's event bus of this invocation. */
  Events: token<EngineEvents>('zsetup.Events'),
} as const;

const tsyringe = requireCjs('tsyringe') as typeof import('tsyringe');
const rootContainer = tsyringe.container;

/** tsyringe's `instanceCachingFactory`: one instance per container, created on first resolve. */
export const instanceCachingFactory: typeof import('tsyringe').instanceCachingFactory = tsyringe.instanceCachingFactory;

/**
 * One container per invocation: a child of tsyringe's root, so nothing leaks between
 * invocations (or tests). Plugins register in order; a later registration of a
 * single-valued token (StateStore, Lock, Database) replaces an earlier one.
 */
export function buildContainer(config: ResolvedConfig, builtins: readonly Plugin[], plugins: readonly Plugin[], events: EngineEvents): DependencyContainer {
  const c = rootContainer.createChildContainer();
  c.register(Tokens.Config, { useValue: config });
  c.register(Tokens.Events, { useValue: events });
  const problems = [];
  const all = [...builtins.map((p) => ({ p, path: `built-in plugin ${p.name}` })), ...plugins.map((p, i) => ({ p, path: `plugins[${i}]` }))];
  for (const { p, path } of all) {
    try {
      p.register(c, config);
    } catch (err) {
      problems.push({ file: config.displayFile, path, message: `plugin "${p.name}" failed to register: ${(err as Error)?.message ?? String(err)}` });
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return c;
}

/** All registrations of a multi-valued token, or none. */
export function resolveAllOrNone<T>(c: DependencyContainer, t: InjectionToken<T>): T[] {
  return c.isRegistered(t, true) ? c.resolveAll(t) : [];
}
