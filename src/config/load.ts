/**
 * Finding and loading the config file. The search is ours (one folder, a fixed list of
 * names); YAML loads through cosmiconfig's loader, TypeScript and JavaScript through jiti
 * (about 0.14 s per process here, instead of cosmiconfig's TypeScript compiler at about
 * 0.65 s), JSON through our own reader, whose errors carry line and column whatever the
 * terminal.
 *
 * Not cosmiconfig's explorer: it reads a "meta config" from package.json in the working
 * directory first, so a malformed package.json there broke `--config other.ts` and was
 * blamed on other.ts, and a `cosmiconfig` key in it could change where zsetup looks.
 */
import { resolve as resolvePath, relative, extname, basename, dirname } from 'node:path';
import { readFile } from 'node:fs/promises';
import { existsSync, readFileSync, statSync, type Stats } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { requireCjs } from '../cjs.js';
import { ConfigError, describeThrown } from '../errors.js';
import { formatMs } from './duration.js';
import { CACHED_EXTENSIONS, cacheEnabled, entryPath, evaluate, readEntry, writeEntry, type JitiLike } from './transpile-cache.js';

export const SEARCH_PLACES = [
  'zitadel.setup.ts',
  'zsetup.config.ts',
  'zsetup.config.mts',
  'zsetup.config.js',
  'zsetup.config.mjs',
  '.zsetuprc',
  '.zsetuprc.json',
  '.zsetuprc.yaml',
  'package.json',
];

/** How long a config may take to load and settle (`ZSETUP_CONFIG_TIMEOUT` changes it). */
export const CONFIG_TIMEOUT_MS = 10_000;

export interface LoadedFile {
  /** Absolute path. */
  file: string;
  /** What the module exported (default export), before validation. */
  exported: unknown;
}

type Jiti = JitiLike;
let jiti: Jiti | undefined;
/** jiti's options (the transpile cache keys on them: they shape the transform). */
export const JITI_OPTIONS = { fsCache: true, moduleCache: false, interopDefault: true };

/** jiti, for the loads the transpile cache cannot serve. */
function createJiti(from: string): Jiti {
  // require, not import: importing jiti's 190 KB CommonJS bundle from ESM makes Node scan
  // it for named exports first (about 50 ms per process, measured).
  const { createJiti: create } = requireCjs('jiti') as typeof import('jiti');
  return create(from, { ...JITI_OPTIONS, alias: selfAlias() }) as unknown as Jiti;
}

/**
 * TypeScript and JavaScript configs load through jiti: one loader, whose syntax errors
 * carry line and column (Node's own ESM loader gives none for a .mjs file). `zsetup` is
 * aliased to this very copy: the config and the CLI share one instance, and resolving it
 * does not read package.json files on the way (a malformed one beside the config would
 * otherwise break a valid `--config other.ts`).
 *
 * A TypeScript config whose transform is in the transpile cache (./transpile-cache.ts)
 * runs from there, as jiti would run it, without loading jiti; one that is not loads
 * through jiti, and its transform is kept once it has loaded.
 */
async function loadModule(filepath: string): Promise<unknown> {
  const cached = cacheEnabled() && CACHED_EXTENSIONS.has(extname(filepath).toLowerCase());
  const input = cached ? { filename: filepath, source: readFileSync(filepath, 'utf8') } : undefined;
  const entry = input ? entryPath(input, JSON.stringify(JITI_OPTIONS)) : undefined;
  const code = entry ? readEntry(entry) : undefined;
  if (code !== undefined) {
    return evaluate(filepath, code, { alias: selfAlias(), jiti: createJiti, importer: (specifier) => import(specifier), options: JSON.stringify(JITI_OPTIONS) });
  }
  jiti ??= createJiti(import.meta.url);
  const exported = await jiti.import(filepath, { default: true });
  // The same call as jiti's own import() makes, answered from jiti's file cache.
  if (input && entry) writeEntry(entry, jiti.transform({ ...input, ts: true, async: true, jsx: false }));
  return exported;
}

