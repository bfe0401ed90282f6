/**
 * Lock kinds, registered like step kinds: each plugin registers a `LockKind` (a name and a
 * factory) under `Tokens.LockKind`; `lock.kind` (or `ZSETUP_LOCK_KIND`) chooses one, is
 * validated against what is registered once the container is built, and the built-in
 * `lock` plugin makes the run lock (`Tokens.Lock`) with `createLock`.
 */
import type { DependencyContainer } from 'tsyringe';
import type { ResolvedConfig } from '../config/dsl.js';
import { Tokens, resolveAllOrNone } from '../container.js';
import { ConfigError, causeChain, type ConfigProblem } from '../errors.js';
import { didYouMean } from '../plan/graph.js';
import type { Lock, LockKind } from './lock.js';

/**
 * The registered lock kinds by name (a later registration of a name replaces an earlier
 * one), and a problem for each registration that is not a lock kind.
 */
export function registeredLockKinds(c: DependencyContainer): { kinds: Map<string, LockKind>; problems: string[] } {
  const kinds = new Map<string, LockKind>();
  const problems: string[] = [];
  let registered: unknown[];
  try {
    registered = resolveAllOrNone(c, Tokens.LockKind);
  } catch (err) {
    return { kinds, problems: [`a plugin's lock kind could not be created: ${causeChain(err)}`] };
  }
  registered.forEach((k0, i) => {
    const k = k0 as Partial<LockKind> | null;
    const bad = [typeof k?.name === 'string' && k.name !== '' ? '' : 'a "name"', typeof k?.create === 'function' ? '' : 'create()'].filter(Boolean);
    if (bad.length > 0) problems.push(`lock kind #${i + 1} registered for Tokens.LockKind${typeof k?.name === 'string' ? ` ("${k.name}")` : ''} lacks ${bad.join(', ')}`);
    else kinds.set(k!.name!, k as LockKind);
  });
  return { kinds, problems };
}

/**
 * The problems of `lock.kind` against the registered kinds: an unknown name (with a
 * did-you-mean and the kinds there are), named by where it came from. A default kind is
 * not checked when a config plugin replaced the built-in `lock` plugin (that plugin's
 * `Tokens.Lock` need not read kinds at all).
 */
export function checkLockKind(config: ResolvedConfig, c: DependencyContainer, lockReplacedBy?: string): ConfigProblem[] {
  const { kinds, problems } = registeredLockKinds(c);
  const out = problems.map((message) => ({ file: config.displayFile, path: 'plugins', message }));
  const { kind, kindFrom } = config.lock;
  if (kinds.has(kind) || (kindFrom === undefined && lockReplacedBy !== undefined)) return out;
  const names = [...kinds.keys()].sort();
  const guess = didYouMean(kind, names);
  const known = names.length > 0 ? `the registered lock kinds are ${names.map((n) => `"${n}"`).join(', ')}` : 'no lock kind is registered';
  out.push({
    file: config.displayFile,
    path: kindFrom ?? 'lock.kind',
    message:
      kindFrom === undefined
        ? `no lock kind "${kind}" is registered (the default for ${config.database.url ? 'a PostgreSQL server' : 'the embedded PGlite'}); ${known}: set lock.kind, or add the plugin that provides it to plugins: [...]`
        : `unknown lock kind "${kind}"${guess ? ` (did you mean "${guess}"?)` : ''}: ${known}; add the plugin that provides it to plugins: [...]`,
  });
  return out;
}

/**
 * The run lock of the kind `config.lock.kind` names: what the built-in `lock` plugin
 * registers for `Tokens.Lock`. A kind that refuses the config (throws in `create`) is a
 * config error at `lock.kind`.
 * @example c.register(Tokens.Lock, { useFactory: instanceCachingFactory((dc) => createLock(dc, config)) })
 */
export function createLock(c: DependencyContainer, config: ResolvedConfig): Lock {
  const { kind, kindFrom } = config.lock;
  const problem = (message: string) => new ConfigError([{ file: config.displayFile, path: kindFrom ?? 'lock.kind', message }]);
  const k = registeredLockKinds(c).kinds.get(kind);
  if (!k) throw problem(`unknown lock kind "${kind}"`);
  try {
    return k.create(c, config);
  } catch (err) {
    throw problem(`the ${kind} lock cannot be used here: ${causeChain(err)}`);
  }
}
