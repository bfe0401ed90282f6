#!/usr/bin/env node
/**
 * Hostile-input probe for zsetup: runs the real CLI (dist/cli.js) against many
 * hostile cases in 8 families and prints PASS/FAIL per case with the reason, then a
 * summary per family. Re-runnable; creates and drops its own databases and folders.
 *
 *   node scripts/hostile/probe.mjs [--family NAME] [--case SUBSTRING] [--pglite]
 *                                  [--jobs N] [--verbose] [--list] [--out results.json]
 *
 * See scripts/hostile/README.md for what each family checks.
 */
import { spawn } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { constants as osConstants, loadavg, availableParallelism } from 'node:os';

const ROOT = fileURLToPath(new URL('../..', import.meta.url)).replace(/\/$/, '');
const requireRoot = createRequire(join(ROOT, 'package.json'));
const pg = requireRoot('pg');
const CLI = join(ROOT, 'dist/cli.js');
const TMP = join(ROOT, 'test/.tmp');
const ADMIN_URL = process.env.HOSTILE_ADMIN_URL ?? 'postgres://root@127.0.0.1:5432/postgres';
const PG_HOST = '127.0.0.1:5432';

// ---------------------------------------------------------------------------------------
// Command line
// ---------------------------------------------------------------------------------------
const argv = process.argv.slice(2);
const opt = { family: undefined, case: undefined, pglite: false, jobs: 2, verbose: false, list: false, out: undefined, keep: false };
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  const val = () => {
    const v = argv[++i];
    if (v === undefined) usage(`${a} needs a value`);
    return v;
  };
  if (a === '--family') opt.family = val();
  else if (a === '--case') opt.case = val();
  else if (a === '--pglite') opt.pglite = true;
  else if (a === '--jobs') opt.jobs = Math.max(1, Math.min(3, Number(val()) || 2));
  else if (a === '--verbose' || a === '-v') opt.verbose = true;
  else if (a === '--list') opt.list = true;
  else if (a === '--out') opt.out = val();
  else if (a === '--keep') opt.keep = true;
  else if (a === '--help' || a === '-h') usage();
  else usage(`unknown argument ${a}`);
}
function usage(msg) {
  if (msg) process.stderr.write(`probe: ${msg}\n`);
  process.stderr.write('usage: node scripts/hostile/probe.mjs [--family NAME] [--case SUBSTRING] [--pglite] [--jobs 1-3] [--verbose] [--list] [--out FILE] [--keep]\n');
  process.exit(msg ? 2 : 0);
}

if (!existsSync(CLI)) {
  process.stderr.write(`probe: ${CLI} is missing: run "npm run build" in ${ROOT} first\n`);
  process.exit(2);
}

// ---------------------------------------------------------------------------------------
// Small utilities
// ---------------------------------------------------------------------------------------
const rid = (n = 5) => randomBytes(n).toString('hex');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const esc = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const trimOut = (s, max = 600) => (s.length > max ? `${s.slice(0, max)}… [${s.length - max} more chars]` : s);
const ANSI = /\x1b\[[0-9;]*[A-Za-z]/g;
const lines = (s) => s.replace(ANSI, '').split('\n').filter((l) => l.trim() !== '');
const STACK = /^\s+at .+(\(|:\d+)/m;
// Node's own crash report (a failed native assertion, an abort): a stack trace too.
const NATIVE_STACK = /^-+ (Native|JavaScript) stack trace -+$|^\s*\d+: 0x[0-9a-f]+ /m;
const q = (s) => (/^[\w./:=@%+,-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

async function admin(sql, params) {
  const c = new pg.Client({ connectionString: ADMIN_URL });
  await c.connect();
  try {
    return (await c.query(sql, params)).rows;
  } finally {
    await c.end();
  }
}

function dbUrl(name, { pw, form = 'userinfo', host = PG_HOST, user = 'root' } = {}) {
  if (pw === undefined) return `postgres://${user}@${host}/${name}`;
  const enc = form.endsWith('-raw') ? pw : encodeURIComponent(pw);
  if (form.startsWith('query')) return `postgres://${user}@${host}/${name}?password=${enc}`;
  return `postgres://${user}:${enc}@${host}/${name}`;
}

/** Every form a password may show in: raw, URL-encoded, decoded, half-encoded. */
function secretForms(pw) {
  const out = new Set([pw, encodeURIComponent(pw)]);
  try {
    out.add(decodeURIComponent(pw));
  } catch {}
  out.add(pw.replace(/@/g, '%40'));
  out.add(pw.replace(/#/g, '%23'));
  return [...out].filter((s) => s.length >= 4);
}

const cleanupTasks = new Set();
const liveChildren = new Set();
let interrupted = false;
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, async () => {
    const code = sig === 'SIGINT' ? 130 : 143;
    if (interrupted) process.exit(code);
    interrupted = true;
    process.stderr.write(`\nprobe: ${sig}, cleaning up…\n`);
    for (const c of liveChildren) {
      try {
        c.kill('SIGKILL');
      } catch {}
    }
    for (const t of [...cleanupTasks]) await t().catch(() => undefined);
    process.exit(code);
  });
}

// ---------------------------------------------------------------------------------------
// Running the CLI
// ---------------------------------------------------------------------------------------
function childEnv(extra = {}) {
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith('ZSETUP_') || k === 'FORCE_COLOR' || k === 'NO_COLOR' || k === 'CI' || k === 'HZ_N' || k === 'HZ_SHAPE' || k === 'HZ_FAIL_FIRST') delete env[k];
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined || v === null) delete env[k];
    else env[k] = String(v);
  }
  return env;
}

/**
 * Spawn the CLI. `onLine(line, ctl)` sees stdout lines as they come; `onSpawn(child, ctl)`
 * may do anything with the child (close its stdout, signal it). Resolves on exit.
 */
function spawnCli(args, { cwd, env, timeoutMs = 30_000, onLine, onSpawn }) {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [CLI, ...args], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    liveChildren.add(child);
    let stdout = '';
    let stderr = '';
    let buf = '';
    let hung = false;
    const ctl = {
      child,
      sigAt: undefined,
      signals: [],
      elapsed: () => performance.now() - t0,
      kill(sig) {
        if (ctl.sigAt === undefined) ctl.sigAt = performance.now() - t0;
        ctl.signals.push(sig);
        try {
          child.kill(sig);
        } catch {}
      },
    };
    child.stdout.on('error', () => undefined);
    child.stderr.on('error', () => undefined);
    child.stdout.on('data', (d) => {
      stdout += d;
      if (!onLine) return;
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const l = buf.slice(0, i);
        buf = buf.slice(i + 1);
        try {
          onLine(l, ctl);
        } catch {}
      }
    });
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      hung = true;
      try {
        child.kill('SIGKILL');
      } catch {}
    }, timeoutMs);
    onSpawn?.(child, ctl);
    child.on('close', (code, signal) => {
      liveChildren.delete(child);
      clearTimeout(timer);
      const ms = performance.now() - t0;
      const exit = code ?? (signal ? 128 + (osConstants.signals[signal] ?? 0) : -1);
      resolve({ code, signal, exit, stdout, stderr, ms, hung, sigAt: ctl.sigAt, timeoutMs });
    });
  });
}

function parseJsonLines(stdout) {
  const objs = [];
  const bad = [];
  for (const l of stdout.split('\n')) {
    if (l.trim() === '') continue;
    try {
      objs.push(JSON.parse(l));
    } catch {
      bad.push(l);
    }
  }
  return { objs, bad };
}

/** Messages a user reads: stderr, failure/blocked lines on stdout, JSON message fields. */
function messageTexts(res, json) {
  const out = [];
  if (json) {
    const { objs } = parseJsonLines(res.stdout);
    const fields = { error: ['message', 'hint'], 'step.failed': ['error'], 'step.retry': ['error'], 'step.blocked': ['reason'], 'step.interrupted': ['reason'], 'run.stopping': ['reason'], 'run.finished': ['stop'] };
    for (const o of objs) {
      if (!o || typeof o !== 'object') continue;
      for (const k of fields[o.type] ?? []) if (k in o) out.push({ where: `json ${o.type}.${k}`, text: String(o[k]) });
      if (o.type === 'error' && Array.isArray(o.problems)) for (const p of o.problems) out.push({ where: 'json error.problems[].message', text: String(p?.message) });
    }
    for (const l of lines(res.stderr)) out.push({ where: 'stderr', text: l });
  } else {
    for (const l of lines(res.stderr)) out.push({ where: 'stderr', text: l });
    for (const l of lines(res.stdout)) if (/^\s*[✗■-] /.test(l) || /^\s*↻ /.test(l)) out.push({ where: 'stdout', text: l });
  }
  return out;
}

function badMessage(text) {
  const t = text.trim();
  if (t === '') return 'empty message';
  if (/\[object Object\]/.test(t)) return '[object Object] in message';
  if (/Aborted\(\)/.test(t)) return 'Aborted() in message';
  if (/(^|:\s*)undefined$/.test(t)) return 'message is "undefined"';
  if (/(failed|threw|rejected|failed to register|failed to load)\s*:\s*$/i.test(t)) return 'empty message after the colon';
  return undefined;
}

// ---------------------------------------------------------------------------------------
// A case's context: scratch folder, database, CLI runs and checks
// ---------------------------------------------------------------------------------------
class T {
  constructor(c) {
    this.c = c;
    this.failures = [];
    this.notes = [];
    this.runs = [];
    this.dirty = false;
    this.pw = c.pw === undefined ? 'S3cr3t-pw_42' : c.pw;
    this.secrets = c.secrets ?? (this.pw ? secretForms(this.pw) : []);
  }

  async setup() {
    this.dir = join(TMP, `hostile-${rid()}`);
    mkdirSync(this.dir, { recursive: true });
    cleanupTasks.add((this._rmDir = async () => rmSync(this.dir, { recursive: true, force: true })));
    if (this.c.db === 'pg') {
      this.dbName = `hz_${rid()}`;
      await admin(`CREATE DATABASE ${this.dbName}`);
      cleanupTasks.add((this._dropDb = () => admin(`DROP DATABASE IF EXISTS ${this.dbName} WITH (FORCE)`)));
      this.plainUrl = dbUrl(this.dbName);
      this.url = this.c.urlFor ? this.c.urlFor(this) : dbUrl(this.dbName, { pw: this.pw || undefined, form: this.c.pwForm });
      this.envUrl = this.c.envUrl === false ? undefined : this.url;
    }
    if (this.c.db === 'pglite' && this.c.copyTemplate !== false) cpSync(await pgliteTemplate(), join(this.dir, 'pgdata'), { recursive: true });
  }

  async teardown() {
    if (this._dropDb) {
      await this._dropDb().catch(() => undefined);
      cleanupTasks.delete(this._dropDb);
    }
    if (this._rmDir && !opt.keep) {
      try {
        chmodSync(this.dir, 0o755);
      } catch {}
      await this._rmDir().catch(() => undefined);
      cleanupTasks.delete(this._rmDir);
    }
  }

  write(files) {
    for (const [p, content] of Object.entries(files)) {
      mkdirSync(dirname(join(this.dir, p)), { recursive: true });
      writeFileSync(join(this.dir, p), content);
    }
  }

  fail(reason, details = {}) {
    this.failures.push({ reason, ...details });
  }
  check(cond, reason, details) {
    if (!cond) this.fail(reason, details);
    return Boolean(cond);
  }
  note(s) {
    this.notes.push(s);
  }

  cmdline(args, env) {
    const shownEnv = Object.entries(env ?? {})
      .filter(([k, v]) => v !== undefined && v !== null)
      .filter(([k]) => k.startsWith('ZSETUP_') || ['CI', 'FORCE_COLOR', 'HZ_N', 'HZ_SHAPE', 'HZ_FAIL_FIRST'].includes(k))
      .map(([k, v]) => `${k}=${q(String(v))}`);
    return [...shownEnv, 'zsetup', ...args.map(q)].join(' ');
  }