/** `zsetup`, `zsetup/plugin` and `zsetup/testing` as files of this copy (built: .js; run from source: .ts). */
function selfAlias(): Record<string, string> {
  const here = dirname(fileURLToPath(import.meta.url));
  const pick = (base: string) => [`${base}.js`, `${base}.ts`].find((f) => existsSync(f));
  const alias: Record<string, string> = {};
  const testing = pick(resolvePath(here, '../testing/index'));
  const plugin = pick(resolvePath(here, '../plugin'));
  const main = pick(resolvePath(here, '../../index'));
  if (testing) alias['zsetup/testing'] = testing;
  if (plugin) alias['zsetup/plugin'] = plugin;
  if (main) alias.zsetup = main;
  return alias;
}

/** YAML through cosmiconfig's own loader (js-yaml). */
function loadYaml(filepath: string, text: string): unknown {
  const { defaultLoaders } = requireCjs('cosmiconfig') as typeof import('cosmiconfig');
  return defaultLoaders['.yaml'](filepath, text);
}

/** The loader for a file, by its extension (no extension: YAML, as `.zsetuprc`). */
async function loadByExtension(filepath: string): Promise<unknown> {
  const ext = extname(filepath).toLowerCase();
  if (['.ts', '.mts', '.cts', '.js', '.mjs', '.cjs'].includes(ext)) return loadModule(filepath);
  const text = await readFile(filepath, 'utf8');
  if (ext === '.json') return parseJson(text);
  return loadYaml(filepath, text);
}

/**
 * Load the config: `configPath` if given, else the first of SEARCH_PLACES in `cwd`.
 * Throws ConfigError (one line, file and position) for missing files, syntax errors, a
 * config that throws or rejects (with anything), and one that does not settle within
 * `timeoutMs` (or can never settle: nothing left for it to wait for).
 */
export async function loadConfigFile(cwd: string, configPath?: string, timeoutMs = CONFIG_TIMEOUT_MS): Promise<LoadedFile> {
  const shown = (f: string) => relative(cwd, f) || f;
  if (configPath !== undefined) {
    if (configPath.trim() === '' || configPath.includes('\0')) throw new ConfigError([{ file: '--config', path: '', message: `not a file path: ${JSON.stringify(configPath)}` }]);
    const target = resolvePath(cwd, configPath);
    const st = statOf(target);
    if (st instanceof Error) {
      const why = st.code === 'ENOENT' ? 'config file not found (check --config)' : `cannot read the config file: ${st.code ?? st.message}`;
      throw new ConfigError([{ file: configPath, path: '', message: why }]);
    }
    if (!st.isFile()) throw new ConfigError([{ file: configPath, path: '', message: 'not a file (check --config)' }]);
    return { file: target, exported: await settled(shown(target), timeoutMs, () => loadNamed(target)) };
  }
  for (const name of SEARCH_PLACES) {
    const target = resolvePath(cwd, name);
    const st = statOf(target);
    if (st instanceof Error || !st.isFile()) continue;
    if (name === 'package.json') {
      const pkg = await settled(shown(target), timeoutMs, () => loadNamed(target));
      const section = pkg !== null && typeof pkg === 'object' ? (pkg as Record<string, unknown>).zsetup : undefined;
      if (section === undefined) continue;
      return { file: target, exported: section };
    }
    return { file: target, exported: await settled(shown(target), timeoutMs, () => loadNamed(target)) };
  }
  throw new ConfigError([
    { file: shown(cwd) === '' ? '.' : shown(cwd), path: '', message: `no config found: looked for ${SEARCH_PLACES.slice(0, -1).join(', ')} and package.json#zsetup; pass --config PATH` },
  ]);
}

/**
 * stat, synchronously: the start of a command waits for it anyway, and an asynchronous call
 * is a hop through libuv's thread pool, which took milliseconds each on a busy machine.
 */
function statOf(target: string): Stats | NodeJS.ErrnoException {
  try {
    return statSync(target);
  } catch (err) {
    return err as NodeJS.ErrnoException;
  }
}

async function loadNamed(target: string): Promise<unknown> {
  if (basename(target) === 'package.json') return parseJson(await readFile(target, 'utf8'));
  const exported = await loadByExtension(target);
  if (exported === undefined || exported === null) throw new EmptyConfig();
  return exported;
}

class EmptyConfig extends Error {}

