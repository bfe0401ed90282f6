/**
 * Where `db.knex` comes from: the one-file bundle the build makes (scripts/vendor-knex.mjs:
 * ~30 ms to load instead of ~120 ms for knex's 330 files, measured), or the installed
 * package. The bundle is used only when it is exactly what the package would give:
 *
 * - built from the installed versions of knex and knex-pglite (after `npm update knex`
 *   or an audit fix, the package is what runs, not an older copy);
 * - knex not loaded yet in this process (a config or plugin that imported knex itself
 *   gets the same knex as `ctx.db`, so `QueryBuilder.extend` and `instanceof` hold).
 *
 * Once the bundle is loaded it is registered as the knex package's main module, so a
 * later `require('knex')` or `import 'knex'` returns it too.
 */
import { createRequire } from 'node:module';
import type { Knex } from 'knex';
import { installedVersion, mainOf, registerMain, requireVendor } from './vendor.js';

const require = createRequire(import.meta.url);

export interface KnexModules {
  knex: typeof import('knex').knex;
  ClientPgLite: typeof Knex.Client;
}

interface Bundle extends KnexModules {
  version: string;
  pgliteVersion: string;
}

let loaded: KnexModules | undefined;

export function knexModules(): KnexModules {
  loaded ??= bundled() ?? {
    knex: require('knex') as typeof import('knex').knex,
    get ClientPgLite() {
      return require('knex-pglite') as typeof Knex.Client;
    },
  };
  return loaded;
}

function bundled(): KnexModules | undefined {
  if (process.env.ZSETUP_KNEX_BUNDLE === '0') return undefined;
  const { main, loaded } = mainOf('knex');
  if (loaded) return undefined; // loaded already: use that one
  const b = requireVendor<Bundle>('../../vendor/knex.cjs');
  if (!b || b.version !== installedVersion('knex') || b.pgliteVersion !== installedVersion('knex-pglite')) return undefined;
  registerMain(main, b.knex);
  return b;
}
