#!/usr/bin/env node
// Build step (after tsc): bundle pg into one file, dist/vendor/pg.cjs, with the licences of
// what is in it beside it (dist/vendor/pg.LICENSES.txt).
//
// Why: pg is ~40 CommonJS files in 7 packages (pg, pg-pool, pg-protocol, pg-types and the
// parsers it uses, pgpass, pg-connection-string). Every command loads it: resolving,
// reading and compiling them one by one cost ~20 ms of `zsetup plan` on a quiet 2-vCPU
// machine, ~50 ms on a busy one; the one file a third of that (bench/README.md,
// "Start-up"). plugins/pool/pg.ts uses the bundle only when it was built from the installed
// pg and pg-types, and registers it as their main modules: whoever requires or imports pg
// (knex, a config, a step) gets this same pg, its types and parsers.
//
// Its dependencies are bundled as pg itself resolves them (from pg's folder). pg-native
// and pg-cloudflare, which pg loads only when asked for, stay requires of the installed ones.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildVendor } from './vendor.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pgDir = dirname(createRequire(join(root, 'package.json')).resolve('pg/package.json'));

await buildVendor({
  root,
  resolveDir: pgDir,
  sourcefile: 'vendor-pg-entry.cjs',
  contents: `exports.pg = require('pg');
exports.types = require('pg-types');
exports.version = require('pg/package.json').version;
exports.typesVersion = require('pg-types/package.json').version;`,
  outfile: join(root, 'dist/vendor/pg.cjs'),
  external: ['pg-native', 'pg-cloudflare'],
  by: 'scripts/vendor-pg.mjs',
});
