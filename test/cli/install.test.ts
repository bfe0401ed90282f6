/**
 * The package as a user gets it: `npm pack`, the tarball installed into a project of its
 * own outside this repository (no node_modules above it to lend it packages or types),
 * offline. In that project:
 * - the tarball holds what it should (no tests, no source maps, every entry point);
 * - `tsc` with `"strict": true` and no `skipLibCheck` (module NodeNext, and bundler)
 *   accepts a config using defineConfig, step, repeatable, file and prefill with a small
 *   plugin typed by `zsetup/plugin`, and every declaration file the package publishes,
 *   with only the package's dependencies and @types/node installed (no @types/pg);
 * - `node_modules/.bin/zsetup` runs (`--version`, and an `apply` against PostgreSQL) with
 *   only the dependencies installed: uvu, an optional peer dependency, is not, and
 *   `zsetup/testing` says so and what to install;
 * - with uvu installed, `zsetup/testing` loads and its types check.
 *
 * Offline: the project gets a package-lock.json made from this repository's (the packages
 * `npm ci` installed here, so their tarballs are in npm's cache by their integrity): npm
 * installs from it without asking the registry anything. TypeScript is this repository's.
 */
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { ROOT, dbSuite } from '../helpers.js';

const t = dbSuite('install');

const TSC = join(ROOT, 'node_modules/typescript/bin/tsc');
/** Generous: npm and tsc are slow on a loaded 2-vCPU machine. */
const TIMEOUT_MS = 150_000;
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));

interface Run {
  code: number | null;
  out: string;
}

/** Run a command to completion; `out` is its stdout and stderr. */
function run(cmd: string, args: string[], cwd: string, env: Record<string, string> = {}): Promise<Run> {
  // Not the npm_* variables of an `npm test` around us: they would point npm at this repository.
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k) && k !== 'ZSETUP_DATABASE_URL'));
  const child = spawn(cmd, args, { cwd, env: { ...base, FORCE_COLOR: '0', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), TIMEOUT_MS);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

type LockEntry = Record<string, unknown> & { dependencies?: Record<string, string>; optionalDependencies?: Record<string, string>; peerDependencies?: Record<string, string>; peerDependenciesMeta?: Record<string, { optional?: boolean }> };

/**
 * The entries of this repository's package-lock.json that `deps` need, at the same paths
 * (Node's resolution: the nearest node_modules up from the dependent). Optional peers are
 * left out, as npm leaves them out.
 */
function lockEntries(deps: Record<string, string>): Record<string, LockEntry> {
  const packages = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')).packages as Record<string, LockEntry>;
  const out: Record<string, LockEntry> = {};
  const find = (from: string, name: string): string | undefined => {
    for (let p = from; ; ) {
      const at = `${p ? `${p}/` : ''}node_modules/${name}`;
      if (packages[at]) return at;
      if (!p) return undefined;
      const i = p.lastIndexOf('/node_modules/');
      p = i < 0 ? '' : p.slice(0, i);
    }
  };
  const add = (from: string, names: string[], optional: boolean) => {
    for (const name of names) {
      const at = find(from, name);
      if (!at) {
        if (optional) continue;
        throw new Error(`${name} (needed by ${from || 'the project'}) is not in package-lock.json`);
      }
      if (out[at]) continue;
      const { dev: _d, devOptional: _o, peer: _p, ...entry } = packages[at]!;
      out[at] = entry;
      add(at, Object.keys(entry.dependencies ?? {}), false);
      add(at, Object.keys(entry.optionalDependencies ?? {}), true);
      add(at, Object.keys(entry.peerDependencies ?? {}).filter((n) => !entry.peerDependenciesMeta?.[n]?.optional), false);
    }
  };
  add('', Object.keys(deps), false);
  return out;
}

/** package.json and package-lock.json of the user's project: zsetup from the tarball, and `dev`. */
function writeProject(dir: string, tarball: string, dev: Record<string, string>): void {
  const root = { dependencies: { zsetup: `file:${relative(dir, tarball)}` }, devDependencies: dev };
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'zsetup-user', private: true, type: 'module', ...root }, null, 2));
  const packages = { '': { name: 'zsetup-user', ...root }, ...lockEntries({ ...pkg.dependencies, ...dev }) };
  writeFileSync(join(dir, 'package-lock.json'), JSON.stringify({ name: 'zsetup-user', lockfileVersion: 3, requires: true, packages }, null, 2));
}

/** `npm install --offline` from the lock file; ENOTCACHED: npm's cache lacks a tarball (`npm ci` online once fills it). */
async function npmInstall(dir: string): Promise<void> {
  const r = await run('npm', ['install', '--offline', '--no-audit', '--no-fund'], dir);
  const hint = /ENOTCACHED/.test(r.out) ? "\n(npm's cache lacks a package of package-lock.json: run `npm ci` once with the network)" : '';
  assert.is(r.code, 0, `npm install --offline:\n${r.out}${hint}`);
}

