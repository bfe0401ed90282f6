/**
 * Finding and loading the config file with cosmiconfig. TypeScript configs go through
 * jiti (about 0.14 s per process here) instead of cosmiconfig's own loader, which loads
 * the TypeScript compiler (about 0.65 s).
 */
import { resolve as resolvePath, relative } from 'node:path';
import { existsSync } from 'node:fs';
import { requireCjs } from '../cjs.js';
import { ConfigError } from '../errors.js';

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

export interface LoadedFile {
  /** Absolute path. */
  file: string;
  /** What the module exported (default export), before validation. */
  exported: unknown;
}

type Jiti = { import(id: string, opts?: { default?: boolean }): Promise<unknown> };
let jiti: Jiti | undefined;

async function loadTs(filepath: string): Promise<unknown> {
  if (!jiti) {
    // require, not import: importing jiti's 190 KB CommonJS bundle from ESM makes Node scan
    // it for named exports first (about 50 ms per process, measured).
    const { createJiti } = requireCjs('jiti') as typeof import('jiti');
    jiti = createJiti(import.meta.url, { fsCache: true, moduleCache: false, interopDefault: true }) as unknown as Jiti;
  }
  return jiti.import(filepath, { default: true });
}

/**
 * Load the config: `configPath` if given, else the first of SEARCH_PLACES in `cwd`.
 * Throws ConfigError (one line, file and position) for missing files and syntax errors.
 */
export async function loadConfigFile(cwd: string, configPath?: string): Promise<LoadedFile> {
  const { cosmiconfig } = requireCjs('cosmiconfig') as typeof import('cosmiconfig');
  const explorer = cosmiconfig('zsetup', {
    searchPlaces: SEARCH_PLACES,
    searchStrategy: 'none',
    cache: false,
    loaders: { '.ts': loadTs, '.mts': loadTs, '.cts': loadTs },
  });
  const shown = (f: string) => relative(cwd, f) || f;
  let result: { filepath: string; config: unknown; isEmpty?: boolean } | null;
  let target = configPath ? resolvePath(cwd, configPath) : undefined;
  try {
    if (target) {
      if (!existsSync(target)) throw new ConfigError([{ file: configPath!, path: '', message: 'config file not found (check --config)' }]);
      result = await explorer.load(target);
    } else {
      result = await explorer.search(cwd);
    }
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError([{ file: target ? shown(target) : shown(failedFile(err) ?? cwd), path: '', message: describeLoadError(err) }]);
  }
  if (!result) {
    throw new ConfigError([
      { file: shown(cwd) === '' ? '.' : shown(cwd), path: '', message: `no config found: looked for ${SEARCH_PLACES.slice(0, -1).join(', ')} and package.json#zsetup; pass --config PATH` },
    ]);
  }
  if (result.isEmpty) throw new ConfigError([{ file: shown(result.filepath), path: '', message: 'the config file is empty' }]);
  target = result.filepath;
  return { file: target, exported: result.config };
}

function failedFile(err: unknown): string | undefined {
  const f = (err as { filepath?: string; id?: string })?.filepath;
  return typeof f === 'string' ? f : undefined;
}

/**
 * One line for a config that failed to load: syntax errors with line and column,
 * everything else with the module's own message. Never a stack trace.
 */
export function describeLoadError(err: unknown): string {
  const e = err as Error & { loc?: { line: number; column: number }; line?: number; column?: number; code?: string; mark?: { line: number; column: number }; reason?: string };
  // cosmiconfig: "YAML Error in /path:\n<details>" / "JSON Error in /path:\n<details>"
  let full = String(e?.message ?? e);
  const frame = /^> (\d+) \|.*\n\s*\|( *)\^/m.exec(full);
  if (/^JSON Error in /.test(full)) {
    // parse-json: a code frame ("> 3 | ...", caret below) and then the reason.
    const reason = /^(?:Unexpected|Expected)[^\n]*?(?= in JSON at position| while parsing|$)/m.exec(full)?.[0] ?? 'invalid JSON';
    return `syntax error${frame ? ` at line ${frame[1]}, column ${frame[2]!.length}` : ''}: ${reason}`;
  }
  full = full.replace(/^(YAML|JSON) Error in [^\n]*:\s*\n/, (_m, kind: string) => `${kind}Error: `);
  // jiti: "ParseError: Unexpected token \n /abs/path/file.ts:3:45"
  const at = /\.(?:[cm]?[jt]s|json|ya?ml):(\d+):(\d+)\s*$/m.exec(full);
  let msg = full.split('\n')[0]!.trim();
  msg = msg.replace(/^.*?\.(?:[cm]?[jt]s|json|ya?ml): /, '').replace(/^(ParseError|SyntaxError|YAMLError|JSONError): /, '');
  if (e?.reason) msg = e.reason;
  const loc = at
    ? { line: Number(at[1]), column: Number(at[2]) }
    : (e?.loc ?? (e?.line !== undefined ? { line: e.line, column: e.column ?? 0 } : e?.mark ? { line: e.mark.line + 1, column: e.mark.column + 1 } : undefined));
  const where = loc ? ` at line ${loc.line}, column ${loc.column}` : '';
  if (/ParseError|SyntaxError|YAMLException|YAMLError|JSONError/.test(`${e?.name} ${full}`)) return `syntax error${where}: ${msg}`;
  return `failed to load${where}: ${msg}`;
}
