import { createRequire } from 'node:module';
import { installedVersion, mainOf, registerMain, requireVendor } from './vendor.js';

const require = createRequire(import.meta.url);

interface Bundle {
  pg: typeof import('pg');
  types: unknown;
  version: string;
  typesVersion: string;
}

/**
 * `pg`, without making Node load its fetch implementation. pg 8 checks at load time whether
 * it runs in a Cloudflare Worker: `navigator.userAgent` if there is one, else
 * `typeof Response`, and on Node 20 (no `navigator`) that getter loads undici, about 20 ms
 * per process (measured; `plan` has 0.3 s in all). A `navigator` answers first for the
 * duration of the require only; Node 21+ has its own.
 *
 * From the one-file bundle the build makes (dist/vendor/pg.cjs: a third of the cost of
 * pg's ~40 files, measured) when it is exactly what the package would give: built from
 * the installed pg and pg-types, neither loaded yet in this process. It is then registered
 * as both packages' main module, so whoever requires or imports pg or pg-types afterwards
 * (knex, a config, a step) gets this same pg: one set of type parsers, as before.
 *
 * @internal Not in the published declarations (tsconfig `stripInternal`): its type is pg's,
 * whose declarations (@types/pg) a user of zsetup need not have.
 */
export function requirePg(): typeof import('pg') {
  const g = globalThis as { navigator?: unknown };
  if (g.navigator !== undefined) return bundled() ?? (require('pg') as typeof import('pg'));
  Object.defineProperty(g, 'navigator', { value: { userAgent: 'Node.js' }, configurable: true, writable: true });
  try {
    return bundled() ?? (require('pg') as typeof import('pg'));
  } finally {
    delete g.navigator;
  }
}

function bundled(): typeof import('pg') | undefined {
  if (process.env.ZSETUP_PG_BUNDLE === '0') return undefined;
  const pg = mainOf('pg');
  if (pg.loaded) return undefined; // loaded already: use that one
  const types = mainOf('pg-types', pg.main); // as pg resolves it
  if (types.loaded) return undefined;
  const b = requireVendor<Bundle>('../../vendor/pg.cjs');
  if (!b || b.version !== installedVersion('pg') || b.typesVersion !== installedVersion('pg-types', pg.main)) return undefined;
  registerMain(pg.main, b.pg);
  registerMain(types.main, b.types);
  return b.pg;
}
