/**
 * The transpile cache of TypeScript configs: jiti transforms a config once per content; the
 * result is kept, and later runs evaluate it as jiti would, without loading jiti at all
 * (requiring jiti, creating its loader and finding its own cache entry cost ~20-30 ms of
 * every `plan` and `apply` on a 2-vCPU machine, measured: bench/README.md).
 *
 * - The key is a hash of everything the transform depends on: the config's content and
 *   absolute path (jiti writes `import.meta.url` into the code), the transform's options,
 *   and the versions of jiti, zsetup and Node. A changed config is a new key: never served
 *   stale. What the config imports is not in the key and need not be: imports are resolved
 *   and loaded when the config runs, as jiti does.
 * - An entry holds the hash of its own body: a damaged, cut or foreign entry is ignored
 *   (the config loads through jiti and the entry is written again), never fatal.
 * - Writers write a file of their own and rename it over the entry (atomic on one file
 *   system): concurrent processes read either a whole entry or none.
 * - It lives in `$TMPDIR/zsetup-transpile-<uid>`, a folder that must be ours and closed to
 *   others (0700): code from it is run, so one writable by someone else is not used.
 *
 * `ZSETUP_TRANSPILE_CACHE=0` turns it off (every load through jiti, as before).
 */
import { createHash, randomBytes } from 'node:crypto';
import { lstatSync, mkdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { builtinModules, Module } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { runInThisContext } from 'node:vm';
import { requireCjs } from '../cjs.js';

/** Bump when the entry format or the way an entry is evaluated changes. */
const FORMAT = 'zsetup-transpile-1';
/** The extensions jiti transforms (TypeScript); other configs load through jiti natively. */
export const CACHED_EXTENSIONS = new Set(['.ts', '.mts', '.cts']);

/** The transform options jiti's `import()` uses for a TypeScript file (jiti 2: eval.ts). */
export interface TransformInput {
  filename: string;
  source: string;
}

/** What a cache hit needs to run the config as jiti would. */
export interface EvalContext {
  /** `zsetup`, `zsetup/plugin`, `zsetup/testing` as files of this copy (jiti's alias). */
  alias: Record<string, string>;
  /** jiti, created on first need: for imports other than the alias and Node's builtins. */
  jiti(filename: string): JitiLike;
  /** `import()` from this module (in the CLI bundle, the bundle loader's). */
  importer(specifier: string): Promise<unknown>;
  /** jiti's options as the loader sets them (part of every entry's key). */
  options?: string;
  /** The config's own TypeScript files, by path, evaluated once per load (filled here). */
  modules?: Map<string, Promise<unknown>>;
}

export interface JitiLike {
  (id: string): unknown;
  import(id: string, opts?: { default?: boolean }): Promise<unknown>;
  esmResolve(id: string, opts?: unknown): string;
  transform(opts: { filename: string; source: string; ts: boolean; async: boolean; jsx: boolean }): string;
}

export function cacheEnabled(): boolean {
  return process.env.ZSETUP_TRANSPILE_CACHE !== '0';
}

let versions: string | undefined;

/** jiti's, zsetup's and Node's versions, read once. */
function versionsKey(): string {
  if (versions !== undefined) return versions;
  const read = (file: string) => (JSON.parse(readFileSync(file, 'utf8')) as { version?: string }).version ?? '?';
  let zsetup = '?';
  // This file is src/config/transpile-cache.ts (tsx, tests) or dist/src/config/*.js (built;
  // in the CLI bundle, import.meta.url still names that file): the package.json above it.
  for (let dir = dirname(fileURLToPath(import.meta.url)), i = 0; i < 4; i++, dir = dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'zsetup') {
        zsetup = `${pkg.version}@${dir}`;
        break;
      }
    } catch {
      // not here
    }
  }
  versions = `jiti ${read(requireCjs.resolve('jiti/package.json'))}; zsetup ${zsetup}; node ${process.version}`;
  return versions;
}

