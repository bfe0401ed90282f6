/**
 * From what a config module exported to a complete, read-only ResolvedConfig: shape
 * validation with key paths (every problem at once), defaults, environment overrides,
 * then CLI flags (which merge last).
 */
import { dirname, relative } from 'node:path';
import type { Plugin, StepDefinition } from './dsl.js';
import { COMMON_STEP_FIELDS } from './dsl.js';
import { parseDuration } from './duration.js';
import { didYouMean } from '../plan/graph.js';
import type { ConfigProblem } from '../errors.js';

export interface ResolvedConfig {
  /** Absolute path of the config file (or of package.json). */
  readonly file: string;
  /** The config file as shown in messages (relative to the working directory). */
  readonly displayFile: string;
  /** Folder of the config file: relative paths in the config resolve against it. */
  readonly dir: string;
  /** This invocation's owner id: `host:pid:run`. */
  readonly owner: string;
  readonly database: {
    readonly url: string | undefined;
    readonly pglite: { readonly dataDir: string };
    readonly pool: { readonly max: number; readonly idleTimeoutMs: number; readonly maxLifetimeMs: number; readonly connectTimeoutMs: number };
  };
  readonly state: { readonly schema: string };
  readonly lock: { readonly kind: 'advisory' | 'lease'; readonly timeoutMs: number; readonly leaseTtlMs: number; readonly name: string };
  readonly apply: {
    readonly concurrency: number;
    readonly ddlLockTimeoutMs: number;
    readonly retries: number;
    /** Milliseconds from the start of the run; undefined: no deadline. */
    readonly deadlineMs: number | undefined;
    readonly cleanupDeadlineMs: number;
  };
  readonly plugins: readonly Plugin[];
  readonly steps: readonly StepDefinition[];
  /** Values that must never appear in output (the database password). */
  readonly secrets: readonly string[];
}

/** Flags from the command line; strings as typed, validated here. */
export interface ConfigFlags {
  lockTimeout?: string | undefined;
  connectTimeout?: string | undefined;
  concurrency?: string | undefined;
  deadline?: string | undefined;
}

export const DEFAULTS = {
  dataDir: '.zsetup/pglite',
  poolMax: 10,
  idleTimeoutMs: 5 * 60_000,
  maxLifetimeMs: 30 * 60_000,
  connectTimeoutMs: 10_000,
  schema: 'zsetup',
  lockKind: 'advisory' as const,
  lockTimeoutMs: 60_000,
  leaseTtlMs: 30_000,
  lockName: 'zsetup',
  concurrency: 1,
  ddlLockTimeoutMs: 10_000,
  retries: 5,
  cleanupDeadlineMs: 10_000,
};

/** Collects problems with the file name; one line each. */
export class Problems {
  readonly list: ConfigProblem[] = [];
  constructor(readonly file: string) {}
  add(path: string, message: string): void {
    this.list.push({ file: this.file, path, message });
  }
}

const TOP_KEYS = ['database', 'plugins', 'steps', 'state', 'lock', 'apply'];

