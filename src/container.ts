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
import type { Lock, LockKind } from './lock/lock.js';
import type { EngineEvents, Hooks } from './engine/events.js';
import { ConfigError, causeChain, type ConfigProblem } from './errors.js';

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
  /**
   * The run-wide lock. Default (the `lock` plugin): the registered lock kind `lock.kind`
   * names (advisory lock on PostgreSQL, data-dir lock on PGlite).
   */
  Lock: token<Lock>('zsetup.Lock'),
  /** Lock kinds `lock.kind` chooses from; many, read with `resolveAll`. */
  LockKind: token<LockKind>('zsetup.LockKind'),
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

/** Who registered what: a plugin's label (`plugins[2]` or `built-in plugin pool`) per token. */
export interface Registrations {
  /** The plugin that last registered each token, as a label for messages. */
  readonly providers: Map<InjectionToken<unknown>, { label: string; name: string }>;
  /** Built-in plugins left out because a config plugin of the same name replaces them. */
  readonly replaced: Map<string, string>;
}

/** The contracts every run needs, with the built-in plugin that provides each. */
export const REQUIRED_CONTRACTS: ReadonlyArray<{ token: InjectionToken<unknown>; name: string; builtin: string; methods: readonly string[] }> = [
  { token: Tokens.Database, name: 'Tokens.Database', builtin: 'pool', methods: ['connect', 'withSession', 'close'] },
  { token: Tokens.StateStore, name: 'Tokens.StateStore', builtin: 'journal', methods: ['init', 'load', 'history', 'record', 'recordStatement', 'checkpointStatement'] },
  { token: Tokens.Lock, name: 'Tokens.Lock', builtin: 'lock', methods: ['acquire', 'holder'] },
];

/**
 * One container per invocation: a child of tsyringe's root, so nothing leaks between
 * invocations (or tests). Plugins register in order; a later registration of a
 * single-valued token (StateStore, Lock, Database) replaces an earlier one. A plugin whose
 * `register()` throws is one more problem (with its index in the config), never the end of
 * validation: every problem is reported at once.
 */
export function buildContainer(
  config: ResolvedConfig,
  builtins: readonly Plugin[],
  plugins: readonly Plugin[],
  events: EngineEvents,
  replaced: ReadonlyMap<string, string> = new Map(),
): { container: DependencyContainer; problems: ConfigProblem[]; registrations: Registrations; settled?: Promise<void> | undefined } {
  const c = rootContainer.createChildContainer();
  c.register(Tokens.Config, { useValue: config });
  c.register(Tokens.Events, { useValue: events });
  const problems: ConfigProblem[] = [];
  const later: Promise<void>[] = [];
  const providers = new Map<InjectionToken<unknown>, { label: string; name: string }>();
  const nameOf = (p: Plugin) => {
    try {
      return String(p.name);
    } catch {
      return '?';
    }
  };
  const all = [
    ...builtins.map((p) => ({ p, path: `built-in plugin ${nameOf(p)}` })),
    ...plugins.map((p, i) => ({ p, path: `plugins[${config.pluginIndex?.[i] ?? i}]` })),
  ];
  for (const { p, path } of all) {
    const name = nameOf(p);
    // What this plugin registers, so a missing or broken contract names its provider.
    const tracked = new Proxy(c, {
      get(target, prop, receiver) {
        const v = Reflect.get(target, prop, receiver) as unknown;
        if (prop === 'register' && typeof v === 'function') {
          return (token: InjectionToken<unknown>, ...rest: unknown[]) => {
            providers.set(token, { label: path, name });
            return (v as (...a: unknown[]) => unknown).call(target, token, ...rest);
          };
        }
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
    try {
      const r = p.register(tracked, config) as unknown;
      if (r !== null && typeof r === 'object' && typeof (r as { then?: unknown }).then === 'function') {
        // Registration is synchronous: what it would do later cannot be waited for.
        const problem = {
          file: config.displayFile,
          path,
          message: `plugin "${name}": register() returned a promise; it must register synchronously (do asynchronous work in a useFactory provider, or in a step)`,
        };
        problems.push(problem);
        // Say why it failed too, when it rejects at once (loadProject waits a moment for it).
        later.push(
          Promise.resolve(r).then(
            () => undefined,
            (err: unknown) => {
              problem.message += `; it rejected: ${causeChain(err)}`;
            },
          ),
        );
      }
    } catch (err) {
      problems.push({ file: config.displayFile, path, message: `plugin "${name}" failed to register: ${causeChain(err)}` });
    }
  }
  // A plugin that replaces a built-in must provide what the built-in did.
  for (const r of REQUIRED_CONTRACTS) {
    if (c.isRegistered(r.token, true)) continue;
    const by = replaced.get(r.builtin);
    problems.push({
      file: config.displayFile,
      path: by ? `${by} (plugin "${r.builtin}")` : 'plugins',
      message: by
        ? `replaces the built-in plugin "${r.builtin}" but registers nothing for ${r.name}: register one in register() (c.register(${r.name}, { useFactory: ... })), or remove it from plugins to keep the built-in`
        : `nothing is registered for ${r.name} (the built-in plugin "${r.builtin}" provides it)`,
    });
  }
  return { container: c, problems, registrations: { providers, replaced: new Map(replaced) }, settled: later.length ? Promise.allSettled(later).then(() => undefined) : undefined };
}

/**
 * Resolve one of the required contracts and check its shape, so that a plugin's broken
 * factory or a value of the wrong shape is a config error naming the plugin and the
 * token (exit 2), not a TypeError deep in a run.
 */
export function resolveContract<T>(c: DependencyContainer, token: InjectionToken<T>, registrations: Registrations | undefined, file: string): T {
  const spec = REQUIRED_CONTRACTS.find((r) => r.token === token);
  const by = registrations?.providers.get(token as InjectionToken<unknown>);
  const where = by ? `${by.label} (plugin "${by.name}")` : 'plugins';
  const name = spec?.name ?? String(token);
  let value: T;
  try {
    value = c.resolve(token);
  } catch (err) {
    // Already placed (a lock kind that refuses the config names lock.kind).
    if (err instanceof ConfigError) throw err;
    throw new ConfigError([{ file, path: where, message: `could not provide ${name}: ${causeChain(err)}` }]);
  }
  const missing = (spec?.methods ?? []).filter((m) => typeof (value as Record<string, unknown> | null)?.[m] !== 'function');
  if (missing.length > 0) {
    throw new ConfigError([{ file, path: where, message: `registered for ${name} a value that is not one: it lacks ${missing.map((m) => `${m}()`).join(', ')}` }]);
  }
  return value;
}

/** All registrations of a multi-valued token, or none. */
export function resolveAllOrNone<T>(c: DependencyContainer, t: InjectionToken<T>): T[] {
  return c.isRegistered(t, true) ? c.resolveAll(t) : [];
}