/**
 * Run `load` for the config `file` and wait for what it gives, bounded: a config whose
 * promise never settles fails after `timeoutMs` (or at once when the process has nothing
 * left to wait for, so it never can), naming the file. Every failure is one ConfigError.
 */
export async function settled<T>(file: string, timeoutMs: number, load: () => Promise<T> | T, describe: (err: unknown) => string = describeLoadError): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  let onIdle: (() => void) | undefined;
  const never = new Promise<never>((_resolve, reject) => {
    // Unref'd: it must not keep the process alive by itself, so a promise waiting on
    // nothing at all shows as an idle loop ('beforeExit') at once.
    timer = setTimeout(
      () => reject(new ConfigError([{ file, path: '', message: `the config did not finish loading within ${formatMs(timeoutMs)}: its default export (or a promise it awaits) never settles; set ZSETUP_CONFIG_TIMEOUT to wait longer` }])),
      timeoutMs,
    ).unref();
    onIdle = () => reject(new ConfigError([{ file, path: '', message: 'the config never finishes loading: its default export (or a promise it awaits) waits for something that never happens (nothing is left to wait for)' }]));
    process.once('beforeExit', onIdle);
  });
  try {
    return await Promise.race([Promise.resolve().then(load), never]);
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    if (err instanceof EmptyConfig) throw new ConfigError([{ file, path: '', message: 'the config file is empty or exports nothing (export default defineConfig({ steps: [...] }))' }]);
    const pkg = packageJsonError(err, file);
    if (pkg) throw new ConfigError([pkg]);
    throw new ConfigError([{ file, path: '', message: describe(err) }]);
  } finally {
    clearTimeout(timer);
    if (onIdle) process.off('beforeExit', onIdle);
  }
}

/**
 * A malformed package.json met on the way (Node's resolver reads the package.json of every
 * folder it resolves an import from): blamed on that package.json, with line and column,
 * not on the config that imported something.
 */
function packageJsonError(err: unknown, loading: string): { file: string; path: string; message: string } | undefined {
  let path: unknown;
  try {
    path = (err as { path?: unknown })?.path;
  } catch {
    return undefined;
  }
  if (typeof path !== 'string' || basename(path) !== 'package.json') return undefined;
  const shown = relative(process.cwd(), path) || path;
  let why = describeThrown(err).split('\n')[0]!;
  try {
    parseJson(readFileSync(path, 'utf8'));
  } catch (e) {
    if (e instanceof JsonSyntaxError) why = `syntax error at line ${e.line}, column ${e.column}: ${e.reason}`;
  }
  return { file: shown, path: '', message: `${why} (read while loading ${loading})` };
}

/**
 * One line for a config that failed to load: syntax errors with line and column,
 * everything else with the module's own message. Never a stack trace.
 */
export function describeLoadError(err: unknown): string {
  if (err instanceof JsonSyntaxError) return `syntax error at line ${err.line}, column ${err.column}: ${err.reason}`;
  if (!(err instanceof Error)) return `the config threw or rejected with: ${describeThrown(err)}`;
  const e = err as Error & { loc?: { line: number; column: number }; line?: number; column?: number; mark?: { line: number; column: number }; reason?: string };
  const full = stripAnsi(String(e.message ?? ''));
  // jiti: "ParseError: Unexpected token \n /abs/path/file.ts:3:45"
  const at = /\.(?:[cm]?[jt]s|json|ya?ml):(\d+):(\d+)\s*$/m.exec(full);
  let msg = full.split('\n')[0]!.trim();
  msg = msg.replace(/^.*?\.(?:[cm]?[jt]s|json|ya?ml): /, '').replace(/^(ParseError|SyntaxError|YAMLError|JSONError|YAMLException): /, '');
  if (e.name === 'YAMLException' && e.reason) msg = e.reason;
  const loc = at
    ? { line: Number(at[1]), column: Number(at[2]) }
    : (e.loc ?? (typeof e.line === 'number' ? { line: e.line, column: e.column ?? 0 } : e.mark ? { line: e.mark.line + 1, column: e.mark.column + 1 } : undefined));
  const where = loc ? ` at line ${loc.line}, column ${loc.column}` : '';
  if (msg === '') msg = describeThrown(err);
  if (/ParseError|SyntaxError|YAMLException|YAMLError|JSONError/.test(`${e.name} ${full.split('\n')[0]}`)) return `syntax error${where}: ${msg}`;
  return `failed to load${where}: ${msg}`;
}

