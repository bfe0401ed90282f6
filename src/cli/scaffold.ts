/**
 * What `zsetup init` and `zsetup new` write: files in the user's project, nothing in a
 * database. The commands (./init.ts, ./new.ts) only parse flags and print; the decisions
 * are here.
 *
 * `init`'s templates are the files of examples/kubernetes/ (shipped in the package): the
 * example the Docker test builds and runs is what `init` writes, one source.
 */
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, extname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SEARCH_PLACES } from '../config/load.js';

/** The package's examples/kubernetes/ (this file is dist/src/cli/scaffold.js). */
export const TEMPLATE_DIR = fileURLToPath(new URL('../../../examples/kubernetes/', import.meta.url));

/** What `init` writes, relative to the project folder, and what each is for. */
export const INIT_FILES: readonly { path: string; what: string }[] = [
  { path: 'zsetup.config.ts', what: 'the config: the steps, in order' },
  { path: 'sql/001_init.sql', what: "the first step's SQL" },
  { path: 'deploy/zsetup-job.yaml', what: 'a Kubernetes Job that runs zsetup apply (its comments explain the time limits)' },
  { path: 'deploy/zsetup-secret.yaml', what: 'the Secret the Job reads the database URL from' },
];

/** A problem the user can fix: one line, exit 2 (or `code`), a hint to fix it. */
export class ScaffoldError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
    readonly code = 2,
  ) {
    super(message);
  }
}

/** POSIX separators, for paths shown in configs and messages. */
const posix = (p: string) => p.split(sep).join('/');

/** `p` as the user would type it from `cwd`. */
export function shown(cwd: string, p: string): string {
  return posix(relative(cwd, p)) || '.';
}

function exists(p: string): boolean {
  try {
    lstatSync(p);
    return true;
  } catch {
    return false;
  }
}

/**
 * The config zsetup would load in `dir` (the first of SEARCH_PLACES, as the loader looks),
 * or undefined. package.json counts only with a `zsetup` key.
 */
export function findConfigFile(dir: string): string | undefined {
  for (const name of SEARCH_PLACES) {
    const p = join(dir, name);
    if (!exists(p)) continue;
    if (name !== 'package.json') return p;
    try {
      const pkg = JSON.parse(readFileSync(p, 'utf8')) as Record<string, unknown> | null;
      if (pkg && typeof pkg === 'object' && pkg.zsetup !== undefined) return p;
    } catch {
      // not one zsetup would load either (it names the syntax error when asked to)
    }
  }
  return undefined;
}

export interface InitResult {
  written: { file: string; what: string; overwritten: boolean }[];
  /** A config zsetup loads before zsetup.config.ts, left in place by --force. */
  shadowedBy?: string;
}

/**
 * Write the starter project into `dir` (created if missing). Refuses, writing nothing,
 * when any of its files exists, or another config zsetup would load is there, unless
 * `force`: then its own files are overwritten (and nothing else is touched).
 */
