/**
 * `ctx.db` is knex from the one-file bundle the build makes (dist/vendor/knex.cjs), and it
 * is the same knex a config gets from `import 'knex'`, whichever comes first: a
 * `QueryBuilder.extend` made through the package applies to `ctx.db`.
 */
import * as assert from 'uvu/assert';
import { cli, HEADER, dbSuite, dir, type DbCtx } from '../helpers.js';

const t = dbSuite('knex');

const PROBE = `
import { createRequire } from 'node:module';
const cache = createRequire(process.cwd() + '/').cache;
const loadedFrom = () => ({
  bundle: Object.keys(cache).some((k) => k.endsWith('/dist/vendor/knex.cjs')),
  packageFiles: Object.keys(cache).filter((k) => /node_modules\\/knex\\/lib\\//.test(k)).length,
});`;

let runs = 0;

/** Apply a config whose one step first runs `before`, then logs where knex came from and whether the extension reached ctx.db. */
async function probe(ctx: DbCtx, top: string, before: string): Promise<{ bundle: boolean; packageFiles: number; marker: string }> {
  const d = dir(ctx, {
    'zsetup.config.ts': `${HEADER}${PROBE}
${top}
export default defineConfig({ state: { schema: 'zs_knex${++runs}' }, steps: [
  step('01', { run: async (ctx) => {
    ${before}
    const qb = ctx.db('pg_class') as any;
    ctx.log('probe ' + JSON.stringify({ ...loadedFrom(), marker: typeof qb.zsMarker === 'function' ? qb.zsMarker() : 'missing' }));
  } }),
] });`,
  });
  const r = await cli(['apply'], { cwd: d.dir, url: ctx.db.url });
  assert.is(r.code, 0, r.stdout + r.stderr);
  return JSON.parse(/probe (\{.*\})/.exec(r.stdout)?.[1] ?? '{}');
}

const EXTEND = `QueryBuilder.extend('zsMarker', function () { return 'extended'; });`;

t('ctx.db comes from the bundle; a knex imported later is the same knex (QueryBuilder.extend reaches ctx.db)', async (ctx) => {
  const p = await probe(ctx, '', `await ctx.db.raw('SELECT 1');
    const knex = (await import('knex')).default as any;
    knex.${EXTEND}`);
  assert.equal(p, { bundle: true, packageFiles: 0, marker: 'extended' });
});

t('a config that imports knex itself first: ctx.db uses that same knex, not a second copy', async (ctx) => {
  const p = await probe(ctx, `import knex from 'knex';\n(knex as any).${EXTEND}`, '');
  assert.is(p.bundle, false, 'the package was loaded first: no bundle');
  assert.ok(p.packageFiles > 0);
  assert.is(p.marker, 'extended');
});

t.run();
