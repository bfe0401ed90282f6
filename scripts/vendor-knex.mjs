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
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildVendor } from './vendor.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outfile = join(root, 'dist/vendor/knex.cjs');
const OTHER_DIALECTS = /^\.\/(better-sqlite3|cockroachdb|mssql|mysql|mariadb|mysql2|oracle|oracledb|pgnative|redshift|sqlite3)$/;

await buildVendor({
  root,
  resolveDir: root,
  sourcefile: 'vendor-knex-entry.cjs',
  contents: `exports.knex = require('knex');
Object.defineProperty(exports, 'ClientPgLite', { enumerable: true, get: () => require('knex-pglite') });
exports.version = require('knex/package.json').version;
exports.pgliteVersion = require('knex-pglite/package.json').version;`,
  outfile,
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
  by: 'scripts/vendor-knex.mjs',
});