export function resolveConfig(
  raw: any,
  file: string,
  env: NodeJS.ProcessEnv,
  flags: ConfigFlags,
  owner: string,
  cwd: string,
): { config: ResolvedConfig; problems: ConfigProblem[] } {
  const displayFile = relative(cwd, file) || file;
  const p = new Problems(displayFile);
  if (!isObject(raw)) {
    p.add('', `the config must export an object (export default defineConfig({ steps: [...] })), got ${typeName(raw)}`);
    raw = { steps: [] };
  }
  keys(raw, '', TOP_KEYS, p);

  const db = section(raw, 'database', ['url', 'pglite', 'pool'], p);
  const pglite = section(db, 'pglite', ['dataDir'], p, 'database.');
  const poolCfg = section(db, 'pool', ['max', 'idleTimeout', 'maxLifetime', 'connectTimeout'], p, 'database.');
  const state = section(raw, 'state', ['schema'], p);
  const lock = section(raw, 'lock', ['kind', 'timeout', 'leaseTtl', 'name'], p);
  const apply = section(raw, 'apply', ['concurrency', 'ddlLockTimeout', 'retries', 'deadline', 'cleanupDeadline'], p);

  const envUrl = env.ZSETUP_DATABASE_URL;
  const url = envUrl !== undefined && envUrl !== '' ? envUrl : str(db.url, 'database.url', p);
  if (url !== undefined && !/^postgres(ql)?:\/\//i.test(url)) {
    p.add(envUrl ? 'ZSETUP_DATABASE_URL' : 'database.url', 'expected a URL like postgres://user@host:5432/db');
  }

  const max = int(poolCfg.max, 'database.pool.max', p, 1) ?? DEFAULTS.poolMax;
  const concurrency = int(flags.concurrency ?? env.ZSETUP_CONCURRENCY ?? apply.concurrency, flags.concurrency !== undefined ? '--concurrency' : 'apply.concurrency', p, 1) ?? DEFAULTS.concurrency;
  const kind = env.ZSETUP_LOCK_KIND || lock.kind || DEFAULTS.lockKind;
  if (kind !== 'advisory' && kind !== 'lease') p.add(env.ZSETUP_LOCK_KIND ? 'ZSETUP_LOCK_KIND' : 'lock.kind', `expected "advisory" or "lease", got ${JSON.stringify(kind)}`);

  const schema = str(state.schema, 'state.schema', p) ?? DEFAULTS.schema;
  if (schema === '') p.add('state.schema', 'must not be empty');
  const steps = Array.isArray(raw.steps) ? (raw.steps as StepDefinition[]) : [];
  if (raw.steps === undefined) p.add('steps', 'missing: declare the steps to run (steps: [step(...), ...])');
  else if (!Array.isArray(raw.steps)) p.add('steps', `expected an array of steps, got ${typeName(raw.steps)}`);
  const plugins = Array.isArray(raw.plugins) ? (raw.plugins as Plugin[]) : [];
  if (raw.plugins !== undefined && !Array.isArray(raw.plugins)) p.add('plugins', `expected an array of plugins, got ${typeName(raw.plugins)}`);
  const validPlugins = plugins.filter((pl, i) => checkPlugin(pl, `plugins[${i}]`, p));
  steps.forEach((s, i) => checkStepShape(s, i, p));

  const config: ResolvedConfig = {
    file,
    displayFile,
    dir: dirname(file),
    owner,
    database: {
      url,
      pglite: { dataDir: str(pglite.dataDir, 'database.pglite.dataDir', p) ?? DEFAULTS.dataDir },
      pool: {
        max,
        idleTimeoutMs: dur(poolCfg.idleTimeout, 'database.pool.idleTimeout', p) ?? DEFAULTS.idleTimeoutMs,
        maxLifetimeMs: dur(poolCfg.maxLifetime, 'database.pool.maxLifetime', p) ?? DEFAULTS.maxLifetimeMs,
        connectTimeoutMs:
          dur(flags.connectTimeout ?? env.ZSETUP_CONNECT_TIMEOUT ?? poolCfg.connectTimeout, flags.connectTimeout !== undefined ? '--connect-timeout' : 'database.pool.connectTimeout', p) ??
          DEFAULTS.connectTimeoutMs,
      },
    },
    state: { schema },
    lock: {
      kind: kind as 'advisory' | 'lease',
      timeoutMs: dur(flags.lockTimeout ?? env.ZSETUP_LOCK_TIMEOUT ?? lock.timeout, flags.lockTimeout !== undefined ? '--lock-timeout' : 'lock.timeout', p) ?? DEFAULTS.lockTimeoutMs,
      leaseTtlMs: dur(lock.leaseTtl, 'lock.leaseTtl', p) ?? DEFAULTS.leaseTtlMs,
      name: str(lock.name, 'lock.name', p) ?? DEFAULTS.lockName,
    },
    apply: {
      concurrency,
      ddlLockTimeoutMs: dur(apply.ddlLockTimeout, 'apply.ddlLockTimeout', p) ?? DEFAULTS.ddlLockTimeoutMs,
      retries: int(apply.retries, 'apply.retries', p, 0) ?? DEFAULTS.retries,
      deadlineMs: dur(flags.deadline ?? env.ZSETUP_DEADLINE ?? apply.deadline, flags.deadline !== undefined ? '--deadline' : 'apply.deadline', p),
      cleanupDeadlineMs: dur(apply.cleanupDeadline, 'apply.cleanupDeadline', p) ?? DEFAULTS.cleanupDeadlineMs,
    },
    plugins: validPlugins,
    steps,
    secrets: passwordOf(url),
  };
  return { config, problems: p.list };
}

function passwordOf(url: string | undefined): string[] {
  if (!url) return [];
  try {
    const pw = decodeURIComponent(new URL(url).password);
    return pw ? [pw, new URL(url).password] : [];
  } catch {
    return [];
  }
}

function checkPlugin(pl: unknown, path: string, p: Problems): boolean {
  if (typeof pl === 'function') {
    p.add(path, `not a plugin but a function${pl.name ? ` "${pl.name}"` : ''}: call the factory (${pl.name || 'plugin'}())`);
    return false;
  }
  if (!isObject(pl)) {
    p.add(path, `not a plugin: expected an object with "name" and "register", got ${typeName(pl)}`);
    return false;
  }
  const missing = [typeof pl.name === 'string' && pl.name !== '' ? '' : '"name" (a string)', typeof pl.register === 'function' ? '' : '"register" (a function)'].filter(Boolean);
  if (missing.length > 0) p.add(path, `not a plugin: missing ${missing.join(' and ')}`);
  return missing.length === 0;
}

