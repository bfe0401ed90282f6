#!/usr/bin/env node
// Build step (after tsc and scripts/vendor-knex.mjs): zsetup in one file, for start-up.
//
// Why: Node 20 loads each of dist/'s ~90 ES modules on its own (resolve, read, compile,
// link) and has no compile cache: that was ~90 ms of every `zsetup plan` on our 2-vCPU
// machine. One CommonJS bundle, compiled from a V8 code cache by its loader
// (scripts/zsetup-loader.cjs), is a fraction of that (bench/README.md, "Start-up").
//
// What it writes:
// - dist/zsetup.bundle.cjs: index.ts (the package: core and built-in plugins), src/plugin.ts,
//   src/testing/index.ts (loaded when first asked for) and the CLI, with commander, tsyringe
//   and reflect-metadata in it. Every other package stays a require of the installed one
//   (pg above all: a config that imports pg gets the pool's pg, as before).
// - dist/zsetup.cjs: the loader (code cache beside the bundle).
// - dist/cli.js, dist/index.js, dist/src/plugin.js, dist/src/testing/index.js, replacing
//   tsc's: each takes its exports from the one bundle instance, so the CLI, a config's
//   `import 'zsetup'` and a plugin's `import 'zsetup/plugin'` share tokens and classes as
//   they did. Their .d.ts files are tsc's and still describe them. The rest of tsc's dist/
//   stays (no entry point reaches it).
// - dist/zsetup.LICENSES.txt: the notices of the packages in the bundle.
//
// In the bundle, each of our files keeps its own `import.meta.url` (the file tsc wrote
// beside it in dist/), so relative paths (package.json, dist/vendor/knex.cjs, the config's
// self-alias) are what they were; an `import()` goes through the loader's.
import { build } from 'esbuild';
import { createHash } from 'node:crypto';
import { copyFileSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeLicenses } from './vendor.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
const bundleFile = join(dist, 'zsetup.bundle.cjs');
/** Packages our sources load with requireCjs() (src/cjs.ts) that go into the bundle. */
const BUNDLED = new Set(['commander', 'tsyringe', 'reflect-metadata']);
const ours = new RegExp(`^${root.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}[\\\\/](?:src|plugins)[\\\\/].*\\.ts$|^${root.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}[\\\\/](?:index|cli)\\.ts$`);

const result = await build({
  absWorkingDir: root,
  stdin: {
    resolveDir: root,
    loader: 'ts',
    sourcefile: 'zsetup-bundle-entry.ts',
    contents: `export * as index from './index.ts';
export * as plugin from './src/plugin.ts';
/** The zsetup command: runs cli.ts (parses process.argv, runs the command, exits). */
export function cli() {
  require('./cli.ts');
}
/**
 * zsetup/testing, loaded when asked for, with the uvu its entry point imported: the contract
 * suites are then suites of the uvu the tests that run them use (uvu's ES module build).
 */
export function testing(modules: Record<string, unknown>) {
  (globalThis as Record<symbol, unknown>)[Symbol.for('zsetup.testing.modules')] = modules;
  return require('./src/testing/index.ts');
}
`,
  },
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  outfile: bundleFile,
  logLevel: 'warning',
  legalComments: 'none',
  metafile: true,
  banner: { js: `const __zsetupUrl = (file) => require('node:url').pathToFileURL(require('node:path').join(__dirname, file)).href;` },
  plugins: [
    {
      name: 'zsetup-sources',
      setup(b) {
        // Our own files: bundled, with import.meta.url kept per file and the CommonJS
        // packages we bundle required by name (esbuild follows require, not requireCjs).
        b.onResolve({ filter: /^uvu(\/assert)?$/ }, (args) => ({ path: args.path, namespace: 'zsetup-testing' }));
        b.onResolve({ filter: /^[^./]/ }, (args) => {
          if (args.importer.includes(`${sep}node_modules${sep}`)) return undefined; // what a bundled package needs
          const pkg = args.path.startsWith('@') ? args.path.split('/').slice(0, 2).join('/') : args.path.split('/')[0];
          return BUNDLED.has(pkg) ? undefined : { path: args.path, external: true };
        });
        b.onLoad({ filter: /.*/, namespace: 'zsetup-testing' }, (args) => ({
          contents: `module.exports = globalThis[Symbol.for('zsetup.testing.modules')][${JSON.stringify(args.path)}];`,
          loader: 'js',
        }));
        b.onLoad({ filter: ours }, (args) => {
          let src = readFileSync(args.path, 'utf8');
          const file = relative(root, args.path).split(sep).join('/').replace(/\.ts$/, '.js');
          src = src.replaceAll('import.meta.url', `__zsetupUrl(${JSON.stringify(file)})`);
          src = src.replace(/\brequireCjs\('([^']+)'\)/g, (call, name) => (BUNDLED.has(name) ? `require('${name}')` : call));
          return { contents: src, loader: 'ts' };
        });
      },
    },
  ],
});

