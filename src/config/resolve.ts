/**
 * From what a config module exported to a complete, read-only ResolvedConfig: shape
 * validation with key paths (every problem at once), defaults, environment overrides,
 * then CLI flags (which merge last).
 */
import { dirname, relative } from 'node:path';
import { accessSync, constants as fsConstants } from 'node:fs';
import type { Plugin, ResolvedConfig, StepDefinition } from './dsl.js';

export type { ResolvedConfig };
import { COMMON_STEP_FIELDS } from './dsl.js';
import { MAX_DURATION_MS, parseDuration } from './duration.js';
import { causeChain, passwordsIn, redact, rememberSecret } from '../errors.js';
import { didYouMean } from '../plan/graph.js';
import type { ConfigProblem } from '../errors.js';


/** Flags from the command line; strings as typed, validated here. */
export interface ConfigFlags {
  lockTimeout?: string | undefined;
  connectTimeout?: string | undefined;
  concurrency?: string | undefined;
  deadline?: string | undefined;
  /** --init-projections (true) / --no-init-projections (false). */
  initProjections?: boolean | undefined;
}

export const DEFAULTS = {
  dataDir: '.zsetup/pglite',
  poolMax: 10,
  idleTimeoutMs: 5 * 60_000,
  maxLifetimeMs: 30 * 60_000,
  connectTimeoutMs: 10_000,
  schema: 'zsetup',
  lockKind: 'advisory',
  /** The embedded PGlite's run lock: the data-dir lock (registered by the pool plugin). */
  pgliteLockKind: 'datadir',
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
  // Read once, defensively: a getter (or a Proxy) that throws is one more problem, not a crash.
  raw = plain(raw, '', p);
  keys(raw, '', TOP_KEYS, p);

  const db = section(raw, 'database', ['url', 'pglite', 'pool'], p);
  const pglite = section(db, 'pglite', ['dataDir'], p, 'database.');
  const poolCfg = section(db, 'pool', ['max', 'idleTimeout', 'maxLifetime', 'connectTimeout'], p, 'database.');
  const state = section(raw, 'state', ['schema'], p);
  const lock = section(raw, 'lock', ['kind', 'timeout', 'leaseTtl', 'name'], p);
  const apply = section(raw, 'apply', ['concurrency', 'ddlLockTimeout', 'retries', 'deadline', 'cleanupDeadline', 'initProjections', 'prefillWorkers'], p);

  // Where each overridable value came from: a flag wins over the environment, which wins
  // over the config; a problem names the one the value came from. An empty environment
  // variable counts as unset (templated Job manifests often leave them empty).
  const pick = (flag: string | undefined, flagName: string | undefined, envName: string, value: unknown, key: string): { value: unknown; key: string } => {
    if (flag !== undefined && flagName) return { value: flag, key: flagName };
    const e = env[envName];
    if (e !== undefined && e !== '') return { value: e, key: envName };
    return { value, key };
  };

  const urlFrom = pick(undefined, undefined, 'ZSETUP_DATABASE_URL', db.url, 'database.url');
  const url = urlFrom.key === 'database.url' ? str(db.url, 'database.url', p) : (urlFrom.value as string);
  // Remember the password before anything can print it (a later problem, a plugin's error).
  for (const pw of passwordsIn(url)) rememberSecret(pw);
  if (url !== undefined) checkUrl(url, urlFrom.key, p);

  const max = int(poolCfg.max, 'database.pool.max', p, 1) ?? DEFAULTS.poolMax;
  const conc = pick(flags.concurrency, '--concurrency', 'ZSETUP_CONCURRENCY', apply.concurrency, 'apply.concurrency');
  const concurrency = int(conc.value, conc.key, p, 1) ?? DEFAULTS.concurrency;
  const kindFrom = pick(undefined, undefined, 'ZSETUP_LOCK_KIND', lock.kind, 'lock.kind');
  // Checked against the registered lock kinds once the container is built (project.ts).
  const kind = kindFrom.value ?? (url ? DEFAULTS.lockKind : DEFAULTS.pgliteLockKind);
  if (typeof kind !== 'string' || kind === '') p.add(kindFrom.key, `expected the name of a lock kind such as "advisory" or "lease", got ${typeof kind === 'string' ? 'an empty string' : typeName(kind)}`);

  const schema = identifier(state.schema, 'state.schema', p) ?? DEFAULTS.schema;
  if (/^pg_/i.test(schema)) p.add('state.schema', `${shown(schema)} starts with "pg_": PostgreSQL reserves those schema names for the system; choose another`);
  const lockName = str(lock.name, 'lock.name', p);
  if (lockName !== undefined) {
    if (lockName === '') p.add('lock.name', 'must not be empty');
    else if (lockName.includes('\0')) p.add('lock.name', 'must not contain a NUL byte (PostgreSQL text cannot hold one)');
    // The lease lock keys a row by it: a B-tree entry holds at most ~2,700 bytes.
    else if (Buffer.byteLength(lockName) > 1024) p.add('lock.name', `is ${Buffer.byteLength(lockName)} bytes long; at most 1024 bytes (the lease lock stores it as an indexed key)`);
  }
  const dataDir = str(pglite.dataDir, 'database.pglite.dataDir', p);
  if (dataDir !== undefined) {
    if (dataDir.trim() === '') p.add('database.pglite.dataDir', 'must not be empty');
    else if (dataDir.includes('\0')) p.add('database.pglite.dataDir', 'must not contain a NUL byte');
  }
  const steps = Array.isArray(raw.steps) ? (arrayOf(raw.steps, 'steps', p) as StepDefinition[]) : [];
  if (raw.steps === undefined && !p.list.some((x) => x.path === 'steps')) p.add('steps', 'missing: declare the steps to run (steps: [step(...), ...])');
  else if (raw.steps !== undefined && !Array.isArray(raw.steps)) p.add('steps', `expected an array of steps, got ${typeName(raw.steps)}`);
  const plugins = Array.isArray(raw.plugins) ? (arrayOf(raw.plugins, 'plugins', p) as Plugin[]) : [];
  if (raw.plugins !== undefined && !Array.isArray(raw.plugins)) p.add('plugins', `expected an array of plugins, got ${typeName(raw.plugins)}`);
  // Keep each plugin's position in the config's array: problems name plugins[i] as written.
  const validPlugins: Plugin[] = [];
  const pluginIndex: number[] = [];
  plugins.forEach((pl, i) => {
    if (guarded(`plugins[${i}]`, p, () => checkPlugin(pl, `plugins[${i}]`, p))) {
      validPlugins.push(pl);
      pluginIndex.push(i);
    }
  });
  steps.forEach((s, i) => guarded(`steps[${i}]`, p, () => checkStepShape(s, i, p)));

  const lockTimeout = pick(flags.lockTimeout, '--lock-timeout', 'ZSETUP_LOCK_TIMEOUT', lock.timeout, 'lock.timeout');
  const connectTimeout = pick(flags.connectTimeout, '--connect-timeout', 'ZSETUP_CONNECT_TIMEOUT', poolCfg.connectTimeout, 'database.pool.connectTimeout');
  const deadline = pick(flags.deadline, '--deadline', 'ZSETUP_DEADLINE', apply.deadline, 'apply.deadline');
  const initFrom = pick(flags.initProjections === undefined ? undefined : String(flags.initProjections), flags.initProjections === false ? '--no-init-projections' : '--init-projections', 'ZSETUP_INIT_PROJECTIONS', apply.initProjections, 'apply.initProjections');
  const initProjections = bool(initFrom.value, initFrom.key, p) ?? true;
  const prefillWorkers = apply.prefillWorkers === undefined ? undefined : int(apply.prefillWorkers, 'apply.prefillWorkers', p, 1);

  const config: ResolvedConfig = {
    file,
    displayFile,
    dir: dirname(file),
    owner,
    database: {
      url,
      urlFrom: url === undefined ? undefined : urlFrom.key === 'database.url' ? `database.url in ${displayFile}` : urlFrom.key,
      pglite: { dataDir: dataDir !== undefined && dataDir.trim() !== '' && !dataDir.includes('\0') ? dataDir : DEFAULTS.dataDir },
      pool: {
        max,
        idleTimeoutMs: dur(poolCfg.idleTimeout, 'database.pool.idleTimeout', p) ?? DEFAULTS.idleTimeoutMs,
        maxLifetimeMs: dur(poolCfg.maxLifetime, 'database.pool.maxLifetime', p, { min: 1000 }) ?? DEFAULTS.maxLifetimeMs,
        connectTimeoutMs: dur(connectTimeout.value, connectTimeout.key, p) ?? DEFAULTS.connectTimeoutMs,
      },
    },
    state: { schema },
    lock: {
      kind: typeof kind === 'string' && kind !== '' ? kind : DEFAULTS.lockKind,
      kindFrom: kindFrom.value === undefined ? undefined : kindFrom.key,
      timeoutMs: dur(lockTimeout.value, lockTimeout.key, p) ?? DEFAULTS.lockTimeoutMs,
      leaseTtlMs: dur(lock.leaseTtl, 'lock.leaseTtl', p, { min: 1000, why: 'the lease is renewed every third of it' }) ?? DEFAULTS.leaseTtlMs,
      name: lockName !== undefined && lockName !== '' && !lockName.includes('\0') ? lockName : DEFAULTS.lockName,
    },
    apply: {
      concurrency,
      ddlLockTimeoutMs: dur(apply.ddlLockTimeout, 'apply.ddlLockTimeout', p, { limit: "the largest lock_timeout PostgreSQL accepts" }) ?? DEFAULTS.ddlLockTimeoutMs,
      retries: int(apply.retries, 'apply.retries', p, 0) ?? DEFAULTS.retries,
      deadlineMs: dur(deadline.value, deadline.key, p, { min: 1, why: 'a run needs some time' }),
      cleanupDeadlineMs: dur(apply.cleanupDeadline, 'apply.cleanupDeadline', p) ?? DEFAULTS.cleanupDeadlineMs,
      initProjections,
      prefillWorkers,
    },
    plugins: validPlugins,
    pluginIndex,
    steps,
    secrets: passwordsIn(url),
  };
  return { config, problems: p.list };
}

