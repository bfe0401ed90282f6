#!/usr/bin/env node
// Build step (after tsc): bundle knex (with knex-pglite) into one file, dist/vendor/knex.cjs.
//
// Why: knex 3 is 330 CommonJS files (250 of them single lodash functions). Node resolves,
// stats and reads each one: requiring knex cost ~120 ms per process on our 2-vCPU machine,
// the one bundle ~45 ms (bench/README.md, "start-up cost"). A step that uses `ctx.db` pays
// that once per process, and a resumed run is mostly start-up: it is the biggest share of
// the resume-cost bar after node itself.
//
// What is in it: knex's query builder, schema builder, transactions and the PostgreSQL
// dialect, plus knex-pglite (its PostgreSQL client subclass, loaded only when used). The
// other dialects stay requires of the installed knex package, drivers (pg, PGlite, ...)
// stay external: the bundle uses the same pg as the engine. plugins/pool falls back to
// `require('knex')` when this file is missing (a build that skipped this step).
import { build } from 'esbuild';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outfile = join(root, 'dist/vendor/knex.cjs');
const OTHER_DIALECTS = /^\.\/(better-sqlite3|cockroachdb|mssql|mysql|mariadb|mysql2|oracle|oracledb|pgnative|redshift|sqlite3)$/;

await build({
  absWorkingDir: root,
  stdin: {
    resolveDir: root,
    loader: 'js',
    sourcefile: 'vendor-knex-entry.cjs',
    contents: `exports.knex = require('knex');
Object.defineProperty(exports, 'ClientPgLite', { enumerable: true, get: () => require('knex-pglite') });
exports.version = require('knex/package.json').version;`,
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