const PLUGIN = `import { Tokens, type Hooks, type Plugin, type StepDefinition, type StepKind } from 'zsetup/plugin';

export interface SeedStep extends StepDefinition {
  readonly table: string;
  readonly rows: readonly Record<string, unknown>[];
}

export function seed(name: string, o: { table: string; rows: Record<string, unknown>[]; after?: string[] }): SeedStep {
  return { kind: 'seed', name, ...o };
}

const seedKind: StepKind<SeedStep> = {
  kind: 'seed',
  fields: { table: 'a table name', rows: 'the rows to insert' },
  traits: { transaction: 'always', resumable: 'never', repeatable: true },
  prepare(def, ctx) {
    if (def.rows.length === 0) ctx.problem('rows', 'expected rows');
    return { source: JSON.stringify(def.rows) };
  },
  async run(def, ctx) {
    await ctx.db(def.table).insert([...def.rows]);
    const [n] = await ctx.query<{ n: number }>(\`SELECT count(*)::int AS n FROM \${def.table}\`);
    ctx.log(\`\${n?.n ?? 0} rows in \${def.table}\`);
  },
};

export function seedPlugin(): Plugin {
  const hooks: Hooks = { onEvent: (e) => void e.type };
  return {
    name: 'seed',
    register(c) {
      c.register(Tokens.StepKind, { useValue: seedKind });
      c.register(Tokens.Hooks, { useValue: hooks });
    },
  };
}
`;

const CONFIG = `import { defineConfig, step, repeatable, prefill, file, type ProjectionSpec } from 'zsetup';
import { seed, seedPlugin } from './seed-plugin.js';

const things: ProjectionSpec = {
  name: 'projections.things',
  tables: [{ name: 'projections.things', columns: [{ name: 'id', type: 'text' }, { name: 'n', type: 'bigint', default: '0' }], primaryKey: ['id'] }],
  reducers: { thing: { 'thing.added': (e) => ({ op: 'insert', table: 'projections.things', row: { id: e.aggregateId, n: e.sequence } }) } },
};
const domain = process.env.EXTERNAL_DOMAIN ?? 'localhost';

export default defineConfig({
  plugins: [seedPlugin()],
  steps: [
    step('01_table', { sql: 'CREATE TABLE t (id int PRIMARY KEY, name text NOT NULL)' }),
    step('02_function', { run: async (ctx) => { await ctx.db('t').insert({ id: 1, name: ctx.name }); } }),
    repeatable('03_domain', { lastRun: () => ({ domain }), check: (last) => last?.domain !== domain, sql: 'SELECT 1' }),
    step('04_file', { sql: file('04_file.sql') }),
    seed('05_seed', { table: 't', rows: [{ id: 3, name: 'seeded' }] }),
    prefill(things),
  ],
});
`;

const CONTRACT = `import { lockContract, type LockFixture } from 'zsetup/testing';
import type { Lock } from 'zsetup/plugin';

declare const lock: Lock;
const s = lockContract('my lock', async (): Promise<LockFixture> => ({ lock, second: async () => lock, cleanup: async () => {} }));
s.after(() => {});
export default s;
`;

const strict = { strict: true, target: 'ES2022', lib: ['ES2023'], types: ['node'], noEmit: true };
const TSCONFIGS = {
  // With every declaration file the package publishes, not only those the config reaches;
  // zsetup/testing's need uvu, checked once it is installed.
  'tsconfig.json': { compilerOptions: { ...strict, module: 'NodeNext', moduleResolution: 'NodeNext' }, include: ['*.ts', 'node_modules/zsetup/dist/**/*.d.ts'], exclude: ['contract.ts', 'node_modules/zsetup/dist/src/testing/**'] },
  'tsconfig.bundler.json': { compilerOptions: { ...strict, module: 'ESNext', moduleResolution: 'bundler' }, include: ['*.ts'], exclude: ['contract.ts'] },
  'tsconfig.testing.json': { compilerOptions: { ...strict, module: 'NodeNext', moduleResolution: 'NodeNext' }, include: ['contract.ts', 'node_modules/zsetup/dist/src/testing/**/*.d.ts'] },
};
const tsc = (dir: string, config: string) => run(process.execPath, [TSC, '-p', config], dir);