/** The cache folder, if it is usable: ours, a folder, and writable by nobody else. */
function cacheDir(): string | undefined {
  const uid = typeof process.getuid === 'function' ? process.getuid() : undefined;
  const dir = join(tmpdir(), `zsetup-transpile${uid === undefined ? '' : `-${uid}`}`);
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const st = lstatSync(dir);
    if (!st.isDirectory()) return undefined;
    if (uid !== undefined && (st.uid !== uid || (st.mode & 0o022) !== 0)) return undefined;
    return dir;
  } catch {
    return undefined;
  }
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/**
 * Where the entry for this content of this file is (undefined: no usable cache folder).
 * `options`: jiti's options as the loader sets them (they shape the transform).
 */
export function entryPath(input: TransformInput, options = ''): string | undefined {
  const dir = cacheDir();
  if (dir === undefined) return undefined;
  const key = sha256(`${FORMAT}\0${versionsKey()}\0${options}\0${input.filename}\0${input.source}`);
  return join(dir, `${key}.js`);
}

/** The cached transform, if the entry is whole (its hash matches); undefined otherwise. */
export function readEntry(path: string): string | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
  const nl = text.indexOf('\n');
  const header = /^\/\/ (\S+) ([0-9a-f]{64})$/.exec(nl < 0 ? '' : text.slice(0, nl));
  if (!header || header[1] !== FORMAT) return undefined;
  const body = text.slice(nl + 1);
  return sha256(body) === header[2] ? body : undefined;
}

/**
 * Keep jiti's transform of a config that loaded. Only plain transforms are kept: jiti's
 * code for a syntax error (`__JITI_ERROR__`) never is. Any failure to write is ignored.
 */
export function writeEntry(path: string, code: string): void {
  if (code.includes('__JITI_ERROR__')) return;
  const tmp = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    writeFileSync(tmp, `// ${FORMAT} ${sha256(code)}\n${code}`, { mode: 0o600 });
    renameSync(tmp, path);
  } catch {
    try {
      unlinkSync(tmp);
    } catch {
      // nothing was written
    }
  }
}

/**
 * Run a cached transform as jiti 2 runs its own (eval.ts): the same wrapper, file name and
 * arguments, so positions in errors and what the config sees are the same. `jitiImport` of
 * the alias and of Node's builtins is a native `import()` with jiti's default interop, as
 * jiti does it; anything else (a relative file, a package) and `require` go to jiti itself,
 * loaded then. Returns what `jiti.import(filename, { default: true })` returns.
 */
export async function evaluate(filename: string, code: string, ctx: EvalContext): Promise<unknown> {
  const out = (await evaluateModule(filename, code, ctx)) as { default?: unknown } | undefined;
  return out?.default ?? out;
}

/**
 * A relative import of the config (`./plugins/x.js` written for `./plugins/x.ts`) that is a
 * TypeScript file: its module from the cache too, so a config split over files loads without
 * jiti as well; undefined when it is not such a file (then jiti loads it, as before). On a
 * miss, jiti transforms it, the transform is kept, and it runs here as a hit would.
 */
function localTypeScript(from: string, id: string, ctx: EvalContext): Promise<unknown> | undefined {
  if (!id.startsWith('./') && !id.startsWith('../')) return undefined;
  const base = join(dirname(from), id);
  const file = [base.replace(/\.(js|mjs|cjs)$/, (_m, e: string) => `.${e === 'js' ? 'ts' : e === 'mjs' ? 'mts' : 'cts'}`), base].find((f) => CACHED_EXTENSIONS.has(extnameOf(f)) && isFile(f));
  if (file === undefined) return undefined;
  const modules = (ctx.modules ??= new Map());
  let loaded = modules.get(file);
  if (loaded === undefined) {
    loaded = (async () => {
      const input = { filename: file, source: readFileSync(file, 'utf8') };
      const entry = entryPath(input, ctx.options);
      const code = entry ? readEntry(entry) : undefined;
      if (code !== undefined) return evaluateModule(file, code, ctx);
      // A miss: jiti's transform, kept, and run here like a hit (its own imports then come this way too).
      const transformed = ctx.jiti(from).transform({ ...input, ts: true, async: true, jsx: false });
      if (entry) writeEntry(entry, transformed);
      return evaluateModule(file, transformed, ctx);
    })();
    modules.set(file, loaded);
  }
  return loaded;
}

