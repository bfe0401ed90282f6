#!/usr/bin/env node
// Build step (after tsc): bundle knex (with knex-pglite) into one file, dist/vendor/knex.cjs,
// with the licences of what is in it beside it (dist/vendor/knex.LICENSES.txt).
//
// Why: knex 3 is 330 CommonJS files (250 of them single lodash functions). Node resolves,
// stats and reads each one: requiring knex cost ~120 ms per process on our 2-vCPU machine,
// the one bundle ~30 ms (bench/README.md, interrupt figures). A step that uses `ctx.db`
// pays that once per process, and a resumed run is mostly start-up: it was the biggest
// share of the resume-cost bar after node itself. plugins/pool/knex.ts uses the bundle only
// when it was built from the installed knex and knex-pglite versions.
//
// What is in it: knex's query builder, schema builder, transactions and the PostgreSQL
// dialect, plus knex-pglite (its PostgreSQL client subclass, loaded only when used). The
// other dialects stay requires of the installed knex package, drivers (pg, PGlite, ...)
// stay external: the bundle uses the same pg as the engine. plugins/pool falls back to
// `require('knex')` when this file is missing (a build that skipped this step).
import { build } from 'esbuild';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outfile = join(root, 'dist/vendor/knex.cjs');
const OTHER_DIALECTS = /^\.\/(better-sqlite3|cockroachdb|mssql|mysql|mariadb|mysql2|oracle|oracledb|pgnative|redshift|sqlite3)$/;

const result = await build({
  metafile: true,
  absWorkingDir: root,
  stdin: {
    resolveDir: root,
    loader: 'js',
    sourcefile: 'vendor-knex-entry.cjs',
    contents: `exports.knex = require('knex');
Object.defineProperty(exports, 'ClientPgLite', { enumerable: true, get: () => require('knex-pglite') });
exports.version = require('knex/package.json').version;
exports.pgliteVersion = require('knex-pglite/package.json').version;`,
  },
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  outfile,
  logLevel: 'warning',
  legalComments: 'eof',
  external: ['pg', 'pg-native', 'pg-query-stream', '@electric-sql/pglite', 'sqlite3', 'better-sqlite3', 'mysql', 'mysql2', 'mariadb', 'oracledb', 'tedious'],
  plugins: [
    {
      name: 'other-dialects-from-the-package',
      setup(b) {
        b.onResolve({ filter: OTHER_DIALECTS }, (args) =>
          /[\\/]knex[\\/]lib[\\/]dialects$/.test(args.resolveDir) ? { path: `knex/lib/dialects/${args.path.slice(2)}/index.js`, external: true } : undefined,
        );
      },
    },
  ],
});

// The licences (MIT, ISC) ask that their notices go with every copy: one file, per package.
const packages = new Map();
const dirs = new Set(Object.keys(result.metafile.inputs).map((input) => /^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//.exec(input)?.[1]));
for (const d of dirs) {
  if (d === undefined) continue;
  const dir = join(root, d);
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  if (packages.has(pkg.name)) continue;
  const file = readdirSync(dir).find((f) => /^(licen[cs]e|copying)(\.|$)/i.test(f));
  packages.set(pkg.name, `${pkg.name}@${pkg.version} (${pkg.license ?? 'see package'})\n\n${file ? readFileSync(join(dir, file), 'utf8').trim() : `(no licence file in the package; its package.json says ${pkg.license})`}`);
}
writeFileSync(
  join(root, 'dist/vendor/knex.LICENSES.txt'),
  `dist/vendor/knex.cjs bundles these packages, built by scripts/vendor-knex.mjs:\n\n${[...packages.keys()].sort().map((k) => `${'='.repeat(78)}\n${packages.get(k)}\n`).join('\n')}`,
);