  /**
   * Run the CLI and check everything that applies to this run:
   * o.expect: allowed exit codes; o.err: regexes that must each match one line of the
   * error output (stderr, or the JSON error object with --json); o.maxMs: wall-clock bound;
   * o.timeoutMs: kill (and FAIL as hung) after this long.
   */
  async cli(args, o = {}) {
    const json = args.includes('--json');
    const env = childEnv({ ZSETUP_DATABASE_URL: o.url !== undefined ? o.url : this.envUrl, ...(o.env ?? {}) });
    const cmd = this.cmdline(args, { ZSETUP_DATABASE_URL: env.ZSETUP_DATABASE_URL, ...(o.env ?? {}) });
    const label = o.label ?? args.filter((a) => !a.startsWith('-')).join(' ') ?? 'zsetup';
    const res = await spawnCli(args, { cwd: o.cwd ?? this.dir, env, timeoutMs: o.timeoutMs ?? 30_000, onLine: o.onLine, onSpawn: o.onSpawn });
    res.cmd = cmd;
    res.label = label;
    res.json = () => parseJsonLines(res.stdout).objs;
    this.runs.push(res);
    if (opt.verbose) {
      process.stdout.write(`    $ ${cmd}  -> exit ${res.exit}${res.signal ? ` (${res.signal})` : ''} in ${Math.round(res.ms)} ms\n`);
      for (const l of res.stdout.split('\n').slice(0, 30)) if (l) process.stdout.write(`      out| ${l}\n`);
      for (const l of res.stderr.split('\n').slice(0, 30)) if (l) process.stdout.write(`      err| ${l}\n`);
    }
    const d = (extra) => ({ cmd, expected: o.expect, actual: res.exit, ...extra });
    if (res.hung) this.fail(`hung: still running after ${Math.round(res.timeoutMs / 1000)} s, killed`, d({ excerpt: tail(res) }));
    if (o.expect && !res.hung && !o.expect.includes(res.exit)) {
      this.fail(`exit code ${res.exit}${res.signal ? ` (killed by ${res.signal})` : ''}, expected ${o.expect.join(' or ')}`, d({ excerpt: tail(res) }));
    }
    // No stack trace, in stdout or stderr.
    for (const [name, s] of [['stdout', res.stdout], ['stderr', res.stderr]]) {
      const m = STACK.exec(s) ?? NATIVE_STACK.exec(s);
      const at = m ? m.index : s.indexOf('node:internal');
      if (at >= 0) {
        const n = s.slice(0, at).split('\n').length;
        const ctx = s.split('\n').slice(Math.max(0, n - 3), n + 1).map((l) => trimOut(l, 300)).join('\n');
        this.fail(`stack trace on ${name}`, d({ excerpt: ctx }));
      }
    }
    // No secret anywhere.
    this.checkSecrets(`${label} stdout`, res.stdout, cmd);
    this.checkSecrets(`${label} stderr`, res.stderr, cmd);
    // --json: one object per line, nothing else.
    if (json && !o.jsonLoose) {
      const { bad } = parseJsonLines(res.stdout);
      if (bad.length) this.fail('--json: stdout has lines that are not JSON', d({ excerpt: bad.slice(0, 3).join('\n') }));
    }
    // Readable messages.
    if (o.messages !== false) {
      for (const m of messageTexts(res, json)) {
        const why = badMessage(m.text);
        if (why && !(m.where === 'stderr' && m.text.trim() === '' )) {
          this.fail(`unreadable message (${why}) on ${m.where}`, d({ excerpt: m.text }));
          break;
        }
      }
      for (const s of [res.stdout, res.stderr]) {
        for (const needle of ['[object Object]', 'Aborted()']) {
          const i = s.indexOf(needle);
          if (i < 0) continue;
          const line = lineAt(s, i);
          if (!this.failures.some((f) => f.excerpt === line || f.excerpt === trimOut(line, 300))) this.fail(`"${needle}" in output`, d({ excerpt: trimOut(line, 300) }));
        }
      }
      if (!res.hung && res.exit !== 0 && res.exit !== 10 && o.expect && !o.expect.includes(0)) {
        const errText = json ? res.stdout + res.stderr : res.stderr;
        if (lines(errText).length === 0) this.fail('failed without a single line of error output', d({ excerpt: tail(res) }));
      }
    }
    if (o.err && !res.hung) {
      const pool = json ? [...lines(res.stderr), ...jsonErrorLines(res.stdout)] : lines(o.errOnStdout ? res.stdout + '\n' + res.stderr : res.stderr);
      const missing = o.err.filter((re) => !pool.some((l) => re.test(l)));
      if (missing.length) this.fail(`no line matching ${missing.join(' , ')} on ${json ? 'stdout (JSON)' : o.errOnStdout ? 'stdout or stderr' : 'stderr'}`, d({ excerpt: tail(res, json) }));
    }
    if (o.maxMs !== undefined && !res.hung && res.ms > o.maxMs) {
      // The machine is shared (2 vCPUs, other test runs): time it once more, keep the best.
      let best = res.ms;
      if (!o.expect || o.expect.includes(res.exit)) {
        const again = await spawnCli(args, { cwd: o.cwd ?? this.dir, env, timeoutMs: o.timeoutMs ?? 30_000 });
        best = Math.min(best, again.ms);
        this.note(`re-timed: ${Math.round(res.ms)} ms, then ${Math.round(again.ms)} ms`);
      }
      if (best > o.maxMs) this.fail(`took ${Math.round(best)} ms (best of two), bound ${Math.round(o.maxMs)} ms`, d({}));
    }
    if (res.exit !== 2 || res.hung) this.dirty = true;
    else if (this.c.db === 'pg' && !this.dirty && o.untouched !== false) await this.expectUntouched(cmd);
    return res;
  }

  checkSecrets(where, text, cmd) {
    for (const s of this.secrets) {
      const i = text.indexOf(s);
      if (i >= 0) {
        const line = lineAt(text, i);
        this.fail(`password shown in ${where}`, { cmd, excerpt: line.length > 400 ? `…${text.slice(Math.max(0, i - 150), i + 150)}…` : line });
        return;
      }
    }
  }

  // --- database checks ------------------------------------------------------------
  async q(sql, params) {
    const c = new pg.Client({ connectionString: this.plainUrl });
    await c.connect();
    try {
      return (await c.query(sql, params)).rows;
    } finally {
      await c.end();
    }
  }

  async expectUntouched(cmd) {
    const rows = await this.q(
      `SELECT 'schema ' || nspname AS what FROM pg_namespace WHERE nspname NOT IN ('public', 'information_schema') AND nspname NOT LIKE 'pg\\_%'
       UNION ALL SELECT 'table public.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public'`,
    );
    if (rows.length) this.fail('exit 2 but the database was changed', { cmd, excerpt: rows.map((r) => r.what).join(', ') });
  }

  async tableExists(name) {
    const r = await this.q('SELECT to_regclass($1) IS NOT NULL AS e', [name]);
    return r[0].e;
  }

  /** Journal rows (id order), from the table (PostgreSQL) or `status --history --json` (PGlite). */
  async journal(schema = 'zsetup') {
    if (this.c.db === 'pg') {
      const ok = await this.q('SELECT to_regclass($1) IS NOT NULL AS e', [`"${schema.replace(/"/g, '""')}".journal`]);
      if (!ok[0].e) return null;
      return this.q(`SELECT id, step, event, owner, error FROM "${schema.replace(/"/g, '""')}".journal ORDER BY id`);
    }
    const r = await this.cli(['status', '--history', '--json'], { expect: [0], label: 'status --history --json (journal)', timeoutMs: 60_000 });
    if (r.exit !== 0) return null;
    return r.json().filter((o) => o && o.step !== undefined);
  }

  latestOf(rows, step) {
    const mine = (rows ?? []).filter((r) => r.step === step);
    return mine[mine.length - 1];
  }

  /** No journal row may carry the password; status --history (text and JSON) must not show it. */
  async historyChecks(rows) {
    if (rows) for (const r of rows) if (r.error) this.checkSecrets(`journal error of "${r.step}"`, r.error, 'SELECT error FROM zsetup.journal');
    await this.cli(['status', '--history'], { expect: [0], label: 'status --history', timeoutMs: 60_000 });
    if (this.c.db === 'pg') await this.cli(['status', '--history', '--json'], { expect: [0], label: 'status --history --json', timeoutMs: 60_000 });
  }

  /** A step that failed: recorded failed (readable), dependants not run, `status` shows it. */
  async expectFailed(step, { rows, contains = [], depSteps = [], depTables = [], status = true } = {}) {
    rows ??= await this.journal();
    if (!rows) return this.fail(`journal table missing: step "${step}" was not recorded failed`);
    const latest = this.latestOf(rows, step);
    if (!latest || latest.event !== 'failed') {
      this.fail(`journal: latest record of "${step}" is ${latest ? `"${latest.event}"` : 'missing'}, expected "failed"`, {
        excerpt: rows.filter((r) => r.step === step).map((r) => `${r.id ?? ''} ${r.step} ${r.event} ${r.error ?? ''}`).join('\n') || '(no rows for this step)',
      });
    } else {
      const why = badMessage(String(latest.error ?? ''));
      if (why) this.fail(`journal: error of failed "${step}" is unreadable (${why})`, { excerpt: JSON.stringify(latest.error) });
      for (const c of contains) if (!String(latest.error ?? '').includes(c)) this.fail(`journal: error of "${step}" does not contain ${JSON.stringify(c)}`, { excerpt: JSON.stringify(latest.error) });
    }
    for (const d of depSteps) {
      const r = rows.filter((x) => x.step === d);
      if (r.length) this.fail(`dependant "${d}" ran after "${step}" failed`, { excerpt: r.map((x) => `${x.step} ${x.event}`).join('\n') });
    }
    if (this.c.db === 'pg') for (const tb of depTables) if (await this.tableExists(tb)) this.fail(`dependant ran: table ${tb} exists`);
    if (status) {
      const st = await this.cli(['status'], { expect: [0], label: 'status', timeoutMs: 60_000 });
      const line = lines(st.stdout).find((l) => l.trim().split(/\s+/)[0] === step);
      if (!line || !/\bfailed\b/.test(line)) this.fail(`status does not show "${step}" as failed`, { cmd: st.cmd, excerpt: line ?? tail(st) });
    }
  }

  /** Never exit 0 with a step not done; never leave a step `started` after a run that ended. */
  async expectConsistent(res, rows, declared) {
    rows ??= await this.journal();
    const started = declared.filter((s) => this.latestOf(rows, s)?.event === 'started');
    if (started.length) this.fail(`step left "started" after the run ended (exit ${res.exit})`, { cmd: res.cmd, excerpt: started.join(', ') });
    if (res.exit === 0) {
      const notDone = declared.filter((s) => this.latestOf(rows, s)?.event !== 'done');
      if (notDone.length)
        this.fail(`exit 0 but steps not recorded done`, { cmd: res.cmd, excerpt: notDone.map((s) => `${s}: ${this.latestOf(rows, s)?.event ?? 'no record'}`).join(', ') });
    }
  }
}

/** The line of `text` around position `i` (linear time, whatever the line's length). */
function lineAt(text, i) {
  const start = text.lastIndexOf('\n', i) + 1;
  const end = text.indexOf('\n', i);
  return text.slice(start, end < 0 ? text.length : end);
}

function tail(res, json = false) {
  const l = [...lines(res.stderr).map((x) => `stderr| ${trimOut(x, 400)}`), ...lines(res.stdout).map((x) => `stdout| ${trimOut(x, 400)}`)];
  if (!json && l.length > 14) return [...l.slice(0, 8), '…', ...l.slice(-5)].join('\n');
  return l.slice(0, 14).join('\n') || '(no output)';
}