t('the packed package installs offline into a strict TypeScript project; its types check, its command runs without uvu', async (ctx) => {
  const dir = mkdtempSync(join(tmpdir(), 'zsetup-install-'));
  try {
    const started = Date.now();
    // The package as built (npm pack would run the build otherwise, under tests that use dist/).
    // npm walks the repository to pack it, while other tests make and remove their folders
    // under test/.tmp: a folder gone mid-walk fails it (ENOENT). Such a race is tried again.
    let packed = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], ROOT);
    for (let i = 0; i < 2 && packed.code !== 0; i++) packed = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], ROOT);
    assert.is(packed.code, 0, packed.out);
    const [info] = JSON.parse(packed.out.slice(packed.out.indexOf('['))) as [{ filename: string; size: number; unpackedSize: number; files: { path: string }[] }];
    const files = info.files.map((f) => f.path);
    // examples/kubernetes is what `zsetup init` copies (a config and a Job): the only sources it ships.
    const shipped = (f: string) => f.startsWith('examples/kubernetes/');
    assert.equal(files.filter((f) => !shipped(f) && (/^(test|bench|scripts|examples|src|plugins)\//.test(f) || f.endsWith('.map') || (f.endsWith('.ts') && !f.endsWith('.d.ts')))), [], 'no tests, sources or source maps');
    const entries = [pkg.bin.zsetup, ...Object.values(pkg.exports as Record<string, string | Record<string, string>>).flatMap((e) => (typeof e === 'string' ? [e] : Object.values(e)))];
    for (const e of entries) assert.ok(files.includes(e.replace(/^\.\//, '')), `${e} is in the tarball`);
    assert.ok(info.unpackedSize < 4_000_000, `unpacked ${info.unpackedSize} bytes`);

    writeProject(dir, join(dir, info.filename), { '@types/node': pkg.devDependencies['@types/node'] });
    await npmInstall(dir);
    const took = Date.now() - started;
    assert.ok(existsSync(join(dir, 'node_modules/zsetup/dist/cli.js')));
    assert.not.ok(existsSync(join(dir, 'node_modules/uvu')), 'uvu is not installed with zsetup');
    assert.not.ok(existsSync(join(dir, 'node_modules/@types/pg')), 'nor @types/pg');

    writeFileSync(join(dir, 'seed-plugin.ts'), PLUGIN);
    writeFileSync(join(dir, 'zsetup.config.ts'), CONFIG);
    writeFileSync(join(dir, '04_file.sql'), `INSERT INTO t VALUES (2, 'from a file');\n`);
    writeFileSync(join(dir, 'contract.ts'), CONTRACT);
    for (const [name, json] of Object.entries(TSCONFIGS)) writeFileSync(join(dir, name), JSON.stringify(json, null, 2));

    const [nodeNext, bundler] = await Promise.all([tsc(dir, 'tsconfig.json'), tsc(dir, 'tsconfig.bundler.json')]);
    assert.is(nodeNext.code, 0, `tsc (NodeNext, every published .d.ts):\n${nodeNext.out}`);
    assert.is(bundler.code, 0, `tsc (bundler):\n${bundler.out}`);

    const bin = join(dir, 'node_modules/.bin/zsetup');
    const version = await run(bin, ['--version'], dir);
    assert.is(version.code, 0, version.out);
    assert.is(version.out.trim(), pkg.version);
    const applied = await run(bin, ['apply', '--no-init-projections'], dir, { ZSETUP_DATABASE_URL: ctx.db.url });
    assert.is(applied.code, 0, applied.out);
    assert.match(applied.out, /05_seed: 3 rows in t/);
    const rows = await ctx.db.query<{ id: number; name: string }>('SELECT id, name FROM t ORDER BY id');
    assert.equal(rows, [{ id: 1, name: '02_function' }, { id: 2, name: 'from a file' }, { id: 3, name: 'seeded' }]);

    const imports = (what: string) => run(process.execPath, ['--input-type=module', '-e', `${what}\nconsole.log('loaded');`], dir);
    const main = await imports(`const z = await import('zsetup'); const p = await import('zsetup/plugin'); if (typeof z.defineConfig !== 'function' || typeof p.Tokens !== 'object') throw new Error('exports');`);
    assert.is(main.code, 0, main.out);
    const testing = await imports(`await import('zsetup/testing');`);
    assert.is.not(testing.code, 0, testing.out);
    assert.match(testing.out, /zsetup\/testing runs its contract suites with uvu, a peer dependency of zsetup that is not installed here: npm install --save-dev uvu@/);

    // The user installs uvu: zsetup/testing loads, and its types check.
    writeProject(dir, join(dir, info.filename), { '@types/node': pkg.devDependencies['@types/node'], uvu: pkg.peerDependencies.uvu });
    await npmInstall(dir);
    const [kit, kitTypes] = await Promise.all([imports(`const k = await import('zsetup/testing'); if (typeof k.lockContract !== 'function') throw new Error('exports');`), tsc(dir, 'tsconfig.testing.json')]);
    assert.is(kit.code, 0, kit.out);
    assert.is(kitTypes.code, 0, `tsc (zsetup/testing):\n${kitTypes.out}`);
    process.stdout.write(`  pack ${(info.size / 1000).toFixed(1)} kB (${(info.unpackedSize / 1e6).toFixed(2)} MB unpacked, ${files.length} files); pack + install ${((took) / 1000).toFixed(1)} s\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

t.run();