function extnameOf(f: string): string {
  const dot = f.lastIndexOf('.');
  return dot < 0 ? '' : f.slice(dot).toLowerCase();
}

function isFile(f: string): boolean {
  try {
    return lstatSync(f).isFile();
  } catch {
    return false;
  }
}

/** Run one cached transform as a module: its exports, with jiti's interop. */
async function evaluateModule(filename: string, code: string, ctx: EvalContext): Promise<unknown> {
  const wrapper = `(async function (exports, require, module, __filename, __dirname, jitiImport, jitiESMResolve) { ${code}\n});`;
  const fn = runInThisContext(wrapper, { filename, lineOffset: 0, displayErrors: false }) as (...args: unknown[]) => Promise<unknown>;
  let child: JitiLike | undefined;
  const jiti = () => (child ??= ctx.jiti(filename));
  const mod = new Module(filename);
  const internals = Module as unknown as { _nodeModulePaths(dir: string): string[] };
  mod.filename = filename;
  mod.paths = internals._nodeModulePaths(dirname(filename));
  const req = new Proxy(function require() {}, {
    apply: (_t, _this, args: unknown[]) => (jiti() as (...a: unknown[]) => unknown)(...args),
    get: (_t, key) => (jiti() as unknown as Record<PropertyKey, unknown>)[key],
  });
  (mod as unknown as { require: unknown }).require = req;
  const jitiImport = (id: string) => {
    const aliased = Object.prototype.hasOwnProperty.call(ctx.alias, id) ? ctx.alias[id]! : undefined;
    if (aliased !== undefined && aliased.endsWith('.js')) return ctx.importer(pathToFileURL(aliased).href).then(interopDefault);
    if (id.startsWith('node:') || builtinModules.includes(id)) return ctx.importer(id).then(interopDefault);
    return localTypeScript(filename, id, ctx) ?? jiti().import(id);
  };
  const esmResolve = (id: string, opts?: unknown) => jiti().esmResolve(id, opts);
  await fn(mod.exports, req, mod, filename, dirname(filename), jitiImport, esmResolve);
  mod.loaded = true;
  return interopDefault(mod.exports);
}

/**
 * jiti 2's `interopDefault` (MIT, unjs/jiti src/utils.ts), which `jiti.import()` applies to
 * every module it gives: a module whose default export is an object or function also
 * shows that default's properties, and says `__esModule`.
 */
function interopDefault(mod: unknown): unknown {
  const type = typeof mod;
  if (mod === null || (type !== 'object' && type !== 'function')) return mod;
  const m = mod as Record<PropertyKey, unknown>;
  const def = m.default;
  const defType = typeof def;
  const defIsNil = def === null || def === undefined;
  const defIsObj = defType === 'object' || defType === 'function';
  if (defIsNil && mod instanceof Promise) return mod;
  const callable = defType === 'function' && type !== 'function';
  const merged = defIsObj && !(def instanceof Promise);
  const seen = new Map<PropertyKey, unknown>();
  return new Proxy(m, {
    get(target, prop) {
      if (seen.has(prop)) return seen.get(prop);
      let value: unknown;
      if (prop === '__esModule') value = true;
      else if (prop === 'default') value = defIsNil ? m : typeof (def as { default?: unknown })?.default === 'function' && m.__esModule ? (def as { default: unknown }).default : def;
      else if (prop in target) value = target[prop];
      else if (merged) {
        value = (def as Record<PropertyKey, unknown>)[prop];
        if (typeof value === 'function') value = (value as (...a: unknown[]) => unknown).bind(def);
      }
      seen.set(prop, value);
      return value;
    },
    apply: callable ? (_t, thisArg, args) => Reflect.apply(def as (...a: unknown[]) => unknown, thisArg, args) : undefined,
  });
}
