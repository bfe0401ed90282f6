/**
 * CommonJS packages are loaded with `require`, not `import`: importing a CommonJS file
 * from ESM makes Node scan its source for named exports first, which cost about 90 ms
 * per process for reflect-metadata, tsyringe, commander, cosmiconfig and jiti together
 * (measured on this project's 2-vCPU machine). `zsetup plan` has 0.3 s in all.
 */
import { createRequire } from 'node:module';

export const requireCjs = createRequire(import.meta.url);

// tsyringe throws at load time without the Reflect polyfill: load it first, once.
requireCjs('reflect-metadata');

/**
 * `pg`, without making Node load its fetch implementation. pg 8 checks at load time whether
 * it runs in a Cloudflare Worker: `navigator.userAgent` if there is one, else
 * `typeof Response`, and on Node 20 (no `navigator`) that getter loads undici, about 20 ms
 * per process (measured; `plan` has 0.3 s in all). A `navigator` answers first for the
 * duration of the require only; Node 21+ has its own.
 */
export function requirePg(): typeof import('pg') {
  const g = globalThis as { navigator?: unknown };
  if (g.navigator !== undefined) return requireCjs('pg') as typeof import('pg');
  Object.defineProperty(g, 'navigator', { value: { userAgent: 'Node.js' }, configurable: true, writable: true });
  try {
    return requireCjs('pg') as typeof import('pg');
  } finally {
    delete g.navigator;
  }
}