function stripAnsi(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/\u001b\[[0-9;]*[A-Za-z]/g, '');
}

/** A JSON syntax error with its position (1-based line and column). */
export class JsonSyntaxError extends SyntaxError {
  constructor(
    readonly reason: string,
    readonly line: number,
    readonly column: number,
  ) {
    super(`${reason} at line ${line}, column ${column}`);
  }
}

/**
 * JSON.parse with a position on failure. V8's own messages sometimes give an offset and
 * sometimes quote the whole text instead (which could be long, or hold a secret), so the
 * offset is found by a small scanner of the JSON grammar.
 */
export function parseJson(text: string): unknown {
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  try {
    return JSON.parse(body);
  } catch (err) {
    const { offset, reason } = jsonErrorAt(body);
    const before = body.slice(0, offset).split('\n');
    throw new JsonSyntaxError(reason ?? String((err as Error).message).split(',')[0]!, before.length, before[before.length - 1]!.length + 1);
  }
}

/** Where the first JSON syntax error is, and what it is. */
export function jsonErrorAt(s: string): { offset: number; reason?: string } {
  let i = 0;
  const ws = () => {
    while (i < s.length && ' \t\n\r'.includes(s[i]!)) i++;
  };
  class Fail {
    constructor(readonly reason: string) {}
  }
  const fail = (reason: string): never => {
    throw new Fail(reason);
  };
  const token = () => (i >= s.length ? fail('unexpected end of the file') : fail(`unexpected ${JSON.stringify(s[i])}`));
  const value = (): void => {
    ws();
    const c = s[i];
    if (c === '{') {
      i++;
      ws();
      if (s[i] === '}') return void i++;
      for (;;) {
        ws();
        if (s[i] !== '"') fail(s[i] === '}' ? 'a trailing comma before "}"' : `expected a double-quoted property name, found ${i >= s.length ? 'the end of the file' : JSON.stringify(s[i])}`);
        string();
        ws();
        if (s[i] !== ':') fail(`expected ":" after the property name, found ${i >= s.length ? 'the end of the file' : JSON.stringify(s[i])}`);
        i++;
        value();
        ws();
        if (s[i] === ',') {
          i++;
          continue;
        }
        if (s[i] === '}') return void i++;
        fail(`expected "," or "}" after a property value, found ${i >= s.length ? 'the end of the file' : JSON.stringify(s[i])}`);
      }
    }
    if (c === '[') {
      i++;
      ws();
      if (s[i] === ']') return void i++;
      for (;;) {
        ws();
        if (s[i] === ']') fail('a trailing comma before "]"');
        value();
        ws();
        if (s[i] === ',') {
          i++;
          continue;
        }
        if (s[i] === ']') return void i++;
        fail(`expected "," or "]" after an array element, found ${i >= s.length ? 'the end of the file' : JSON.stringify(s[i])}`);
      }
    }
    if (c === '"') return string();
    const lit = /^(?:true|false|null|-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?)/.exec(s.slice(i, i + 400));
    if (lit) return void (i += lit[0].length);
    token();
  };
  const string = () => {
    i++;
    while (i < s.length && s[i] !== '"') {
      const code = s.charCodeAt(i);
      if (code < 0x20) fail('a line break or control character inside a string');
      if (s[i] === '\\') {
        const n = s[i + 1];
        if (n === 'u' && /^[0-9a-fA-F]{4}$/.test(s.slice(i + 2, i + 6))) i += 6;
        else if (n !== undefined && '"\\/bfnrt'.includes(n)) i += 2;
        else {
          i++;
          fail('an invalid escape in a string');
        }
      } else i++;
    }
    if (i >= s.length) fail('a string that is never closed');
    i++;
  };
  try {
    value();
    ws();
    if (i < s.length) fail(`unexpected ${JSON.stringify(s[i])} after the end of the JSON value`);
    return { offset: s.length };
  } catch (f) {
    if (f instanceof Fail) return { offset: i, reason: f.reason };
    throw f;
  }
}