function jsonErrorLines(stdout) {
  const out = [];
  for (const o of parseJsonLines(stdout).objs) {
    if (!o || typeof o !== 'object') continue;
    if (o.type === 'error') {
      out.push(String(o.message ?? ''));
      for (const p of o.problems ?? []) out.push([p.file, p.path, p.message].filter((x) => x !== '' && x !== undefined).join(': '));
      out.push(...String(o.message ?? '').split('\n'));
    }
    if (o.type === 'step.failed' || o.type === 'step.blocked') out.push(`${o.step}: ${o.error ?? o.reason}`);
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// PGlite: one valid data dir, made once per probe run, copied per case
// ---------------------------------------------------------------------------------------
let templatePromise;
function pgliteTemplate() {
  templatePromise ??= (async () => {
    const dir = join(TMP, `hostile-${rid()}-pglite-template`);
    mkdirSync(dir, { recursive: true });
    cleanupTasks.add(async () => rmSync(dir, { recursive: true, force: true }));
    // Its own state schema, so copies start with an empty zsetup journal.
    writeFileSync(join(dir, 'zsetup.config.ts'), `import { defineConfig, step } from 'zsetup';\nexport default defineConfig({ database: { pglite: { dataDir: 'pgdata' } }, state: { schema: 'hz_template' }, steps: [step('t0', { sql: 'SELECT 1' })] });\n`);
    const t0 = performance.now();
    const r = await spawnCli(['apply'], { cwd: dir, env: childEnv(), timeoutMs: 120_000 });
    if (r.exit !== 0) throw new Error(`could not make a PGlite data dir (exit ${r.exit}): ${r.stderr || r.stdout}`);
    log(`  (PGlite template data dir made in ${Math.round((performance.now() - t0) / 100) / 10} s)`);
    return join(dir, 'pgdata');
  })();
  return templatePromise;
}

// ---------------------------------------------------------------------------------------
// Case registry
// ---------------------------------------------------------------------------------------
const FAMILIES = ['step-outcome', 'secrets', 'all-problems', 'limits', 'loading', 'big-inputs', 'stops', 'config-mistakes'];
const CASES = [];
function add(c) {
  if (!FAMILIES.includes(c.family)) throw new Error(`unknown family ${c.family}`);
  c.id = `${c.family}/${c.name}`;
  if (CASES.some((x) => x.id === c.id)) throw new Error(`duplicate case ${c.id}`);
  CASES.push(c);
}

const IMPORTS = `import { defineConfig, step, repeatable, file } from 'zsetup';\n`;
const CFG = 'zsetup.config.ts';

// =======================================================================================
// 1. Step outcome
// =======================================================================================
const F1_DECLARED = ['s0', 'bad', 'dep', 'dep2'];
function f1Config(badStep, { pglite = false, apply = '' } = {}) {
  return `${IMPORTS}import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
// Counts attempts in a file: database writes of a failed attempt roll back.
const attempt = (): number => {
  const f = join(process.cwd(), 'attempts.txt');
  const n = existsSync(f) ? Number(readFileSync(f, 'utf8')) : 0;
  writeFileSync(f, String(n + 1));
  return n + 1;
};
void attempt;
export default defineConfig({
  ${pglite ? "database: { pglite: { dataDir: 'pgdata' } }," : ''}
  apply: { retries: 2${apply} },
  steps: [
    step('s0', { sql: 'CREATE TABLE s0_t (x int)' }),
    ${badStep},
    step('dep', { sql: 'CREATE TABLE dep_t (x int)' }),
    step('dep2', { after: ['dep'], sql: 'CREATE TABLE dep2_t (x int)' }),
  ],
});
`;
}
const fn = (body) => `step('bad', { run: ${body} })`;

/** kind: fail (exit 1, failed), either (0 with done or 1 with failed), retried (0 after a retry), retryExhausted, never. */
const F1 = [
  { name: 'reject-undefined', step: fn('async () => { throw undefined; }'), json: true },
  { name: 'reject-null', step: fn('async () => { throw null; }') },
  { name: 'reject-0', step: fn('async () => { throw 0; }'), contains: ['0'] },
  { name: 'reject-42', step: fn('async () => { throw 42; }'), contains: ['42'] },
  { name: 'reject-empty-string', step: fn("async () => { throw ''; }") },
  { name: 'reject-string', step: fn("async () => { throw 'boom-string'; }"), contains: ['boom-string'] },
  { name: 'reject-plain-object', step: fn("async () => { throw { message: 'plain object message', code: 'E1' }; }"), contains: ['plain object message', 'E1'], json: true },
  { name: 'reject-empty-object', step: fn('async () => { throw {}; }') },
  { name: 'reject-toString-throws', step: fn("async () => { throw { toString() { throw new Error('toString exploded'); } }; }"), json: true },
  { name: 'reject-message-getter-throws', step: fn("async () => { throw { get message() { throw new Error('getter exploded'); } }; }") },
  { name: 'reject-symbol', step: fn("async () => { throw Symbol('sym-thrown'); }"), contains: ['sym-thrown'] },
  { name: 'reject-error-empty-message', step: fn("async () => { throw new Error(''); }") },
  { name: 'reject-bigint', step: fn('async () => { throw 42n; }'), contains: ['42'] },
  { name: 'reject-null-prototype-object', step: fn("async () => { const o = Object.create(null); o.message = 'nullproto message'; throw o; }"), contains: ['nullproto message'], json: true },
  { name: 'reject-circular-cause', step: fn("async () => { const e: any = new Error('circular cause'); e.cause = e; throw e; }"), contains: ['circular cause'] },
  { name: 'return-rejected-undefined', step: fn('() => Promise.reject(undefined)') },
  { name: 'sync-throw-undefined', step: fn('() => { throw undefined; }') },
  { name: 'thenable-rejects-nothing', step: fn('() => ({ then(_ok: any, no: any) { no(); } }) as any') },
  { name: 'db-rollback-then-return', step: fn("async (ctx) => { await ctx.db.raw('CREATE TABLE bad_t (x int)'); await (ctx.db as any).rollback(); }"), noTables: ['bad_t'] },
  { name: 'db-rollback-error-then-return', step: fn("async (ctx) => { await (ctx.db as any).rollback(new Error('rolled back by the step')); }"), contains: ['rolled back by the step'] },
  { name: 'db-commit-then-return', kind: 'either', step: fn("async (ctx) => { await ctx.db.raw('CREATE TABLE bad_t (x int)'); await (ctx.db as any).commit(); }") },
  { name: 'nested-trx-rollback-then-return', kind: 'either', step: fn("async (ctx) => { await (ctx.db as any).transaction(async (trx: any) => { await trx.raw('CREATE TABLE bad_inner_t (x int)'); await trx.rollback(); }); }") },
  { name: 'nested-trx-throw-undefined', kind: 'either', step: fn('async (ctx) => { await (ctx.db as any).transaction(async () => { throw undefined; }); }') },
  { name: 'process-exit-0', step: fn("async (ctx) => { await ctx.db.raw('SELECT 1'); process.exit(0); }"), json: true },
  { name: 'process-exit-1', step: fn('async () => { process.exit(1); }') },
  { name: 'process-exit-noarg', step: fn('async () => { process.exit(); }') },
  { name: 'process-exit-2', step: fn('async () => { process.exit(2); }') },
  { name: 'late-throw-0ms', step: fn("async (ctx) => { setTimeout(() => { throw new Error('late'); }, 0); await ctx.db.raw('SELECT pg_sleep(0.5)'); }"), json: true },
  { name: 'late-throw-200ms', step: fn("async (ctx) => { setTimeout(() => { throw new Error('late 200'); }, 200); await ctx.db.raw('SELECT pg_sleep(1)'); }") },
  { name: 'late-throw-undefined', step: fn("async (ctx) => { setTimeout(() => { throw undefined; }, 50); await ctx.db.raw('SELECT pg_sleep(0.5)'); }") },
  { name: 'unawaited-reject-while-awaiting', step: fn("async (ctx) => { Promise.reject(new Error('unawaited x')); await ctx.db.raw('SELECT pg_sleep(0.3)'); }") },
  { name: 'unawaited-reject-then-return', step: fn("async () => { Promise.reject(new Error('unawaited y')); }") },
  { name: 'never-settles', kind: 'never', step: fn('() => new Promise(() => {})'), timeoutMs: 30_000 },
  { name: 'repeatable-lastRun-throws-undefined', step: "repeatable('bad', { lastRun: () => { throw undefined; }, sql: 'CREATE TABLE bad_t (x int)' })" },
  { name: 'repeatable-lastRun-bigint', step: "repeatable('bad', { lastRun: () => 1n as any, sql: 'CREATE TABLE bad_t (x int)' })", kind: 'either' },
  { name: 'repeatable-lastRun-circular', step: "repeatable('bad', { lastRun: () => { const o: any = {}; o.self = o; return o; }, sql: 'CREATE TABLE bad_t (x int)' })", kind: 'either' },
  { name: 'sql-division-by-zero', step: "step('bad', { sql: 'SELECT 1/0' })", contains: ['division by zero'] },
  { name: 'sql-raise-empty-message', step: "step('bad', { sql: \"DO $$ BEGIN RAISE EXCEPTION USING MESSAGE = ''; END $$\" })" },
  { name: 'transient-plain-object-40001-retried', kind: 'retried', step: fn("async (ctx) => { if (attempt() === 1) throw { code: '40001', message: 'serialization' }; await ctx.db.raw('CREATE TABLE bad_t (x int)'); }") },
  { name: 'transient-plain-object-40P01-retried', kind: 'retried', step: fn("async (ctx) => { if (attempt() === 1) throw { code: '40P01', message: 'deadlock' }; await ctx.db.raw('CREATE TABLE bad_t (x int)'); }") },
  { name: 'transient-plain-object-no-message-retried', kind: 'retried', step: fn("async (ctx) => { if (attempt() === 1) throw { code: '40001' }; await ctx.db.raw('CREATE TABLE bad_t (x int)'); }") },
  { name: 'transient-error-40001-retried', kind: 'retried', step: fn("async (ctx) => { if (attempt() === 1) throw Object.assign(new Error('serialization'), { code: '40001' }); await ctx.db.raw('CREATE TABLE bad_t (x int)'); }") },
  { name: 'transient-plain-object-in-cause-retried', kind: 'retried', step: fn("async (ctx) => { if (attempt() === 1) throw new Error('wrapped', { cause: { code: '40001', message: 'serialization' } }); await ctx.db.raw('CREATE TABLE bad_t (x int)'); }") },
  { name: 'transient-plain-object-always', kind: 'retryExhausted', step: fn("async () => { attempt(); throw { code: '40001', message: 'serialization always' }; }"), contains: ['serialization always', '40001'] },
];

function addF1(v, db) {
  const suffix = db === 'pglite' ? '@pglite' : '';
  const variants = v.json ? [false, true] : [false];
  for (const json of variants) {
    add({
      family: 'step-outcome',
      name: `${v.name}${json ? '+json' : ''}${suffix}`,
      db,
      pglite: db === 'pglite',
      desc: `function/SQL step outcome: ${v.name}`,
      async run(t) {
        const pgl = db === 'pglite';
        t.write({ [CFG]: f1Config(v.step, { pglite: pgl }) });
        const kind = v.kind ?? 'fail';
        const args = ['apply', ...(json || kind === 'retried' || kind === 'retryExhausted' ? ['--json'] : [])];
        const expect = { fail: [1], either: [0, 1], retried: [0], retryExhausted: [1], never: [1, 143] }[kind];
        // The failure itself must be shown: `✗ bad: ...failed...` (text) or a step.failed event (--json).
        const err = kind === 'never' ? [/\bbad\b/] : kind === 'fail' || kind === 'retryExhausted' ? [/\bbad: .*failed/] : undefined;
        const res = await t.cli(args, { expect, timeoutMs: v.timeoutMs ?? (pgl ? 60_000 : 30_000), err, errOnStdout: true });
        if (kind === 'either' && res.exit === 1) t.check(lines(res.stdout + '\n' + res.stderr).some((l) => /\bbad: .*failed/.test(l)) || jsonErrorLines(res.stdout).some((l) => /\bbad: .*failed/.test(l)), 'exit 1, but no line shows that step "bad" failed', { cmd: res.cmd, excerpt: tail(res, json) });
        if (res.hung) return;
        const rows = await t.journal();
        if (!rows) {
          t.fail('journal missing after apply', { cmd: res.cmd, excerpt: tail(res) });
          return;
        }
        await t.expectConsistent(res, rows, F1_DECLARED);
        if (kind === 'fail' || kind === 'retryExhausted' || (kind === 'either' && res.exit === 1) || (kind === 'never' && res.exit === 1)) {
          await t.expectFailed('bad', { rows, contains: v.contains, depSteps: ['dep', 'dep2'], depTables: ['dep_t', 'dep2_t'] });
          if (t.c.db === 'pg') for (const tb of v.noTables ?? []) if (await t.tableExists(tb)) t.fail(`work of the failed step committed: table ${tb} exists`);
        }
        if (kind === 'either' && res.exit === 0) t.note('exit 0 (accepted: step recorded done)');
        if (kind === 'retried' || kind === 'retryExhausted') {
          const retries = res.json().filter((e) => e.type === 'step.retry' && e.step === 'bad');
          t.check(retries.length >= 1, 'transient fault was not retried: no step.retry event for "bad" in --json output', { cmd: res.cmd, excerpt: tail(res, true) });
          const n = existsSync(join(t.dir, 'attempts.txt')) ? Number(readFileSync(join(t.dir, 'attempts.txt'), 'utf8')) : 0;
          const want = kind === 'retried' ? 2 : 3;
          t.check(n === want, `the step ran ${n} time(s), expected ${want}`, { cmd: res.cmd });
          if (kind === 'retried' && res.exit === 0 && t.c.db === 'pg') t.check(await t.tableExists('dep2_t'), 'dependants did not run after the retry succeeded');
        }
        await t.historyChecks(rows);
      },
    });
  }
}
for (const v of F1) addF1(v, 'pg');
// The brief asks for the never-settling step on PGlite too (nothing keeps the loop alive there).
add({
  family: 'step-outcome',
  name: 'never-settles@pglite',
  db: 'pglite',
  pglite: 'always',
  async run(t) {
    t.write({ [CFG]: f1Config(fn('() => new Promise(() => {})'), { pglite: true }) });
    const res = await t.cli(['apply'], { expect: [1, 143], timeoutMs: 60_000, err: [/\bbad\b/], errOnStdout: true });
    t.note(`ended after ${Math.round(res.ms)} ms with exit ${res.exit}`);
    if (res.hung) return;
    const rows = await t.journal();
    if (rows) await t.expectConsistent(res, rows, F1_DECLARED);
    if (rows && res.exit === 1) await t.expectFailed('bad', { rows, depSteps: ['dep', 'dep2'] });
  },
});
if (opt.pglite) for (const v of F1) if (v.name !== 'never-settles' && !v.step.includes('pg_sleep')) addF1(v, 'pglite');

// =======================================================================================
// 2. Secrets
// =======================================================================================
const PW_FORMS = [
  { id: 'raw', pw: 'S3cr3t-pw_42', form: 'userinfo' },
  { id: 'encoded', pw: 'p@ss#w0rd', form: 'userinfo' },
  { id: 'param', pw: 'S3cr3t-pw_42', form: 'query' },
  { id: 'param-encoded', pw: 'p@ss#w0rd', form: 'query' },
];
const LEAKS = {
  'plugin-register-url': { exit: [2], err: [/plugins\[0\]/], config: (U) => `plugins: [{ name: 'leaky', register() { throw new Error('leaky plugin cannot use ' + ${U}); } }], steps: [step('a', { sql: 'CREATE TABLE a_t (x int)' })]` },
  'plugin-register-password': { exit: [2], err: [/plugins\[0\]/], config: () => `plugins: [{ name: 'leaky', register() { throw new Error('leaky plugin: the secret is ' + PW); } }], steps: [step('a', { sql: 'CREATE TABLE a_t (x int)' })]` },
  'check-throws-url': { twice: true, config: (U) => `steps: [repeatable('r', { lastRun: () => 1, check: () => { throw new Error('check cannot use ' + ${U}); }, sql: 'SELECT 1' })]` },
  'check-throws-password': { twice: true, config: () => `steps: [repeatable('r', { lastRun: () => 1, check: () => { throw new Error('check: the secret is ' + PW); }, sql: 'SELECT 1' })]` },
  'step-throws-url': { exit: [1], failed: 'boom', config: (U) => `steps: [step('boom', { run: async () => { throw new Error('step cannot use ' + ${U}); } }), step('after_boom', { sql: 'CREATE TABLE after_t (x int)' })]` },
  'step-throws-password': { exit: [1], failed: 'boom', config: () => `steps: [step('boom', { run: async () => { throw new Error('step: the secret is ' + PW); } }), step('after_boom', { sql: 'CREATE TABLE after_t (x int)' })]` },
  'step-throws-url-object': { exit: [1], failed: 'boom', config: (U) => `steps: [step('boom', { run: async () => { throw { message: 'object cannot use ' + ${U}, code: 'E_URL' }; } }), step('after_boom', { sql: 'CREATE TABLE after_t (x int)' })]` },
  'sql-division-by-zero': { exit: [1], failed: 'div', config: () => `steps: [step('div', { sql: 'SELECT 1/0' }), step('after_div', { sql: 'CREATE TABLE after_t (x int)' })]` },
  'step-log-url': { exit: [0], config: (U) => `steps: [step('logs', { run: async (ctx) => { ctx.log('connected to ' + ${U}); ctx.log('secret ' + PW); } })]` },
  'config-throws-url': { exit: [2], err: [/zsetup\.config\.ts/], pre: (U) => `throw new Error('config cannot use ' + ${U});`, config: () => `steps: []` },
  'config-function-throws-url': { exit: [2], err: [/zsetup\.config\.ts/], fnThrows: true, config: () => `steps: []` },
  unreachable: { exit: [5], err: [/127\.0\.0\.1:1\b/], port1: true, config: () => `steps: [step('a', { sql: 'SELECT 1' })]` },
};

for (const form of PW_FORMS) {
  for (const [leakName, leak] of Object.entries(LEAKS)) {
    for (const mode of ['env-text', 'config-json']) {
      const viaConfig = mode === 'config-json';
      const json = mode === 'config-json';
      add({
        family: 'secrets',
        name: `${leakName}/${form.id}/${mode}`,
        db: 'pg',
        pw: form.pw,
        pwForm: form.form,
        envUrl: !viaConfig,
        urlFor: (t) => dbUrl(t.dbName, { pw: form.pw, form: form.form, host: leak.port1 ? '127.0.0.1:1' : PG_HOST }),
        async run(t) {
          const U = 'DB_URL';
          const head = viaConfig ? `const DB_URL: string = ${JSON.stringify(t.url)};` : 'const DB_URL: string = process.env.ZSETUP_DATABASE_URL!;';
          const pwLine = `const u = new URL(DB_URL); const PW = u.password ? decodeURIComponent(u.password) : (u.searchParams.get('password') ?? '');\nvoid PW;`;
          const body = `{ ${viaConfig ? 'database: { url: DB_URL }, ' : ''}${leak.config(U)} }`;
          const exportLine = leak.fnThrows ? `export default defineConfig(() => { throw new Error('config function cannot use ' + ${U}); });` : `export default defineConfig(${body});`;
          t.write({ [CFG]: `${IMPORTS}${head}\n${pwLine}\n${leak.pre ? leak.pre(U) + '\n' : ''}${exportLine}\n` });
          const args = (cmd) => [cmd, ...(json ? ['--json'] : []), ...(leak.port1 ? ['--connect-timeout', '1s'] : [])];
          if (leak.twice) {
            await t.cli(args('apply'), { expect: [0], label: 'apply (first run)' });
            await t.cli(args('plan'), { expect: [0], label: 'plan (check throws)' });
            await t.cli(args('apply'), { expect: [1], label: 'apply (second run: check throws)' });
          } else {
            const res = await t.cli(args('apply'), { expect: leak.exit, err: leak.err });
            if (res.hung) return;
          }
          if (leak.exit?.[0] === 2 || leak.exit?.[0] === 5) return;
          const rows = await t.journal();
          if (leak.failed) await t.expectFailed(leak.failed, { rows, depSteps: [`after_${leak.failed}`], depTables: ['after_t'] });
          await t.historyChecks(rows);
        },
      });
    }
  }
}

// =======================================================================================
// 3. Every problem at once
// =======================================================================================
const BAD_STEPS = `steps: [
    step('a', { sql: 'SELECT 1', sqll: 'typo' } as any),
    step('b', { sql: 'SELECT 1', after: 'a' as any }),
    step('a', { sql: 'SELECT 2' }),
    step('c', { sql: 'SELECT 3', after: ['nope_unknown'] }),
  ]`;
const BAD_STEP_RES = [/steps\[0\]\.sqll/, /steps\[1\]\.after/, /steps\[2\].*duplicate|duplicate.*steps\[2\]/i, /steps\[3\]\.after\[0\].*nope_unknown/];
const F3 = [
  {
    name: 'throwing-plugin-and-bad-steps',
    plugins: `[{ name: 'a', register() {} }, { name: 'bad', register() { throw new Error('nope'); } }]`,
    extra: `state: { schema: 5 as any }, apply: { concurrency: 0 },`,
    steps: BAD_STEPS,
    expectRes: [/plugins\[1\].*nope/, ...BAD_STEP_RES, /state\.schema/, /apply\.concurrency/],
  },
  {
    name: 'invalid-plugins-before-throwing-one',
    plugins: `[(() => ({ name: 'x', register() {} })) as any, null as any, 'str' as any, { name: 'bad', register() { throw new Error('nope'); } }]`,
    steps: BAD_STEPS,
    expectRes: [/plugins\[0\]/, /plugins\[1\]/, /plugins\[2\]/, /plugins\[3\].*nope/, ...BAD_STEP_RES],
  },
  {
    name: 'valid-function-throwing-plugins',
    plugins: `[{ name: 'ok', register() {} }, function seedPlugin() {} as any, { name: 'bad', register() { throw new Error('nope'); } }]`,
    steps: `steps: [step('a', { sql: 'SELECT 1' })]`,
    expectRes: [/plugins\[1\].*seedPlugin/, /plugins\[2\].*nope/],
  },
  {
    name: 'two-throwing-plugins',
    plugins: `[{ name: 'bad1', register() { throw new Error('nope one'); } }, { name: 'ok', register() {} }, { name: 'bad2', register() { throw new Error('nope two'); } }]`,
    steps: BAD_STEPS,
    expectRes: [/plugins\[0\].*nope one/, /plugins\[2\].*nope two/, ...BAD_STEP_RES],
  },
  { name: 'plugin-throws-undefined', plugins: `[{ name: 'a', register() {} }, { name: 'bad', register() { throw undefined; } }]`, steps: BAD_STEPS, expectRes: [/plugins\[1\]/, ...BAD_STEP_RES] },
  { name: 'plugin-throws-null', plugins: `[{ name: 'a', register() {} }, { name: 'bad', register() { throw null; } }]`, steps: BAD_STEPS, expectRes: [/plugins\[1\]/, ...BAD_STEP_RES] },
  { name: 'plugin-throws-string', plugins: `[{ name: 'a', register() {} }, { name: 'bad', register() { throw 'str-nope'; } }]`, steps: BAD_STEPS, expectRes: [/plugins\[1\].*str-nope/, ...BAD_STEP_RES] },
  {
    name: 'plugin-throws-plain-object',
    plugins: `[{ name: 'a', register() {} }, { name: 'bad', register() { throw { message: 'obj-nope', code: 'P1' }; } }]`,
    steps: BAD_STEPS,
    expectRes: [/plugins\[1\].*obj-nope/, ...BAD_STEP_RES],
  },
  { name: 'plugin-throws-symbol', plugins: `[{ name: 'a', register() {} }, { name: 'bad', register() { throw Symbol('sym-nope'); } }]`, steps: BAD_STEPS, expectRes: [/plugins\[1\].*sym-nope/, ...BAD_STEP_RES] },
  {
    name: 'plugin-async-register-rejects',
    plugins: `[{ name: 'a', register() {} }, { name: 'bad', register: (async () => { throw new Error('async nope'); }) as any }]`,
    steps: BAD_STEPS,
    expectRes: [/plugins\[1\].*async nope/, ...BAD_STEP_RES],
  },
  {
    name: 'plugin-name-getter-throws',
    plugins: `[{ name: 'a', register() {} }, { name: 'b', register() {} }, { get name(): string { throw new Error('name getter nope'); }, register() {} } as any]`,
    steps: BAD_STEPS,
    expectRes: [/plugins\[2\]/, ...BAD_STEP_RES],
  },
  {
    name: 'plugin-proxy-throws-on-get',
    plugins: `[{ name: 'a', register() {} }, new Proxy({}, { get() { throw new Error('proxy nope'); } }) as any]`,
    steps: BAD_STEPS,
    expectRes: [/plugins\[1\]/, ...BAD_STEP_RES],
  },
  {
    name: 'kind-from-throwing-plugin',
    plugins: `[{ name: 'kinds', register() { throw new Error('kinds nope'); } }]`,
    steps: `steps: [{ kind: 'custom', name: 'k1' } as any, step('a', { sql: 'SELECT 1', sqll: 1 } as any)]`,
    expectRes: [/plugins\[0\].*kinds nope/, /steps\[1\]\.sqll/],
  },
  {
    name: 'many-problems-no-plugin',
    plugins: '[]',
    extra: `bogusTop: 1, lock: { kind: 'mutex' as any }, apply: { retries: -1 },`,
    steps: `steps: [
    step('', { sql: 'SELECT 1' }),
    step('x', { sql: file('missing/nope.sql') }),
    step('y', { sql: 'SELECT 1', after: ['z'] }),
    step('z', { sql: 'SELECT 1', after: ['y'] }),
    step('w', { sql: 'SELECT 1', transaction: 'yes' as any }),
    { kind: 'nokind', name: 'v' } as any,
  ]`,
    expectRes: [/bogusTop/, /lock\.kind/, /apply\.retries/, /steps\[0\]\.name/, /steps\[1\]\.sql.*missing\/nope\.sql/, /cycle/, /steps\[4\]\.transaction/, /steps\[5\].*nokind/],
  },
];
for (const v of F3) {
  for (const json of [false, true]) {
    if (json && !['throwing-plugin-and-bad-steps', 'invalid-plugins-before-throwing-one'].includes(v.name)) continue;
    add({
      family: 'all-problems',
      name: `${v.name}${json ? '+json' : ''}`,
      db: 'pg',
      async run(t) {
        t.write({ [CFG]: `${IMPORTS}export default defineConfig({\n  ${v.extra ?? ''}\n  plugins: ${v.plugins},\n  ${v.steps},\n} as any);\n` });
        const res = await t.cli(['apply', ...(json ? ['--json'] : [])], { expect: [2], err: v.expectRes });
        if (res.hung) return;
        const problemLines = json ? jsonErrorLines(res.stdout).filter((l) => l.startsWith(`${CFG}: `)) : lines(res.stderr).filter((l) => l.startsWith(`${CFG}: `));
        const uniq = new Set(problemLines);
        t.check(uniq.size >= v.expectRes.length, `${uniq.size} problem line(s) listed, expected at least ${v.expectRes.length}`, { cmd: res.cmd, excerpt: [...uniq].join('\n') || tail(res, json) });
      },
    });
  }
}

// =======================================================================================
// 4. Limits (exit 2 at once, naming the key / flag / variable)
// =======================================================================================
let STARTUP_MS = 1500; // measured before the run (see main)
const LIMIT_BOUND = () => STARTUP_MS + 2000;
const simpleSteps = `steps: [step('a', { sql: 'CREATE TABLE a_t (x int)' })]`;
function limitCase(name, { section, key, cfgExtra, env, args = [], err, url, urlInConfig, secrets, cmd = 'apply' }) {
  add({
    family: 'limits',
    name,
    db: 'pg',
    envUrl: !urlInConfig,
    secrets,
    async run(t) {
      // A malformed URL names this case's own database: if it were accepted, the run would
      // change it, and the untouched check would see that.
      const u = typeof url === 'function' ? url(t) : url;
      const dbPart = urlInConfig ? `database: { url: ${JSON.stringify(u)} }, ` : '';
      t.write({ [CFG]: `${IMPORTS}export default defineConfig({ ${dbPart}${cfgExtra ?? ''} ${simpleSteps} } as any);\n` });
      await t.cli([cmd, ...args], { expect: [2], err, env, maxMs: LIMIT_BOUND(), url: u !== undefined && !urlInConfig ? u : undefined });
    },
  });
}
const durationValues = [
  ['25d', "'25d'"],
  ['1000h', "'1000h'"],
  ['3e9', '3e9'],
  ['2^31ms', '2147483648'],
  ['negative', '-1'],
  ['negative-string', "'-5s'"],
  ['NaN', 'NaN'],
  ['Infinity', 'Infinity'],
  ['space-unit', "'10 s'"],
  ['empty', "''"],
];
const durationKeys = [
  ['lock.timeout', (v) => `lock: { timeout: ${v} },`, ['25d', '1000h', '3e9', '2^31ms', 'negative', 'NaN', 'Infinity', 'space-unit', 'empty']],
  ['apply.ddlLockTimeout', (v) => `apply: { ddlLockTimeout: ${v} },`, ['25d', '1000h', '3e9', '2^31ms', 'negative-string', 'NaN']],
  ['apply.deadline', (v) => `apply: { deadline: ${v} },`, ['1000h', '3e9', 'negative', 'Infinity', 'empty']],
  ['apply.cleanupDeadline', (v) => `apply: { cleanupDeadline: ${v} },`, ['1000h', '3e9', 'NaN']],
  ['database.pool.connectTimeout', (v) => `database: { pool: { connectTimeout: ${v} } },`, ['1000h', 'negative-string', 'Infinity']],
  ['database.pool.idleTimeout', (v) => `database: { pool: { idleTimeout: ${v} } },`, ['1000h', '3e9']],
  ['database.pool.maxLifetime', (v) => `database: { pool: { maxLifetime: ${v} } },`, ['1000h']],
  ['lock.leaseTtl', (v) => `lock: { kind: 'lease', leaseTtl: ${v} },`, ['1000h', '3e9', 'NaN']],
];
for (const [key, mk, which] of durationKeys) {
  for (const w of which) {
    const v = durationValues.find((x) => x[0] === w)[1];
    limitCase(`${key}=${w}`, { cfgExtra: mk(v), err: [new RegExp(`${esc(CFG)}: ${esc(key)}\\b`)] });
  }
}
for (const [key, mk, vals] of [
  ['apply.concurrency', (v) => `apply: { concurrency: ${v} },`, ['0', '-1', '1.5', 'NaN', 'Infinity']],
  ['apply.retries', (v) => `apply: { retries: ${v} },`, ['-1', 'NaN', '1e400']],
  ['database.pool.max', (v) => `database: { pool: { max: ${v} } },`, ['0', '-3']],
]) {
  for (const v of vals) limitCase(`${key}=${v}`, { cfgExtra: mk(v), err: [new RegExp(`${esc(CFG)}: ${esc(key)}\\b`)] });
}
limitCase('state.schema=64-bytes', { cfgExtra: `state: { schema: '${'s'.repeat(64)}' },`, err: [/state\.schema/] });
limitCase('state.schema=32-two-byte-chars', { cfgExtra: `state: { schema: '${'é'.repeat(32)}' },`, err: [/state\.schema/] });
limitCase('state.schema=NUL', { cfgExtra: `state: { schema: 'zs\\u0000x' },`, err: [/state\.schema/] });
limitCase('lock.name=NUL', { cfgExtra: `lock: { name: 'zs\\u0000lock' },`, err: [/lock\.name/] });
add({
  family: 'limits',
  name: 'step-name=NUL',
  db: 'pg',
  async run(t) {
    t.write({ [CFG]: `${IMPORTS}export default defineConfig({ steps: [step('a\\u0000b', { sql: 'CREATE TABLE a_t (x int)' })] });\n` });
    await t.cli(['apply'], { expect: [2], err: [/steps\[0\]\.name/], maxMs: LIMIT_BOUND() });
  },
});
add({
  family: 'limits',
  name: 'step-name=newline',
  db: 'pg',
  async run(t) {
    t.write({ [CFG]: `${IMPORTS}export default defineConfig({ steps: [step('a\\nb', { sql: 'CREATE TABLE a_t (x int)' })] });\n` });
    await t.cli(['apply'], { expect: [2], err: [/steps\[0\]\.name/], maxMs: LIMIT_BOUND() });
  },
});
// Malformed URLs, from the environment and from the config.
const BAD_URLS = [
  ['two-ports', (t) => `postgres://root:S3cr3t-pw_42@127.0.0.1:5432:5433/${t.dbName}`, ['S3cr3t-pw_42']],
  ['raw-hash-in-password', (t) => `postgres://root:S3cr#t-pw_42@127.0.0.1:5432/${t.dbName}`, ['S3cr#t-pw_42', 'S3cr%23t-pw_42', 't-pw_42', 'root:S3cr']],
  ['port-99999', (t) => `postgres://root:S3cr3t-pw_42@127.0.0.1:99999/${t.dbName}`, ['S3cr3t-pw_42']],
  ['percent-zz-in-password', (t) => `postgres://root:S3cr%zz3t-pw@127.0.0.1:5432/${t.dbName}`, ['S3cr%zz3t-pw', 'zz3t-pw']],
  ['http-scheme', (t) => `http://root:S3cr3t-pw_42@127.0.0.1:5432/${t.dbName}`, ['S3cr3t-pw_42']],
  ['empty-host', (t) => `postgres://root:S3cr3t-pw_42@:5432/${t.dbName}`, ['S3cr3t-pw_42']],
];
for (const [name, url, secrets] of BAD_URLS) {
  limitCase(`ZSETUP_DATABASE_URL=${name}`, { url, secrets, err: [/ZSETUP_DATABASE_URL/] });
  limitCase(`database.url=${name}`, { url, urlInConfig: true, secrets, err: [/database\.url/] });
}
// Environment variables: the message must name the variable.
for (const [k, v, cmd] of [
  ['ZSETUP_CONCURRENCY', 'abc'],
  ['ZSETUP_CONCURRENCY', '0'],
  ['ZSETUP_CONCURRENCY', '-1'],
  ['ZSETUP_CONCURRENCY', '1e3'],
  ['ZSETUP_CONCURRENCY', '99999999999999999999'],
  ['ZSETUP_LOCK_TIMEOUT', 'forever'],
  ['ZSETUP_LOCK_TIMEOUT', '1000h'],
  ['ZSETUP_LOCK_TIMEOUT', '-1s', 'plan'],
  ['ZSETUP_DEADLINE', '-5s'],
  ['ZSETUP_DEADLINE', '1000h'],
  ['ZSETUP_CONNECT_TIMEOUT', 'abc'],
  ['ZSETUP_CONNECT_TIMEOUT', 'abc', 'status'],
  ['ZSETUP_LOCK_KIND', 'mutex'],
]) {
  limitCase(`${k}=${v}${cmd ? `/${cmd}` : ''}`, { env: { [k]: v }, cmd: cmd ?? 'apply', err: [new RegExp(`\\b${k}\\b`)] });
}
// Flags: the message must name the flag.
for (const [flag, v, cmd] of [
  ['--concurrency', 'abc'],
  ['--concurrency', '0'],
  ['--concurrency', '99999999999999999999'],
  ['--deadline', '0'],
  ['--deadline', '30d'],
  ['--deadline', '1000h'],
  ['--lock-timeout', '99999999999'],
  ['--lock-timeout', '-1'],
  ['--lock-timeout', ''],
  ['--connect-timeout', 'abc', 'plan'],
  ['--connect-timeout', '1000h', 'status'],
]) {
  limitCase(`${flag}=${v === '' ? "''" : v}${cmd ? `/${cmd}` : ''}`, { args: [flag, v], cmd: cmd ?? 'apply', err: [new RegExp(`${esc(flag)}\\b`)] });
}
// Flag beats env beats config: a bad flag is named even when the env var is bad too.
limitCase('--concurrency=abc+ZSETUP_CONCURRENCY=xyz', { args: ['--concurrency', 'abc'], env: { ZSETUP_CONCURRENCY: 'xyz' }, err: [/--concurrency\b/] });
limitCase('ZSETUP_LOCK_TIMEOUT=forever+config-ok', { env: { ZSETUP_LOCK_TIMEOUT: 'forever' }, cfgExtra: `lock: { timeout: '5s' },`, err: [/ZSETUP_LOCK_TIMEOUT/] });

// =======================================================================================
// 5. Loading
// =======================================================================================
const VALID_CFG = `${IMPORTS}export default defineConfig({ steps: [step('a', { sql: 'CREATE TABLE a_t (x int)' })] });\n`;
const BAD_PKG = '{\n  "name": "hz",\n  "zsetup": {\n    "steps": [\n  }\n}\n';
function loadCase(name, { files, args = ['apply'], expect = [2], err, env, timeoutMs, maxMs, after }) {
  add({
    family: 'loading',
    name,
    db: 'pg',
    async run(t) {
      t.write(files);
      const res = await t.cli(args, { expect, err, env, timeoutMs, maxMs });
      t.note(`exit ${res.exit} after ${Math.round(res.ms)} ms`);
      if (after && !res.hung) await after(t, res);
    },
  });
}
loadCase('default-export-never-settles', { files: { [CFG]: `${IMPORTS}export default new Promise(() => {});\n` }, expect: [1, 2], err: [/zsetup\.config\.ts/], timeoutMs: 45_000 });
loadCase('default-export-never-settles-loop-alive', {
  files: { [CFG]: `${IMPORTS}export default new Promise(() => { setInterval(() => {}, 1000); });\n` },
  expect: [1, 2],
  err: [/zsetup\.config\.ts/],
  timeoutMs: 45_000,
});
loadCase('config-function-never-settles', { files: { [CFG]: `${IMPORTS}export default defineConfig(() => new Promise(() => {}) as any);\n` }, expect: [1, 2], err: [/zsetup\.config\.ts/], timeoutMs: 45_000 });
loadCase('malformed-package.json+--config-other.ts', {
  files: { 'package.json': BAD_PKG, 'other.ts': VALID_CFG },
  args: ['apply', '--config', 'other.ts'],
  expect: [0],
  after: async (t) => t.check(await t.tableExists('a_t'), 'other.ts was not applied (table a_t missing)'),
});
loadCase('malformed-package.json+found-zsetup.config.ts', { files: { 'package.json': BAD_PKG, [CFG]: VALID_CFG }, expect: [0] });
const pkgErr = [/package\.json.*line 5, column \d+/];
loadCase('malformed-package.json', { files: { 'package.json': BAD_PKG }, err: pkgErr });
loadCase('malformed-package.json+CI=1', { files: { 'package.json': BAD_PKG }, env: { CI: '1' }, err: pkgErr });
loadCase('malformed-package.json+FORCE_COLOR=1', { files: { 'package.json': BAD_PKG }, env: { FORCE_COLOR: '1' }, err: pkgErr });
loadCase('malformed-package.json+json', { files: { 'package.json': BAD_PKG }, args: ['apply', '--json'], err: pkgErr });
loadCase('malformed-package.json/plan', { files: { 'package.json': BAD_PKG }, args: ['plan'], err: pkgErr });
loadCase('empty-package.json', { files: { 'package.json': '' }, err: [/package\.json/] });
loadCase('default-export-Promise.reject(undefined)', { files: { [CFG]: `${IMPORTS}export default Promise.reject(undefined);\n` }, err: [/zsetup\.config\.ts/] });
loadCase('config-function-throws-undefined', { files: { [CFG]: `${IMPORTS}export default defineConfig((() => { throw undefined; }) as any);\n` }, err: [/zsetup\.config\.ts/] });
loadCase('top-level-throw-null', { files: { [CFG]: `${IMPORTS}throw null;\nexport default defineConfig({ steps: [] });\n` }, err: [/zsetup\.config\.ts/] });
loadCase('top-level-throw-undefined', { files: { [CFG]: `${IMPORTS}throw undefined;\nexport default defineConfig({ steps: [] });\n` }, err: [/zsetup\.config\.ts/] });
loadCase('top-level-throw-plain-object', { files: { [CFG]: `${IMPORTS}throw { message: 'obj-load-nope', code: 'L1' };\nexport default defineConfig({ steps: [] });\n` }, err: [/zsetup\.config\.ts.*obj-load-nope/] });
loadCase('top-level-throw-symbol', { files: { [CFG]: `${IMPORTS}throw Symbol('sym-load');\nexport default defineConfig({ steps: [] });\n` }, err: [/zsetup\.config\.ts/] });
loadCase('ts-syntax-error', { files: { [CFG]: `${IMPORTS}\nconst x: number = ;\nexport default defineConfig({ steps: [] });\n` }, err: [/zsetup\.config\.ts.*line 3, column \d+/] });
loadCase('ts-syntax-error-zitadel.setup.ts', {
  files: { 'zitadel.setup.ts': `${IMPORTS}\n\n\nexport default defineConfig({\n  steps: [\n    step('a' { sql: 'SELECT 1' }),\n  ],\n});\n` },
  err: [/zitadel\.setup\.ts.*line 7, column \d+/],
});
loadCase('mjs-syntax-error', { files: { 'zsetup.config.mjs': `import { defineConfig } from 'zsetup';\nexport default defineConfig({\n  steps: [,,, }\n);\n` }, err: [/zsetup\.config\.mjs.*line \d+, column \d+/] });
loadCase('yaml-syntax-error', { files: { '.zsetuprc.yaml': 'steps:\n  - name: a\n    sql: "SELECT 1\n  - name: b\n' }, err: [/\.zsetuprc\.yaml.*line \d+, column \d+/] });
loadCase('yaml-bad-indent', { files: { '.zsetuprc.yaml': 'steps:\n  - name: a\n   sql: SELECT 1\n' }, err: [/\.zsetuprc\.yaml.*line 3, column \d+/] });
loadCase('json-rc-syntax-error', { files: { '.zsetuprc.json': '{\n  "steps": [\n    { "name": "a", "sql": "SELECT 1" },,\n  ]\n}\n' }, err: [/\.zsetuprc\.json.*line 3, column \d+/] });
loadCase('rc-without-extension-syntax-error', { files: { '.zsetuprc': '{\n  "steps": [\n    { "name": "a" "sql": "SELECT 1" }\n  ]\n}\n' }, err: [/\.zsetuprc\b.*line 3, column \d+/] });
loadCase('imports-missing-module', { files: { [CFG]: `${IMPORTS}import 'zsetup-no-such-module-xyz';\nexport default defineConfig({ steps: [] });\n` }, err: [/zsetup\.config\.ts.*zsetup-no-such-module-xyz/] });
loadCase('process-exit-0-while-loading', { files: { [CFG]: `${IMPORTS}process.exit(0);\nexport default defineConfig({ steps: [step('a', { sql: 'CREATE TABLE a_t (x int)' })] });\n` }, err: [/zsetup\.config\.ts/] });
loadCase('steps-getter-throws', { files: { [CFG]: `${IMPORTS}export default { get steps() { throw new Error('steps getter nope'); } };\n` }, err: [/zsetup\.config\.ts.*steps getter nope/] });
loadCase('--config-is-a-directory', { files: { 'sub/x.txt': 'x' }, args: ['apply', '--config', 'sub'], err: [/\bsub\b/] });
loadCase('--config-missing', { files: {}, args: ['apply', '--config', 'nope.ts'], err: [/nope\.ts/] });
loadCase('no-config-at-all', { files: {}, args: ['plan'], err: [/no config found/] });

// =======================================================================================
// 6. Big inputs
// =======================================================================================
const BIG_CFG = `${IMPORTS}
const N = Number(process.env.HZ_N ?? '10000');
const SHAPE = process.env.HZ_SHAPE ?? 'reverse';
const FAIL_FIRST = process.env.HZ_FAIL_FIRST === '1';
const name = (i: number) => 's' + String(i).padStart(5, '0');
let seed = 42;
const rnd = () => { seed = (seed * 1664525 + 1013904223) >>> 0; return seed / 4294967296; };
let steps: any[] = [];
if (SHAPE === 'reverse') {
  // s0 after s1 after s2 ... : declared in the reverse of execution order.
  for (let i = 0; i < N; i++) steps.push(step(name(i), { sql: i === N - 1 && FAIL_FIRST ? 'SELECT 1/0' : 'SELECT 1', after: i < N - 1 ? [name(i + 1)] : [] }));
} else if (SHAPE === 'random') {
  for (let i = 0; i < N; i++) steps.push(step(name(i), { sql: 'SELECT 1', after: i > 0 ? [name(i - 1)] : [] }));
  for (let i = steps.length - 1; i > 0; i--) { const j = Math.floor(rnd() * (i + 1)); [steps[i], steps[j]] = [steps[j], steps[i]]; }
} else if (SHAPE === 'independent') {
  for (let i = 0; i < N; i++) steps.push(step(name(i), { sql: 'SELECT 1', after: [] }));
} else if (SHAPE === 'linear') {
  for (let i = 0; i < N; i++) steps.push(step(name(i), { sql: i === 0 && FAIL_FIRST ? 'SELECT 1/0' : 'SELECT 1' }));
} else if (SHAPE === 'cycle') {
  for (let i = 0; i < N; i++) steps.push(step(name(i), { sql: 'SELECT 1', after: [name((i + 1) % N)] }));
} else if (SHAPE === 'duplicates') {
  for (let i = 0; i < N; i++) steps.push(step('same', { sql: 'SELECT 1' }));
}
export default defineConfig({ steps });
`;
function bigCase(name, { shape, cmd = 'plan', expect, failFirst = false, after, n = 10000, solo = false, timeoutMs = 120_000, err }) {
  add({
    family: 'big-inputs',
    name,
    db: 'pg',
    solo,
    async run(t) {
      t.write({ [CFG]: BIG_CFG });
      const res = await t.cli(cmd.split(' '), { expect, env: { HZ_N: n, HZ_SHAPE: shape, HZ_FAIL_FIRST: failFirst ? '1' : '0' }, timeoutMs, err, jsonLoose: true });
      if (/Maximum call stack size exceeded|RangeError/.test(res.stdout + res.stderr)) t.fail('stack overflow', { cmd: res.cmd, excerpt: (res.stdout + res.stderr).match(/.*(Maximum call stack size exceeded|RangeError).*/)?.[0] });
      t.note(`${cmd} on ${n} steps (${shape}): exit ${res.exit} in ${Math.round(res.ms)} ms`);
      if (after && !res.hung) await after(t, res);
    },
  });
}
// The probe reads stdout through a pipe, as `zsetup plan | less` or a CI log collector would.
const planLists = (json) => async (t, res) => {
  const n = json ? parseJsonLines(res.stdout).objs.filter((o) => /^s\d{5}$/.test(o?.step ?? '')).length : lines(res.stdout).filter((l) => /^\s+s\d{5}\s/.test(l)).length;
  t.check(n === 10000, `plan output (stdout is a pipe) lists ${n} of the 10,000 steps`, { cmd: res.cmd, expected: '10000 step lines', actual: `${n} (${res.stdout.length} bytes)`, excerpt: lines(res.stdout).slice(-2).join('\n') });
};
bigCase('plan-10k-reverse-chain', { shape: 'reverse', expect: [0], after: planLists(false) });
bigCase('plan-10k-random-order-chain', { shape: 'random', expect: [0], after: planLists(false) });
bigCase('plan-10k-independent', { shape: 'independent', expect: [0], after: planLists(false) });
bigCase('plan-10k-reverse-chain+json', { shape: 'reverse', cmd: 'plan --json', expect: [0], after: planLists(true) });
bigCase('plan-10k-cycle', { shape: 'cycle', expect: [2], err: [/cycle/] });
bigCase('plan-10k-duplicate-names', { shape: 'duplicates', expect: [2], err: [/duplicate/i] });
const firstFails = (first, second) => async (t) => {
  const rows = await t.journal();
  await t.expectFailed(first, { rows, depSteps: [second], status: false });
  const others = (rows ?? []).filter((r) => r.step !== first);
  t.check(others.length === 0, `${others.length} journal rows for dependants of the failed first step`, { excerpt: others.slice(0, 3).map((r) => `${r.step} ${r.event}`).join('\n') });
};
bigCase('apply-10k-linear-first-fails', { shape: 'linear', cmd: 'apply', failFirst: true, expect: [1], after: firstFails('s00000', 's00001') });
bigCase('apply-10k-reverse-chain-first-fails', { shape: 'reverse', cmd: 'apply', failFirst: true, expect: [1], after: firstFails('s09999', 's09998') });
add({
  family: 'big-inputs',
  name: 'plan-10k-vs-1-step-timing',
  db: 'pg',
  solo: true,
  async run(t) {
    t.write({ [CFG]: BIG_CFG });
    const run = async (n, shape) => (await t.cli(['plan'], { expect: [0], env: { HZ_N: n, HZ_SHAPE: shape }, timeoutMs: 120_000, label: `plan (${n} steps, ${shape})`, jsonLoose: true })).ms;
    // Interleaved, best of 3: the machine is shared, its load drifts.
    const best = { one: Infinity, reverse: Infinity, random: Infinity, independent: Infinity };
    for (let i = 0; i < 3; i++) {
      best.one = Math.min(best.one, await run(1, 'reverse'));
      for (const shape of ['reverse', 'random', 'independent']) best[shape] = Math.min(best[shape], await run(10000, shape));
    }
    t.note(`load average ${loadavg().map((x) => x.toFixed(1)).join(' ')} on ${availableParallelism()} CPUs`);
    for (const shape of ['reverse', 'random', 'independent']) {
      const big = best[shape];
      const one = best.one;
      t.note(`plan (best of 3): 1 step ${Math.round(one)} ms, 10,000 steps (${shape}) ${Math.round(big)} ms, difference ${Math.round(big - one)} ms`);
      t.check(big - one <= 1000, `plan on 10,000 steps (${shape}) took ${Math.round(big - one)} ms more than on 1 step (bound 1000 ms)`, { cmd: `HZ_N=10000 HZ_SHAPE=${shape} zsetup plan`, expected: '≤ 1000 ms more', actual: `${Math.round(big)} ms vs ${Math.round(one)} ms` });
    }
  },
});
add({
  family: 'big-inputs',
  name: 'step-error-of-1MB',
  db: 'pg',
  async run(t) {
    t.write({ [CFG]: `${IMPORTS}export default defineConfig({ steps: [step('big', { run: async () => { throw new Error('x'.repeat(1024 * 1024)); } }), step('after_big', { sql: 'CREATE TABLE after_t (x int)' })] });\n` });
    const res = await t.cli(['apply'], { expect: [1] });
    if (!res.hung) await t.expectFailed('big', { depSteps: ['after_big'], depTables: ['after_t'] });
  },
});

// =======================================================================================
// 7. Stops
// =======================================================================================
const STOP_CFG = (stepsSrc, extra = '') => `${IMPORTS}export default defineConfig({ apply: { cleanupDeadline: '2s'${extra} }, steps: [\n${stepsSrc}\n] });\n`;
const SLACK = 700; // process start-up and scheduling
function onStarted(step, delayMs, sig, also) {
  return (l, ctl) => {
    let o;
    try {
      o = JSON.parse(l);
    } catch {
      return;
    }
    if (o.type === 'step.started' && o.step === step && !ctl.armed) {
      ctl.armed = true;
      setTimeout(() => {
        ctl.kill(sig);
        if (also) setTimeout(() => ctl.kill(also.sig), also.afterMs);
      }, delayMs);
    }
  };
}
function stopCase(name, { steps, extra, args = [], env, sig, sigDelay = 300, second, expect, withinAfterSignal, withinTotal, timeoutMs = 20_000, interrupted, solo = true }) {
  add({
    family: 'stops',
    name,
    db: 'pg',
    solo,
    async run(t) {
      t.write({ [CFG]: STOP_CFG(steps, extra) });
      const res = await t.cli(['apply', '--json', ...args], { expect, env, timeoutMs, onLine: sig ? onStarted('work', sigDelay, sig, second) : undefined });
      if (sig && res.sigAt === undefined && !res.hung) t.fail('the step never reported step.started; no signal was sent', { cmd: res.cmd, excerpt: tail(res, true) });
      const afterSig = res.sigAt !== undefined ? res.ms - res.sigAt : undefined;
      t.note(`exit ${res.exit}${res.signal ? ` (${res.signal})` : ''} after ${Math.round(res.ms)} ms${afterSig !== undefined ? `, ${Math.round(afterSig)} ms after the ${sig}` : ''}`);
      if (withinAfterSignal !== undefined && afterSig !== undefined && !res.hung)
        t.check(afterSig <= withinAfterSignal + SLACK, `ended ${Math.round(afterSig)} ms after ${sig}, bound ${withinAfterSignal} ms (+${SLACK} ms slack)`, { cmd: res.cmd, expected: `≤ ${withinAfterSignal} ms`, actual: `${Math.round(afterSig)} ms` });
      if (withinTotal !== undefined && !res.hung)
        t.check(res.ms <= withinTotal + SLACK, `ended ${Math.round(res.ms)} ms after start, bound ${withinTotal} ms (+${SLACK} ms slack)`, { cmd: res.cmd, expected: `≤ ${withinTotal} ms`, actual: `${Math.round(res.ms)} ms` });
      if (res.hung) t.note(`hung: killed after ${Math.round(res.ms)} ms${afterSig !== undefined ? ` (${Math.round(afterSig)} ms after the ${sig})` : ''}`);
      if (interrupted && !res.hung) {
        const rows = await t.journal();
        const latest = t.latestOf(rows, 'work');
        t.check(latest?.event === 'interrupted', `journal: latest record of "work" is ${latest ? `"${latest.event}"` : 'missing'}, expected "interrupted"`, { cmd: res.cmd });
        t.check(!(rows ?? []).some((r) => r.step === 'later'), 'a step after the stop ran');
      }
    },
  });
}
const LATER = `  step('later', { sql: 'CREATE TABLE later_t (x int)' }),`;
stopCase('deadline-3s-never-settling-step', { steps: `  step('work', { run: () => new Promise(() => {}) }),\n${LATER}`, args: ['--deadline', '3s'], expect: [143], withinTotal: 5000 });
stopCase('deadline-3s-never-settling-nontransactional-step', { steps: `  step('work', { transaction: false, run: () => new Promise(() => {}) }),\n${LATER}`, args: ['--deadline', '3s'], expect: [143], withinTotal: 5000 });
stopCase('deadline-3s-busy-sync-loop', { steps: `  step('work', { run: () => { while (true) {} } }),\n${LATER}`, args: ['--deadline', '3s'], expect: [143], withinTotal: 5000 });
stopCase('sigterm-busy-sync-loop', { steps: `  step('work', { run: () => { while (true) {} } }),\n${LATER}`, sig: 'SIGTERM', expect: [143], withinAfterSignal: 2000 });
stopCase('sigint-busy-sync-loop', { steps: `  step('work', { run: () => { while (true) {} } }),\n${LATER}`, sig: 'SIGINT', expect: [130], withinAfterSignal: 2000 });
stopCase('sigterm-never-settling-step', { steps: `  step('work', { run: () => new Promise(() => {}) }),\n${LATER}`, sig: 'SIGTERM', expect: [143], withinAfterSignal: 2000 });
stopCase('sigterm-step-ignoring-signal', { steps: `  step('work', { run: async () => { for (;;) await new Promise((r) => setImmediate(r)); } }),\n${LATER}`, sig: 'SIGTERM', expect: [143], withinAfterSignal: 2000 });
stopCase('sigterm-twice-step-ignoring-signal', {
  steps: `  step('work', { run: async () => { for (;;) await new Promise((r) => setTimeout(r, 10)); } }),\n${LATER}`,
  sig: 'SIGTERM',
  second: { sig: 'SIGTERM', afterMs: 200 },
  expect: [143],
  withinAfterSignal: 700,
});
stopCase('sigterm-during-pg_sleep', { steps: `  step('work', { sql: 'SELECT pg_sleep(30)' }),\n${LATER}`, sig: 'SIGTERM', expect: [143], withinAfterSignal: 2000, interrupted: true });
stopCase('sigint-during-pg_sleep', { steps: `  step('work', { sql: 'SELECT pg_sleep(30)' }),\n${LATER}`, sig: 'SIGINT', expect: [130], withinAfterSignal: 2000, interrupted: true });
stopCase('deadline-3s-during-pg_sleep', { steps: `  step('work', { sql: 'SELECT pg_sleep(30)' }),\n${LATER}`, args: ['--deadline', '3s'], expect: [143], withinTotal: 5000, interrupted: true });
stopCase('deadline-3s-resumable-step', {
  steps: `  step('work', { resumable: true, run: async (ctx) => {
    let next = (ctx.checkpoint as number | undefined) ?? 0;
    while (next < 1000) {
      ctx.signal.throwIfAborted();
      await ctx.transaction(async (tx) => { await tx.query('SELECT pg_sleep(0.1)'); await ctx.saveCheckpoint(tx, next + 1, { done: next + 1, total: 1000 }); });
      next += 1;
    }
  } }),\n${LATER}`,
  args: ['--deadline', '3s'],
  expect: [143],
  withinTotal: 5000,
  interrupted: true,
});
stopCase('env-ZSETUP_DEADLINE-3s-never-settling-step', { steps: `  step('work', { run: () => new Promise(() => {}) }),\n${LATER}`, env: { ZSETUP_DEADLINE: '3s' }, expect: [143], withinTotal: 5000 });

// `apply | head -1`: the reader goes away after the first line.
for (const json of [false, true]) {
  for (const when of ['first-line', 'at-once']) {
    add({
      family: 'stops',
      name: `stdout-closed-${when}${json ? '+json' : ''}`,
      db: 'pg',
      solo: true,
      async run(t) {
        const steps = Array.from({ length: 6 }, (_, i) => `  step('p${i + 1}', { sql: 'SELECT pg_sleep(0.3); CREATE TABLE p${i + 1}_t (x int)' }),`).join('\n');
        t.write({ [CFG]: STOP_CFG(steps) });
        const res = await t.cli(['apply', ...(json ? ['--json'] : [])], {
          expect: [0, 130, 143],
          jsonLoose: true,
          timeoutMs: 30_000,
          onSpawn: (child) => {
            if (when === 'at-once') child.stdout.destroy();
            else child.stdout.once('data', () => child.stdout.destroy());
          },
        });
        t.note(`exit ${res.exit}${res.signal ? ` (${res.signal})` : ''} after ${Math.round(res.ms)} ms`);
        if (res.hung) return;
        const names = Array.from({ length: 6 }, (_, i) => `p${i + 1}`);
        const rows = (await t.journal()) ?? [];
        await t.expectConsistent(res, rows, names);
        if (res.exit === 130 || res.exit === 143) {
          const inter = names.filter((n) => t.latestOf(rows, n)?.event === 'interrupted');
          const begun = names.filter((n) => t.latestOf(rows, n) && t.latestOf(rows, n).event !== 'done');
          t.check(inter.length >= 1 || begun.length === 0, 'stopped, but no step recorded interrupted', { cmd: res.cmd });
        }
        if (res.exit === 0) {
          for (const n of names) if (!(await t.tableExists(`${n}_t`))) t.fail(`exit 0 but ${n}_t is missing`, { cmd: res.cmd });
        }
      },
    });
  }
}
add({
  family: 'stops',
  name: 'sigterm-while-waiting-for-lock',
  db: 'pg',
  solo: true,
  async run(t) {
    t.write({ [CFG]: STOP_CFG(`  step('work', { sql: 'SELECT pg_sleep(6)' }),`) });
    let holderStarted;
    const started = new Promise((r) => (holderStarted = r));
    const holder = t.cli(['apply', '--json'], { expect: [0], label: 'apply (lock holder)', onLine: (l) => l.includes('"step.started"') && holderStarted() });
    await Promise.race([started, sleep(15_000)]);
    const waiter = await t.cli(['apply', '--json'], {
      expect: [143],
      label: 'apply (waiting for the lock, then SIGTERM)',
      timeoutMs: 20_000,
      onSpawn: (_c, ctl) => setTimeout(() => ctl.kill('SIGTERM'), 2000),
    });
    const afterSig = waiter.sigAt !== undefined ? waiter.ms - waiter.sigAt : undefined;
    t.note(`waiter: exit ${waiter.exit} ${afterSig !== undefined ? `${Math.round(afterSig)} ms after SIGTERM` : ''}`);
    if (afterSig !== undefined && !waiter.hung) t.check(afterSig <= 2000 + SLACK, `waiter ended ${Math.round(afterSig)} ms after SIGTERM (bound 2000 ms)`, { cmd: waiter.cmd });
    await holder;
  },
});

// =======================================================================================
// 8. Config mistakes
// =======================================================================================
for (const [plugin, token, cmd] of [
  ['pool', /Database/, 'plan'],
  ['pool', /Database/, 'apply'],
  ['lock', /Lock/, 'apply'],
  ['journal', /StateStore/, 'apply'],
  ['journal', /StateStore/, 'status'],
]) {
  add({
    family: 'config-mistakes',
    name: `plugin-${plugin}-registers-nothing/${cmd}`,
    db: 'pg',
    async run(t) {
      t.write({ [CFG]: `${IMPORTS}export default defineConfig({ plugins: [{ name: '${plugin}', register() {} }], steps: [step('a', { sql: 'CREATE TABLE a_t (x int)' })] });\n` });
      const res = await t.cli([cmd], { expect: [2] });
      if (res.hung) return;
      const hit = lines(res.stderr).find((l) => new RegExp(`\\b${plugin}\\b`).test(l) && token.test(l));
      t.check(hit, `no line naming plugin "${plugin}" and the token it failed to provide (${token.source})`, { cmd: res.cmd, excerpt: tail(res) });
    },
  });
}
add({
  family: 'config-mistakes',
  name: 'plugin-steps-registers-nothing',
  db: 'pg',
  async run(t) {
    t.write({ [CFG]: `${IMPORTS}export default defineConfig({ plugins: [{ name: 'steps', register() {} }], steps: [step('a', { sql: 'CREATE TABLE a_t (x int)' })] });\n` });
    await t.cli(['apply'], { expect: [2], err: [/steps\[0\]/] });
  },
});
// PGlite data dirs that cannot be opened.
function dataDirCase(name, prepare, { dataDir = 'pgdata', needsTemplate = false } = {}) {
  add({
    family: 'config-mistakes',
    name: `pglite-datadir-${name}`,
    db: 'pglite',
    pglite: 'always',
    copyTemplate: needsTemplate,
    async run(t) {
      t.write({ [CFG]: `${IMPORTS}export default defineConfig({ database: { pglite: { dataDir: ${JSON.stringify(dataDir)} } }, steps: [step('a', { sql: 'CREATE TABLE a_t (x int)' })] });\n` });
      prepare(t);
      const res = await t.cli(['apply'], { expect: [1, 2, 5], timeoutMs: 60_000 });
      t.note(`exit ${res.exit} after ${Math.round(res.ms)} ms`);
      if (res.hung) return;
      // The hint and the usual "N problems in the config" footer do not count as error lines.
      const errLines = lines(res.stderr).filter((l) => !/^hint:/.test(l) && !/^zsetup: \d+ problems? in the config; nothing was changed$/.test(l));
      const naming = errLines.filter((l) => l.includes(dataDir.split('/')[0]));
      t.check(naming.length >= 1, `no stderr line names the data dir "${dataDir}"`, { cmd: res.cmd, excerpt: tail(res) });
      t.check(errLines.length === 1, `${errLines.length} lines of error output, expected ONE`, { cmd: res.cmd, excerpt: tail(res) });
      t.check(lines(res.stdout).length === 0, 'output on stdout for a data dir that cannot be opened', { cmd: res.cmd, excerpt: lines(res.stdout).slice(0, 5).join('\n') });
      t.note(`stderr: ${trimOut(lines(res.stderr).join(' | '), 300) || '(empty)'}`);
    },
  });
}
dataDirCase('PG_VERSION-14', (t) => writeFileSync(join(t.dir, 'pgdata/PG_VERSION'), '14\n'), { needsTemplate: true });
dataDirCase('PG_VERSION-garbage', (t) => writeFileSync(join(t.dir, 'pgdata/PG_VERSION'), 'not a version\n'), { needsTemplate: true });
dataDirCase('pg_control-truncated', (t) => truncateSync(join(t.dir, 'pgdata/global/pg_control'), 10), { needsTemplate: true });
dataDirCase('is-a-regular-file', (t) => writeFileSync(join(t.dir, 'pgdata'), 'i am a file\n'));
dataDirCase('under-a-regular-file', (t) => writeFileSync(join(t.dir, 'afile'), 'i am a file\n'), { dataDir: 'afile/pgdata' });
dataDirCase('mode-000', (t) => chmodSync(join(t.dir, 'pgdata'), 0o000), { needsTemplate: true });
// Usage errors.
for (const [name, args, err, stdoutEmpty] of [
  ['no-command', [], [/usage/i], true],
  ['unknown-command-bogus', ['bogus'], [/bogus/], false],
  ['apply-unknown-flag', ['apply', '--bogus'], [/--bogus/], false],
  ['apply-flag-missing-value', ['apply', '--concurrency'], [/--concurrency/], false],
  ['plan-extra-argument', ['plan', 'extra'], [/extra|argument/], false],
  ['status-unknown-flag-json', ['status', '--json', '--bogus'], [/--bogus/], false],
]) {
  add({
    family: 'config-mistakes',
    name: `usage-${name}`,
    db: 'none',
    async run(t) {
      t.write({ [CFG]: VALID_CFG });
      const res = await t.cli(args, { expect: [2], err, url: null, maxMs: STARTUP_MS + 2000, messages: true });
      if (stdoutEmpty && !res.hung) t.check(lines(res.stdout).length === 0, 'usage printed on stdout, expected on stderr', { cmd: res.cmd, excerpt: lines(res.stdout).slice(0, 3).join('\n') });
    },
  });
}

// ---------------------------------------------------------------------------------------
// Runner
// ---------------------------------------------------------------------------------------
function log(s) {
  process.stdout.write(`${s}\n`);
}

function selected() {
  let list = CASES;
  if (opt.family) {
    const f = opt.family.toLowerCase();
    const byNum = /^\d$/.test(f) ? FAMILIES[Number(f) - 1] : undefined;
    list = list.filter((c) => (byNum ? c.family === byNum : c.family.includes(f)));
  }
  if (opt.case) list = list.filter((c) => c.id.toLowerCase().includes(opt.case.toLowerCase()));
  return list;
}

async function runCase(c) {
  const t = new T(c);
  const t0 = performance.now();
  try {
    await t.setup();
    let timer;
    await Promise.race([
      c.run(t),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error('case took longer than its overall bound')), c.caseBoundMs ?? 600_000);
      }),
    ]).finally(() => clearTimeout(timer));
  } catch (err) {
    t.fail(`probe error: ${err?.stack ?? err}`);
  } finally {
    await t.teardown();
  }
  const ms = performance.now() - t0;
  return { id: c.id, family: c.family, name: c.name, ok: t.failures.length === 0, failures: dedupe(t.failures), notes: t.notes, ms };
}

