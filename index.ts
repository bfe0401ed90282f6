/**
 * The package entry, `zsetup`: the composition root. The core (`src/`) knows no plugin;
 * here the built-in plugins are bound as the defaults every config starts with, and the
 * commands and `loadProject` are exported with them bound.
 *
 * @example
 * ```ts
 * import { apply } from 'zsetup';
 *
 * const r = await apply({ configFile: 'zitadel.setup.ts' });
 * if (r.status !== 'ok') process.exitCode = 1;
 * ```
 */
import * as core from './src/index.js';
import { defaultPlugins } from './plugins/index.js';

export * from './src/index.js';
export * from './plugins/index.js';

/** The options with the built-in plugins as defaults (unless the caller gave its own). */
function withDefaults<T extends { defaults?: readonly core.Plugin[] }>(options: T): T {
  return options.defaults ? options : { ...options, defaults: defaultPlugins() };
}

/** {@link core.plan} with the built-in plugins. */
export const plan = (options: core.BaseOptions = {}) => core.plan(withDefaults(options));
/** {@link core.apply} with the built-in plugins. */
export const apply = (options: core.ApplyOptions = {}) => core.apply(withDefaults(options));
/** {@link core.status} with the built-in plugins. */
export const status = (options: core.BaseOptions & { history?: boolean } = {}) => core.status(withDefaults(options));
/** {@link core.cleanup} with the built-in plugins. */
export const cleanup = (options: core.BaseOptions = {}) => core.cleanup(withDefaults(options));
/** {@link core.loadProject} with the built-in plugins. */
export const loadProject = (options: core.LoadOptions) => core.loadProject(withDefaults(options));
