import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/**
 * `pg`, without making Node load its fetch implementation. pg 8 checks at load time whether
 * it runs in a Cloudflare Worker: `navigator.userAgent` if there is one, else
 * `typeof Response`, and on Node 20 (no `navigator`) that getter loads undici, about 20 ms
 * per process (measured; `plan` has 0.3 s in all). A `navigator` answers first for the
 * duration of the require only; Node 21+ has its own.
 */
export function requirePg(): typeof import('pg') {
  const g = globalThis as { navigator?: unknown };
  if (g.navigator !== undefined) return require('pg') as typeof import('pg');
  Object.defineProperty(g, 'navigator', { value: { userAgent: 'Node.js' }, configurable: true, writable: true });
  try {
    return require('pg') as typeof import('pg');
  } finally {
    delete g.navigator;
  }
}