/** The shape every step shares; kind-specific fields are checked by the kind. */
function checkStepShape(s: unknown, i: number, p: Problems): void {
  const path = `steps[${i}]`;
  if (!isObject(s)) {
    p.add(path, `expected a step (step(...), repeatable(...) or an object with "name"), got ${typeName(s)}`);
    return;
  }
  const name = s.name;
  const label = typeof name === 'string' ? ` (step "${name}")` : '';
  if (typeof name !== 'string' || name.trim() === '') p.add(`${path}.name`, `expected a non-empty string, got ${typeName(name)}`);
  if (s.after !== undefined) {
    if (!Array.isArray(s.after)) p.add(`${path}.after${label}`, `expected an array of step names, got ${typeName(s.after)}`);
    else s.after.forEach((a, j) => typeof a !== 'string' && p.add(`${path}.after[${j}]${label}`, `expected a step name, got ${typeName(a)}`));
  }
  if (s.transaction !== undefined && typeof s.transaction !== 'boolean') p.add(`${path}.transaction${label}`, `expected true or false, got ${typeName(s.transaction)}`);
  if (s.version !== undefined && typeof s.version !== 'string' && typeof s.version !== 'number') p.add(`${path}.version${label}`, `expected a string or number, got ${typeName(s.version)}`);
  if (s.description !== undefined && typeof s.description !== 'string') p.add(`${path}.description${label}`, `expected a string, got ${typeName(s.description)}`);
  if (s.resumable !== undefined && typeof s.resumable !== 'boolean') p.add(`${path}.resumable${label}`, `expected true or false, got ${typeName(s.resumable)}`);
  if (s.resumable === true && s.transaction === true)
    p.add(`${path}.transaction${label}`, 'a resumable step commits batch by batch and cannot run in one transaction: leave "transaction" out');
  if (s.resumable === true && s.repeatable !== undefined) p.add(`${path}.resumable${label}`, 'a step cannot be both repeatable and resumable');
  if (s.repeatable !== undefined) {
    const r = s.repeatable;
    if (!isObject(r)) p.add(`${path}.repeatable${label}`, `expected { lastRun, check } (use repeatable(...)), got ${typeName(r)}`);
    else {
      if (typeof r.lastRun !== 'function') p.add(`${path}.lastRun${label}`, `expected a function returning the value to record, got ${typeName(r.lastRun)}`);
      if (r.check !== undefined && typeof r.check !== 'function') p.add(`${path}.check${label}`, `expected a function (lastRun) => boolean, got ${typeName(r.check)}`);
    }
  }
  if (s.kind !== undefined && typeof s.kind !== 'string') p.add(`${path}.kind${label}`, `expected a string, got ${typeName(s.kind)}`);
}

/** Fields allowed on a step of a kind: the common ones plus the kind's. */
export function checkStepFields(s: Record<string, unknown>, i: number, kindFields: readonly string[], p: Problems): void {
  const allowed = [...COMMON_STEP_FIELDS, ...kindFields];
  const label = typeof s.name === 'string' ? ` (step "${s.name}")` : '';
  for (const k of Object.keys(s)) {
    if (!allowed.includes(k)) {
      const guess = didYouMean(k, allowed);
      p.add(`steps[${i}].${k}${label}`, `unknown field${guess ? ` (did you mean "${guess}"?)` : `; allowed: ${allowed.filter((a) => a !== 'kind' && a !== 'repeatable').join(', ')}`}`);
    }
  }
}

function section(parent: Record<string, unknown>, key: string, allowed: string[], p: Problems, prefix = ''): Record<string, unknown> {
  const v = parent[key];
  if (v === undefined) return {};
  if (!isObject(v)) {
    p.add(prefix + key, `expected an object, got ${typeName(v)}`);
    return {};
  }
  keys(v, prefix + key + '.', allowed, p);
  return v;
}

function keys(obj: Record<string, unknown>, prefix: string, allowed: string[], p: Problems): void {
  for (const k of Object.keys(obj)) {
    if (allowed.includes(k)) continue;
    const guess = didYouMean(k, allowed);
    p.add(prefix + k, `unknown field${guess ? ` (did you mean "${guess}"?)` : `; allowed: ${allowed.join(', ')}`}`);
  }
}

function str(v: unknown, path: string, p: Problems): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string') {
    p.add(path, `expected a string, got ${typeName(v)}`);
    return undefined;
  }
  return v;
}

function int(v: unknown, path: string, p: Problems, min: number): number | undefined {
  if (v === undefined) return undefined;
  const n = typeof v === 'string' && /^\s*\d+\s*$/.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min) {
    p.add(path, `expected an integer >= ${min}, got ${typeName(v)}${typeof v === 'string' || typeof v === 'number' ? ` ${JSON.stringify(v)}` : ''}`);
    return undefined;
  }
  return n;
}

function dur(v: unknown, path: string, p: Problems): number | undefined {
  if (v === undefined) return undefined;
  const ms = parseDuration(v as string | number);
  if (ms === undefined) p.add(path, `expected a duration such as 500ms, 10s, 5m or a number of milliseconds, got ${JSON.stringify(v)}`);
  return ms;
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'function') return 'a function';
  if (v === undefined) return 'nothing';
  return `a ${typeof v}`;
}
