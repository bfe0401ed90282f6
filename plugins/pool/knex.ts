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
import { createRequire, Module } from 'node:module';
import type { Knex } from 'knex';

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
  let main: string;
  try {
    main = require.resolve('knex');
    if (require.cache[main]) return undefined; // loaded already: use that one
    const b = require('../../vendor/knex.cjs') as Bundle;
    const installed = (name: string) => (require(`${name}/package.json`) as { version: string }).version;
    if (b.version !== installed('knex') || b.pgliteVersion !== installed('knex-pglite')) return undefined;
    const m = new Module(main);
    m.filename = main;
    m.loaded = true;
    m.exports = b.knex;
    require.cache[main] = m;
    return b;
  } catch (err) {
    // No bundle (a build that skipped the step): the package. Anything else is a real error.
    const first = String((err as Error)?.message).split('\n')[0]!;
    if ((err as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND' && first.includes('vendor/knex.cjs')) return undefined;
    throw err;
  }
}