/**
 * A PostgreSQL URL, checked as the driver will read it, so a mistake is exit 2 naming
 * `key` (the config key or the environment variable) instead of a driver error later.
 * Messages never show the password.
 */
function checkUrl(url: string, key: string, p: Problems): void {
  const bad = (message: string) => p.add(key, `${message}: ${redact(url)}`);
  if (url.includes('\0')) return p.add(key, 'must not contain a NUL byte');
  if (!/^postgres(ql)?:\/\//i.test(url)) return bad('expected a URL like postgres://user:password@host:5432/db');
  if (/\s/.test(url)) return bad('must not contain spaces or line breaks (percent-encode a space as %20)');
  const rest = url.replace(/^postgres(ql)?:\/\//i, '');
  // What the driver does (pg-connection-string): the WHATWG URL parser, where the last '@'
  // ends the user and password.
  let parsed: URL | undefined;
  for (const candidate of [url, url.replace('@/', '@___DUMMY___/')]) {
    // pg-connection-string does the same for a socket host given as ?host= (no host part).
    try {
      parsed = new URL(candidate);
      break;
    } catch {
      parsed = undefined;
    }
  }
  const lastAt = rest.lastIndexOf('@');
  const userinfo = lastAt >= 0 ? rest.slice(0, lastAt) : '';
  if (!parsed) {
    const raw = /[#?/]/.exec(userinfo.slice(userinfo.indexOf(':') + 1));
    if (userinfo.includes(':') && raw) return bad(`a raw "${raw[0]}" in the password (percent-encode it: # as %23, ? as %3F, / as %2F)`);
    const host = (lastAt >= 0 ? rest.slice(lastAt + 1) : rest).split(/[/?#]/, 1)[0]!;
    const ports = host.startsWith('[') ? host.slice(host.indexOf(']') + 1).split(':').slice(1) : host.split(':').slice(1);
    if (ports.length > 1) return bad('more than one port after the host');
    if (ports.length === 1 && !/^\d+$/.test(ports[0]!)) return bad(`the port ${JSON.stringify(ports[0])} is not a number`);
    if (ports.length === 1 && Number(ports[0]) > 65535) return bad(`the port ${ports[0]} is out of range (1 to 65535)`);
    return bad('not a valid URL');
  }
  if (parsed.hash !== '' || url.includes('#')) return bad('a raw "#" in the URL: percent-encode it as %23 (the driver ignores everything after it)');
  if (parsed.port !== '' && (Number(parsed.port) < 1 || Number(parsed.port) > 65535)) return bad(`the port ${parsed.port} is out of range (1 to 65535)`);
  const decode = (what: string, text: string): string | undefined => {
    try {
      return decodeURIComponent(text);
    } catch {
      bad(`invalid percent-encoding in the ${what} (write a literal % as %25)`);
      return undefined;
    }
  };
  const user = decode('user name', parsed.username);
  if (decode('password', parsed.password) === undefined) return;
  const database = decode('database name', parsed.pathname.replace(/^\//, ''));
  if (user === undefined || database === undefined) return;
  if (decode('parameters', parsed.search) === undefined) return;
  if (user.includes('\0') || database.includes('\0')) return bad('a NUL byte (%00) in a name');
  if (Buffer.byteLength(database) > 63) p.add(key, `the database name is ${Buffer.byteLength(database)} bytes long; PostgreSQL names are at most 63 bytes`);
  if (Buffer.byteLength(user) > 63) p.add(key, `the user name is ${Buffer.byteLength(user)} bytes long; PostgreSQL names are at most 63 bytes`);
  // TLS parameters the driver reads while it parses the URL: a wrong one would otherwise
  // surface as "cannot reach PostgreSQL" after the whole connect timeout.
  const sslmode = parsed.searchParams.get('sslmode');
  if (sslmode !== null && !SSL_MODES.includes(sslmode)) bad(`sslmode=${JSON.stringify(sslmode).slice(1, -1)} is not one of ${SSL_MODES.join(', ')}`);
  for (const param of ['sslcert', 'sslkey', 'sslrootcert']) {
    const file = parsed.searchParams.get(param);
    if (file === null || file === '' || file === 'system') continue;
    try {
      accessSync(file, fsConstants.R_OK);
    } catch (err) {
      bad(`${param}: cannot read ${JSON.stringify(file)} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  }
}

/** The sslmode values the driver (pg-connection-string) and libpq know. */
const SSL_MODES = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full', 'no-verify'];

/** A PostgreSQL identifier from the config: at most 63 bytes (longer ones are truncated and collide), no NUL. */
function identifier(v: unknown, path: string, p: Problems): string | undefined {
  const s = str(v, path, p);
  if (s === undefined) return undefined;
  if (s === '') return p.add(path, 'must not be empty'), undefined;
  if (s.includes('\0')) return p.add(path, 'must not contain a NUL byte'), undefined;
  const bytes = Buffer.byteLength(s);
  if (bytes > 63) return p.add(path, `is ${bytes} bytes long; PostgreSQL identifiers are at most 63 bytes (a longer one is silently truncated and could collide with another)`), undefined;
  return s;
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
  if (typeof name !== 'string' || name.trim() === '') p.add(`${path}.name`, `expected a non-empty string, got ${typeof name === 'string' ? 'an empty one' : typeName(name)}`);
  // A name is an identity shown on one line and stored as PostgreSQL text (which cannot hold NUL).
  // C1 controls (a terminal reads U+009B as an escape), line and paragraph separators, and
  // the bidirectional overrides that make a name display as another ("Trojan Source").
  else if (/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/.test(name)) p.add(`${path}.name`, `must not contain control characters (NUL, line breaks, tabs, C1 controls, line separators, bidirectional overrides): ${JSON.stringify(name)}`);
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
  const o = plain(v, `${prefix}${key}.`, p);
  keys(o, prefix + key + '.', allowed, p);
  return o;
}

/**
 * A config object's own fields, each read once: a getter that throws (or a Proxy that does)
 * becomes a problem at its key path instead of a crash, and the value is left out.
 */
export function plain(obj: object, prefix: string, p: Problems): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  let names: string[];
  try {
    names = Object.keys(obj);
  } catch (err) {
    p.add(prefix.replace(/\.$/, ''), `its fields cannot be read: ${causeChain(err)}`);
    return out;
  }
  for (const k of names) {
    try {
      out[k] = (obj as Record<string, unknown>)[k];
    } catch (err) {
      p.add(`${prefix}${k}`, `reading it threw: ${causeChain(err)}`);
    }
  }
  return out;
}

/** A copy of an array from the config (a Proxy whose reads throw becomes a problem). */
function arrayOf(v: unknown[], path: string, p: Problems): unknown[] {
  try {
    return Array.from(v);
  } catch (err) {
    p.add(path, `reading it threw: ${causeChain(err)}`);
    return [];
  }
}

/** Run one item's check; if reading the item throws, that is the item's problem. */
export function guarded<T>(path: string, p: Problems, check: () => T): T | undefined {
  try {
    return check();
  } catch (err) {
    p.add(path, `reading it threw: ${causeChain(err)}`);
    return undefined;
  }
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

/** The largest integer accepted anywhere (PostgreSQL's int4, and far above any sane setting). */
const MAX_INT = 2 ** 31 - 1;

function int(v: unknown, path: string, p: Problems, min: number): number | undefined {
  if (v === undefined) return undefined;
  const n = typeof v === 'string' && /^\s*\d+\s*$/.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > MAX_INT) {
    p.add(path, `expected an integer from ${min} to ${MAX_INT}, got ${describeValue(v)}`);
    return undefined;
  }
  return n;
}

/** true/false, or their text (an environment variable): yes, no, 1, 0 too. */
function bool(v: unknown, path: string, p: Problems): boolean | undefined {
  if (v === undefined) return undefined;
  if (typeof v === 'boolean') return v;
  const t = typeof v === 'string' ? v.trim().toLowerCase() : undefined;
  if (t === 'true' || t === '1' || t === 'yes') return true;
  if (t === 'false' || t === '0' || t === 'no') return false;
  p.add(path, `expected true or false, got ${describeValue(v)}`);
  return undefined;
}

function dur(v: unknown, path: string, p: Problems, o: { min?: number; why?: string; limit?: string } = {}): number | undefined {
  if (v === undefined) return undefined;
  const ms = typeof v === 'number' || typeof v === 'string' ? parseDuration(v) : undefined;
  if (ms === undefined) {
    p.add(path, `expected a duration such as 500ms, 10s, 5m, 2h, 1d or a number of milliseconds, got ${describeValue(v)}`);
    return undefined;
  }
  if (ms > MAX_DURATION_MS) {
    p.add(path, `${shown(v as string | number)} is too long: at most ${MAX_DURATION_MS} ms (24d20h31m23s), ${o.limit ?? 'the longest timer Node.js can set'}`);
    return undefined;
  }
  if (o.min !== undefined && ms < o.min) {
    p.add(path, `${shown(v as string | number)} is too short: at least ${o.min === 1 ? 'more than 0' : `${o.min} ms`}${o.why ? ` (${o.why})` : ''}`);
    return undefined;
  }
  return ms;
}

/** A value as shown in a problem: strings and numbers as written, others by type. */
function describeValue(v: unknown): string {
  if (typeof v === 'string') return `a string ${shown(v)}`;
  if (typeof v === 'number') return `a number ${shown(v)}`;
  return typeName(v);
}

/** A string or number as written (long strings cut). */
function shown(v: string | number): string {
  if (typeof v === 'number') return String(v);
  return JSON.stringify(v.length > 80 ? `${v.slice(0, 77)}...` : v);
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