// import() in a vm.Script has no loader: every one goes through the loader's (a parameter).
let code = readFileSync(bundleFile, 'utf8').replace(/(^|[^\w$.])import\(/gm, '$1__zsetupImport(');
if (/(^|[^\w$.])import\(|import\.meta/m.test(code)) throw new Error('scripts/bundle.mjs: an import() or import.meta is left in the bundle');
code = `// zsetup bundle ${createHash('sha256').update(code).digest('hex').slice(0, 16)} (scripts/bundle.mjs)\n${code}`;
writeFileSync(bundleFile, code);
copyFileSync(join(root, 'scripts/zsetup-loader.cjs'), join(dist, 'zsetup.cjs'));
// Caches of earlier bundles are never read again.
for (const f of readdirSync(dist)) if (/^zsetup\.bundle\..*\.cache(\..*\.tmp)?$/.test(f)) rmSync(join(dist, f), { force: true });

// The entry points, from the one instance. Their export lists are the bundle's own.
const bundle = createRequire(import.meta.url)(join(dist, 'zsetup.cjs'));
function entry(file, what, expr, names, imports = '') {
  const loader = relative(dirname(join(dist, file)), join(dist, 'zsetup.cjs')).split(sep).join('/');
  const named = names.filter((n) => n !== 'default').sort();
  writeFileSync(
    join(dist, file),
    `// Generated by scripts/bundle.mjs: ${what} from the zsetup bundle (dist/zsetup.bundle.cjs), one instance for every entry point.\n` +
      `import { createRequire } from 'node:module';\n${imports}\n` +
      `const zsetup = createRequire(import.meta.url)('${loader.startsWith('.') ? loader : `./${loader}`}')${expr};\n` +
      `export const { ${named.join(', ')} } = zsetup;\n` +
      (names.includes('default') ? `export default zsetup.default;\n` : ''),
  );
  rmSync(join(dist, `${file}.map`), { force: true });
}
entry('index.js', 'the package (index.ts)', '.index', Object.keys(bundle.index));
entry('src/plugin.js', 'zsetup/plugin (src/plugin.ts)', '.plugin', Object.keys(bundle.plugin));
const uvu = { uvu: await import('uvu'), 'uvu/assert': await import('uvu/assert') };
// uvu is an optional peer dependency (only zsetup/testing runs it): imported here, where a
// missing one is told apart from any other failure and named, with what to install.
const uvuRange = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).peerDependencies.uvu;
const UVU_IMPORT = `let uvu, assert;
try {
  [uvu, assert] = await Promise.all([import('uvu'), import('uvu/assert')]);
} catch (err) {
  if (err?.code !== 'ERR_MODULE_NOT_FOUND' || !/['"]uvu['"]/.test(String(err.message))) throw err;
  throw new Error('zsetup/testing runs its contract suites with uvu, a peer dependency of zsetup that is not installed here: npm install --save-dev uvu@${uvuRange}', { cause: err });
}
`;
entry('src/testing/index.js', 'zsetup/testing (src/testing/index.ts)', ".testing({ uvu, 'uvu/assert': assert })", Object.keys(bundle.testing(uvu)), UVU_IMPORT);
writeFileSync(
  join(dist, 'cli.js'),
  `#!/usr/bin/env node\n// Generated by scripts/bundle.mjs: the zsetup command (cli.ts) from the zsetup bundle (dist/zsetup.bundle.cjs).\n` +
    `import { createRequire } from 'node:module';\n` +
    `// What a config's import of zsetup gets, read with this file instead of by an import() later.\n` +
    `import './index.js';\n\n` +
    `createRequire(import.meta.url)('./zsetup.cjs').cli();\n`,
);
rmSync(join(dist, 'cli.js.map'), { force: true });

writeLicenses({ root, metafile: result.metafile, bundle: 'dist/zsetup.bundle.cjs', by: 'scripts/bundle.mjs', file: join(dist, 'zsetup.LICENSES.txt') });
