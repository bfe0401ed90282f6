/**
 * The one-file bundles the build makes of packages the pool loads (dist/vendor: knex by
 * scripts/vendor-knex.mjs, pg by scripts/vendor-pg.mjs), shared by ./knex.ts and ./pg.ts.
 */
import { createRequire, Module } from 'node:module';

const require = createRequire(import.meta.url);

/** The bundle `file` (relative to this file), or undefined when the build made none. */
export function requireVendor<T>(file: string): T | undefined {
  try {
    return require(file) as T;
  } catch (err) {
    // No bundle (a build that skipped the step): the package. Anything else is a real error.
    const first = String((err as Error)?.message).split('\n')[0]!;
    if ((err as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND' && first.includes(file.replace(/^(\.\.\/)+/, ''))) return undefined;
    throw err;
  }
}

/** The installed version of `name`, as `from` (a file) resolves it; undefined when it cannot tell. */
export function installedVersion(name: string, from?: string): string | undefined {
  try {
    const req = from ? createRequire(from) : require;
    return (req(`${name}/package.json`) as { version?: string }).version;
  } catch {
    return undefined;
  }
}

/** From now on `require(main)` (and `import`, which reads the same cache) gives `exports`. */
export function registerMain(main: string, exports: unknown): void {
  const m = new Module(main);
  m.filename = main;
  m.loaded = true;
  m.exports = exports;
  require.cache[main] = m;
}

/** Where `name` is, as `from` (a file; default: this one) resolves it, and whether it is loaded already. */
export function mainOf(name: string, from?: string): { main: string; loaded: boolean } {
  const main = (from ? createRequire(from) : require).resolve(name);
  return { main, loaded: require.cache[main] !== undefined };
}
