'use strict';
// dist/zsetup.cjs (copied from scripts/zsetup-loader.cjs by scripts/bundle.mjs): loads the
// one-file bundle of zsetup, dist/zsetup.bundle.cjs, through vm.Script with a V8 code cache
// beside it, so that a run compiles from the cache what an earlier run compiled (Node 20 has
// no module.enableCompileCache). Every entry point (dist/cli.js, dist/index.js,
// dist/src/plugin.js, dist/src/testing/index.js) requires this file: one instance for all.
//
// The cache:
// - One file per bundle content (its hash is the bundle's first line), V8 version, arch and
//   set of Node options (V8 takes a cache only from the same version and flags; a cache of
//   another set is rejected and would be rewritten by every other run).
// - Written by the CLI at exit when there is none yet, when V8 rejected it, or when this
//   command (plan, apply, status, cleanup) had not been run with it yet: the cache then holds
//   what the earlier runs compiled and what this one did. Programs that import zsetup read
//   it, never write it.
// - Written to a file of its own, then renamed over the cache (atomic): a concurrent reader
//   reads a whole cache or none. A dist/ that cannot be written has no cache; nothing fails.
// - ZSETUP_CODE_CACHE=0: no cache (read or written).
const fs = require('node:fs');
const path = require('node:path');
const vm = require('node:vm');
const Module = require('node:module');

const bundleFile = path.join(__dirname, 'zsetup.bundle.cjs');
const source = fs.readFileSync(bundleFile, 'utf8');
const useCache = process.env.ZSETUP_CODE_CACHE !== '0';

/** FNV-1a, 32 bits, hex: a short name for a set of options. */
function fnv(text) {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h.toString(16).padStart(8, '0');
}

const bundleHash = /^\/\/ zsetup bundle ([0-9a-f]{16})/.exec(source)?.[1] ?? fnv(source);
const flags = fnv(`${process.execArgv.join(' ')}\0${process.env.NODE_OPTIONS ?? ''}`);
const cacheFile = path.join(__dirname, `zsetup.bundle.${bundleHash}.v8-${process.versions.v8}-${process.arch}-${flags}.cache`);

/** The cache: the commands it was made by (a JSON line) and V8's data after it. */
function readCache() {
  let buf;
  try {
    buf = fs.readFileSync(cacheFile);
  } catch {
    return undefined;
  }
  const nl = buf.indexOf(10);
  try {
    const header = JSON.parse(buf.subarray(0, nl).toString('utf8'));
    if (!Array.isArray(header.commands)) return undefined;
    return { commands: header.commands, data: buf.subarray(nl + 1) };
  } catch {
    return undefined;
  }
}

/** The command when this process is the zsetup CLI (dist/cli.js), else undefined. */
function cliCommand() {
  const main = process.argv[1];
  if (main === undefined) return undefined;
  let real;
  try {
    real = fs.realpathSync(main);
  } catch {
    return undefined;
  }
  if (real !== path.join(__dirname, 'cli.js')) return undefined;
  const command = process.argv.slice(2).find((a) => !a.startsWith('-'));
  return ['plan', 'apply', 'status', 'cleanup'].includes(command) ? command : 'other';
}

const cache = useCache ? readCache() : undefined;
const script = new vm.Script(`(function (exports, require, module, __filename, __dirname, __zsetupImport) {${source}\n})`, {
  filename: bundleFile,
  cachedData: cache?.data,
});

const command = useCache ? cliCommand() : undefined;
if (command !== undefined && (cache === undefined || script.cachedDataRejected || !cache.commands.includes(command))) {
  const commands = [...new Set([...(cache && !script.cachedDataRejected ? cache.commands : []), command])];
  process.once('exit', () => {
    const tmp = `${cacheFile}.${process.pid}.tmp`;
    try {
      fs.writeFileSync(tmp, Buffer.concat([Buffer.from(`${JSON.stringify({ commands })}\n`), script.createCachedData()]));
      fs.renameSync(tmp, cacheFile);
    } catch {
      try {
        fs.unlinkSync(tmp);
      } catch {
        // nothing was written
      }
    }
  });
}

const bundle = new Module(bundleFile, module);
bundle.filename = bundleFile;
bundle.paths = Module._nodeModulePaths(__dirname);
const req = Module.createRequire(bundleFile);
// import() from this file: a vm.Script has no module loader of its own for import().
script.runInThisContext().call(bundle.exports, bundle.exports, req, bundle, bundleFile, __dirname, (specifier) => import(specifier));
bundle.loaded = true;
module.exports = bundle.exports;