function dedupe(fs) {
  const seen = new Set();
  return fs.filter((f) => {
    const k = `${f.reason}|${f.cmd}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

function printResult(r) {
  const head = `${r.ok ? 'PASS' : 'FAIL'} ${r.id} (${(r.ms / 1000).toFixed(1)} s)`;
  const out = [head];
  for (const n of r.notes) out.push(`     note: ${n}`);
  for (const f of r.failures) {
    out.push(`   - ${f.reason}`);
    if (f.cmd) out.push(`       command: ${f.cmd}`);
    if (f.expected !== undefined || f.actual !== undefined) out.push(`       expected: ${Array.isArray(f.expected) ? `exit ${f.expected.join(' or ')}` : f.expected ?? '-'}; actual: ${typeof f.actual === 'number' ? `exit ${f.actual}` : f.actual ?? '-'}`);
    if (f.excerpt) for (const l of trimOut(String(f.excerpt), 900).split('\n')) out.push(`       | ${l}`);
  }
  log(out.join('\n'));
}

async function measureStartup() {
  const dir = join(TMP, `hostile-${rid()}-startup`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, CFG), `${IMPORTS}export default defineConfig({ bogusKey: 1, steps: [] } as any);\n`);
  let best = Infinity;
  for (let i = 0; i < 2; i++) {
    const r = await spawnCli(['plan'], { cwd: dir, env: childEnv(), timeoutMs: 30_000 });
    best = Math.min(best, r.ms);
  }
  rmSync(dir, { recursive: true, force: true });
  return best;
}

async function main() {
  const list = selected();
  if (opt.list) {
    for (const c of list) log(c.id);
    log(`${list.length} cases`);
    return;
  }
  if (list.length === 0) {
    log('no case selected');
    process.exit(2);
  }
  mkdirSync(TMP, { recursive: true });
  const t0 = performance.now();
  STARTUP_MS = await measureStartup();
  log(`zsetup hostile probe: ${list.length} cases, ${opt.jobs} at a time; CLI start-up with a config error: ${Math.round(STARTUP_MS)} ms (limit bound ${Math.round(LIMIT_BOUND())} ms)`);
  if (list.some((c) => c.db === 'pglite')) pgliteTemplate().catch(() => undefined);
  const results = [];
  const parallel = list.filter((c) => !c.solo);
  const solo = list.filter((c) => c.solo);
  let next = 0;
  const worker = async () => {
    while (next < parallel.length && !interrupted) {
      const c = parallel[next++];
      const r = await runCase(c);
      results.push(r);
      printResult(r);
    }
  };
  await Promise.all(Array.from({ length: opt.jobs }, worker));
  if (solo.length) log(`-- ${solo.length} timing-sensitive cases, one at a time --`);
  for (const c of solo) {
    if (interrupted) break;
    const r = await runCase(c);
    results.push(r);
    printResult(r);
  }
  for (const task of [...cleanupTasks]) await task().catch(() => undefined);
  const total = performance.now() - t0;

  // Summary per family.
  log('\nSummary');
  const rows = [['family', 'cases', 'pass', 'fail']];
  for (const f of FAMILIES) {
    const rs = results.filter((r) => r.family === f);
    if (rs.length) rows.push([f, String(rs.length), String(rs.filter((r) => r.ok).length), String(rs.filter((r) => !r.ok).length)]);
  }
  rows.push(['total', String(results.length), String(results.filter((r) => r.ok).length), String(results.filter((r) => !r.ok).length)]);
  const w = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  for (const r of rows) log(`  ${r.map((c, i) => (i === 0 ? c.padEnd(w[i]) : c.padStart(w[i]))).join('  ')}`);
  const failed = results.filter((r) => !r.ok);
  if (failed.length) {
    log('\nFailing cases:');
    for (const r of failed.sort((a, b) => a.id.localeCompare(b.id))) log(`  ${r.id}: ${r.failures.map((f) => f.reason).join('; ')}`);
  }
  log(`\nTotal time: ${(total / 1000).toFixed(1)} s`);
  if (opt.out) writeFileSync(opt.out, JSON.stringify({ totalMs: total, startupMs: STARTUP_MS, results }, null, 2));
  process.exitCode = failed.length ? 1 : 0;
}

await main();