export function initProject(dir: string, force: boolean, show: (p: string) => string = (p) => p): InitResult {
  const templates = INIT_FILES.map((f) => {
    const from = join(TEMPLATE_DIR, f.path);
    try {
      return { ...f, file: join(dir, f.path), text: readFileSync(from, 'utf8') };
    } catch (err) {
      throw new ScaffoldError(`zsetup's template ${show(from)} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, 'reinstall zsetup: its package ships examples/kubernetes/', 1);
    }
  });
  const existing = templates.filter((t) => exists(t.file)).map((t) => t.file);
  // Another config in the folder: zsetup would load it (zitadel.setup.ts) or the new one
  // would silently take its place (the others come after zsetup.config.ts in the search).
  const other = SEARCH_PLACES.filter((n) => n !== 'zsetup.config.ts' && n !== 'package.json')
    .map((n) => join(dir, n))
    .filter(exists);
  const pkg = join(dir, 'package.json');
  if (findConfigFile(dir) === pkg) other.push(pkg);
  if ((existing.length > 0 || other.length > 0) && !force) {
    const list = [...existing.map(show), ...other.map((o) => `${show(o)} (${basename(o) === 'package.json' ? 'its "zsetup" key is ' : ''}a config already)`)];
    throw new ScaffoldError(`${list.length === 1 ? 'this exists' : 'these exist'} already, so nothing was written: ${list.join(', ')}`, 'pass --force to overwrite the files init writes (it never touches another config), or --dir to write elsewhere');
  }
  // Every folder first: a file in the way fails before any file is written.
  for (const folder of new Set(templates.map((t) => dirname(t.file)))) {
    try {
      mkdirSync(folder, { recursive: true });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new ScaffoldError(
        `cannot make the folder ${show(folder)}: ${code === 'EEXIST' || code === 'ENOTDIR' ? 'a file is in the way' : (code ?? (err as Error).message)}; nothing was written`,
        'pass --dir with a folder (or a path for a new one)',
        code === 'EEXIST' || code === 'ENOTDIR' ? 2 : 1,
      );
    }
  }
  const written: InitResult['written'] = [];
  for (const t of templates) {
    const overwritten = existing.includes(t.file);
    try {
      // wx: never replace a file that appeared since the check above, unless forced.
      writeFileSync(t.file, t.text, { flag: force ? 'w' : 'wx' });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new ScaffoldError(
        `cannot write ${show(t.file)}: ${code === 'EEXIST' ? 'it appeared while init was writing' : (code ?? (err as Error).message)}${written.length ? ` (written before it: ${written.map((w) => show(w.file)).join(', ')})` : ''}`,
        code === 'EACCES' || code === 'EPERM' ? 'check the permissions of the folder, or pass --dir' : undefined,
        code === 'EEXIST' ? 2 : 1,
      );
    }
    written.push({ file: t.file, what: t.what, overwritten });
  }
  const first = findConfigFile(dir);
  return { written, ...(first && basename(first) !== 'zsetup.config.ts' ? { shadowedBy: first } : {}) };
}

/** The longest slug `new` takes: a file name and a step name people can still read. */
export const MAX_SLUG = 64;

/** Latin letters that Unicode does not decompose into a letter and accents. */
const LETTERS: Readonly<Record<string, string>> = { ß: 'ss', æ: 'ae', ø: 'o', œ: 'oe', đ: 'd', ł: 'l', þ: 'th', ð: 'd', ı: 'i' };

/**
 * A name as part of a file and step name: lower case ASCII letters and digits, words joined
 * by `_` ("Add users!" -> "add_users", "Straße" -> "strasse"). Refuses a name with nothing left.
 */
export function slugify(words: readonly string[]): string {
  const raw = words.join(' ');
  const slug = raw
    .toLowerCase()
    .replace(/[ßæøœđłþðı]/g, (c) => LETTERS[c]!)
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '');
  if (slug === '') {
    throw new ScaffoldError(`${JSON.stringify(raw)} is not a name for a step: it has no letter or digit (a-z, 0-9) to name the file with`, 'describe the change in a few words: zsetup new add users');
  }
  if (slug.length > MAX_SLUG) {
    throw new ScaffoldError(`the name is too long: "${slug}" has ${slug.length} characters, at most ${MAX_SLUG}`, 'name the change in a few words; the SQL file can say the rest in a comment');
  }
  return slug;
}

/** A numbered SQL file: 001_init.sql, 02-users.sql, 7.sql. */
const NUMBERED = /^(\d+)(?:[^\d].*)?\.sql$/i;

/**
 * The next numbered file in `sqlDir` for `slug`: one above the highest number there, padded
 * to as many digits as the widest number there (3 in an empty or missing folder).
 */
export function nextSqlFile(sqlDir: string, slug: string, show: (p: string) => string = (p) => p): { stem: string; file: string } {
  let names: string[] = [];
  try {
    names = readdirSync(sqlDir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOTDIR') throw new ScaffoldError(`${show(sqlDir)} is not a folder`, 'pass --dir with the folder of your SQL files');
    if (code !== 'ENOENT') throw new ScaffoldError(`cannot read the folder ${show(sqlDir)}: ${code ?? (err as Error).message}`, undefined, 1);
  }
  let highest = 0n;
  let width = 3;
  let any = false;
  for (const n of names) {
    const m = NUMBERED.exec(n);
    if (!m) continue;
    const v = BigInt(m[1]!);
    if (!any || v > highest) highest = v;
    width = any ? Math.max(width, m[1]!.length) : m[1]!.length;
    any = true;
  }
  const stem = `${String(any ? highest + 1n : 1n).padStart(width, '0')}_${slug}`;
  return { stem, file: join(sqlDir, `${stem}.sql`) };
}

/** The SQL file `new` writes: a comment, no statement yet (apply refuses it until there is one). */
export function newSqlText(stem: string, config: string): string {
  return `-- ${stem}: write this step's SQL here. zsetup runs it once, after the steps before it in
-- ${config}, in one transaction together with its record: all of it is applied, or none.
-- Once it has been applied, leave it as it is (apply refuses a changed step: drift, exit 4).

`;
}

/** Write `file` (never over an existing one). */
export function writeNew(file: string, text: string, show: (p: string) => string = (p) => p): void {
  try {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, text, { flag: 'wx' });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw new ScaffoldError(`${show(file)} exists already (written since the folder was read?)`, 'run zsetup new again: it takes the next number');
    throw new ScaffoldError(`cannot write ${show(file)}: ${code ?? (err as Error).message}`, undefined, 1);
  }
}

/**
 * The line that declares the step in `configFile`, in the config's own language: a `step()`
 * call in a TypeScript or JavaScript config, an object in JSON (package.json too), a list
 * item in YAML. `sqlPath` is relative to the config's folder.
 */
export function configLine(configFile: string, stem: string, sqlPath: string): string {
  const ext = extname(configFile).toLowerCase();
  if (['.ts', '.mts', '.cts', '.js', '.mjs', '.cjs'].includes(ext)) return `step('${stem}', { sql: file('${sqlPath}') }),`;
  if (ext === '.json') return `{ "name": ${JSON.stringify(stem)}, "file": ${JSON.stringify(sqlPath)} },`;
  return `- { name: ${JSON.stringify(stem)}, file: ${JSON.stringify(sqlPath)} }`;
}

/** Whether a TypeScript or JavaScript config already imports `file` from zsetup. */
export function importsFile(configFile: string): boolean {
  if (!['.ts', '.mts', '.cts', '.js', '.mjs', '.cjs'].includes(extname(configFile).toLowerCase())) return true;
  try {
    return /import\s*(?:type\s+)?\{[^}]*\bfile\b[^}]*\}\s*from\s*['"]zsetup['"]/.test(readFileSync(configFile, 'utf8'));
  } catch {
    return true;
  }
}

/** `sqlPath` relative to the config's folder, as `file()` takes it. */
export function pathFromConfig(configFile: string, file: string): string {
  return posix(relative(dirname(configFile), file));
}

/** The config `new` adds to: `--config`, or the one zsetup would load from `cwd`. */
export function configFor(cwd: string, configPath: string | undefined): string {
  if (configPath !== undefined) {
    const p = resolve(cwd, configPath);
    if (!existsSync(p)) throw new ScaffoldError(`${configPath}: config file not found (check --config)`);
    return p;
  }
  const found = findConfigFile(cwd);
  if (!found) {
    throw new ScaffoldError(
      `no config found in this folder, ${cwd} (looked for ${SEARCH_PLACES.slice(0, -1).join(', ')} and package.json#zsetup)`,
      'run zsetup init to make one, or pass --config PATH',
    );
  }
  return found;
}
