/**
 * Test helpers: a throwaway PostgreSQL database per suite, scratch folders inside the
 * project (so configs can `import ... from 'zsetup'`), and the real CLI as a child process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { suite } from 'uvu';

export const ROOT = new URL('..', import.meta.url).pathname.replace(/\/$/, '');
export const CLI = join(ROOT, 'dist/cli.js');
export const ADMIN_URL = process.env.ZSETUP_TEST_ADMIN_URL ?? 'postgres://root@127.0.0.1:5432/postgres';

export interface TestDb {
  name: string;
  url: string;
  /** Run one query on the test database (a fresh connection each time). */
  query<R = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<R[]>;
  drop(): Promise<void>;
}

/** CREATE DATABASE zs_<random>; drop() terminates its sessions and drops it. */
export async function createDb(): Promise<TestDb> {
  const name = `zs_${randomBytes(5).toString('hex')}`;
  await adminQuery(`CREATE DATABASE ${name}`);
  const u = new URL(ADMIN_URL);
  u.pathname = `/${name}`;
  const url = u.toString();
  return {
    name,
    url,
    async query<R>(sql: string, params?: unknown[]) {
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      try {
        return (await c.query(sql, params)).rows as R[];
      } finally {
        await c.end();
      }
    },
    async drop() {
      await adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    },
  };
}

export async function adminQuery(sql: string, params?: unknown[]): Promise<unknown[]> {
  const c = new pg.Client({ connectionString: ADMIN_URL });
  await c.connect();
  try {
    return (await c.query(sql, params)).rows;
  } finally {
    await c.end();
  }
}

/** A scratch folder under test/.tmp (inside the package, so `zsetup` resolves). */
export function scratch(files: Record<string, string> = {}): { dir: string; write(files: Record<string, string>): void; remove(): void } {
  const dir = join(ROOT, 'test/.tmp', randomBytes(5).toString('hex'));
  mkdirSync(dir, { recursive: true });
  const write = (fs: Record<string, string>) => {
    for (const [p, content] of Object.entries(fs)) {
      mkdirSync(dirname(join(dir, p)), { recursive: true });
      writeFileSync(join(dir, p), content);
    }
  };
  write(files);
  return { dir, write, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** stdout parsed as line-delimited JSON. */
  json(): any[];
}

export interface CliOptions {
  cwd: string;
  env?: Record<string, string | undefined>;
  /** Database URL; omit for PGlite. */
  url?: string | undefined;
  timeoutMs?: number;
}

/** Start the real CLI; resolve when it exits. */
export function startCli(args: string[], o: CliOptions): { child: ChildProcess; done: Promise<CliResult> } {
  const env: Record<string, string | undefined> = { ...process.env, FORCE_COLOR: '0', ...o.env };
  delete env.ZSETUP_DATABASE_URL;
  if (o.url) env.ZSETUP_DATABASE_URL = o.url;
  if (o.env && 'ZSETUP_DATABASE_URL' in o.env) env.ZSETUP_DATABASE_URL = o.env.ZSETUP_DATABASE_URL;
  const child = spawn(process.execPath, [CLI, ...args], { cwd: o.cwd, env: env as NodeJS.ProcessEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const done = new Promise<CliResult>((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs ?? 60_000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({
        code,
        signal,
        stdout,
        stderr,
        json: () =>
          stdout
            .split('\n')
            .filter((l) => l.trim() !== '')
            .map((l) => JSON.parse(l)),
      });
    });
  });
  return { child, done };
}

/** Run the real CLI to completion. */
export function cli(args: string[], o: CliOptions): Promise<CliResult> {
  return startCli(args, o).done;
}

/** assert.throws is synchronous only; this is its promise twin. */
export async function rejects(p: Promise<unknown>, match?: RegExp): Promise<Error> {
  try {
    await p;
  } catch (err) {
    if (match && !match.test(String((err as Error)?.message ?? err))) throw new Error(`rejected with "${(err as Error)?.message}", expected ${match}`);
    return err as Error;
  }
  throw new Error('expected the promise to reject, it resolved');
}

/** The config file header every fixture uses. */
export const HEADER = `import { defineConfig, step, repeatable, file } from 'zsetup';\n`;

export type Scratch = ReturnType<typeof scratch>;

/** The context of a suite made by `dbSuite`: its own database and scratch folders. */
export interface DbCtx {
  db: TestDb;
  dirs: Scratch[];
}

/** A uvu suite with its own test database (dropped after) and scratch folders (removed after). */
export function dbSuite(name: string) {
  const t = suite<DbCtx>(name);
  t.before(async (ctx) => {
    ctx.db = await createDb();
    ctx.dirs = [];
  });
  t.after(async (ctx) => {
    await ctx.db.drop();
    for (const d of ctx.dirs) d.remove();
  });
  return t;
}

/** A scratch folder removed with the suite. */
export function dir(ctx: DbCtx, files: Record<string, string>): Scratch {
  const d = scratch(files);
  ctx.dirs.push(d);
  return d;
}

/** Like `dbSuite`, but a fresh database for every test (dropped after it). */
export function dbEachSuite(name: string) {
  const t = suite<DbCtx>(name);
  t.before((ctx) => {
    ctx.dirs = [];
  });
  t.before.each(async (ctx) => {
    ctx.db = await createDb();
  });
  t.after.each(async (ctx) => {
    await ctx.db.drop();
  });
  t.after((ctx) => {
    for (const d of ctx.dirs) d.remove();
  });
  return t;
}

// ---------------------------------------------------------------- PGlite data dirs

/**
 * Where the PGlite template of this test run lives: the runner (test/run.mjs) sets
 * ZSETUP_TEST_PGLITE_TEMPLATE for every file it starts and removes the folder at the end;
 * a file run on its own makes its own and removes it when it exits.
 */
const PGLITE_TEMPLATE = process.env.ZSETUP_TEST_PGLITE_TEMPLATE ?? join(ROOT, 'test/.tmp', `pglite-template-${process.pid}`);
let templateReady: Promise<string> | undefined;

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The initialised PGlite data dir every `pgliteDataDir()` copies: made once per test run,
 * by the real CLI (`zsetup plan` without a database URL opens, so initialises, the data
 * dir, and writes nothing in it), under a lock folder so that parallel test files wait
 * for one build instead of each paying for their own.
 */
function pgliteTemplate(): Promise<string> {
  templateReady ??= (async () => {
    const data = join(PGLITE_TEMPLATE, 'pgdata');
    const ready = join(PGLITE_TEMPLATE, 'ready');
    const lock = `${PGLITE_TEMPLATE}.lock`;
    const t0 = Date.now();
    for (;;) {
      if (existsSync(ready)) return data;
      try {
        mkdirSync(lock, { recursive: false });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        // Another test file builds it: wait, unless that process died.
        let pid = NaN;
        try {
          pid = Number(readFileSync(join(lock, 'pid'), 'utf8'));
        } catch {
          // not written yet
        }
        if (pid > 0 && !processAlive(pid)) rmSync(lock, { recursive: true, force: true });
        if (Date.now() - t0 > 300_000) throw new Error(`the PGlite template ${PGLITE_TEMPLATE} was not ready within 300 s`);
        await new Promise((r) => setTimeout(r, 100));
        continue;
      }
      try {
        writeFileSync(join(lock, 'pid'), String(process.pid));
        rmSync(PGLITE_TEMPLATE, { recursive: true, force: true });
        mkdirSync(PGLITE_TEMPLATE, { recursive: true });
        // Inside the package, so that the config resolves `zsetup`.
        writeFileSync(
          join(PGLITE_TEMPLATE, 'zsetup.config.ts'),
          `${HEADER}export default defineConfig({ database: { pglite: { dataDir: 'pgdata' } }, steps: [step('01', { sql: 'SELECT 1' })] });\n`,
        );
        const r = await cli(['plan'], { cwd: PGLITE_TEMPLATE, timeoutMs: 180_000 });
        if (r.code !== 0 || !existsSync(join(data, 'PG_VERSION'))) throw new Error(`could not make the PGlite template (zsetup plan exited ${r.code ?? r.signal}):\n${r.stdout}${r.stderr}`);
        rmSync(join(PGLITE_TEMPLATE, 'zsetup.config.ts'));
        writeFileSync(ready, new Date().toISOString());
        if (process.env.ZSETUP_TEST_PGLITE_TEMPLATE === undefined) process.once('exit', () => rmSync(PGLITE_TEMPLATE, { recursive: true, force: true }));
        return data;
      } finally {
        rmSync(lock, { recursive: true, force: true });
      }
    }
  })();
  return templateReady;
}

/**
 * Make `dataDir` an initialised PGlite data dir holding nothing of zsetup's, as PGlite's
 * first start would leave it, by copying this run's template. PGlite's first start of a
 * data dir costs ~7-10 s of CPU, a copy ~0.1 s; the first start itself stays covered by
 * test/cli/pglite.test.ts, which starts from no data dir at all.
 */
export async function pgliteDataDir(dataDir: string): Promise<void> {
  const template = await pgliteTemplate();
  if (existsSync(dataDir) && readdirSync(dataDir).length > 0) throw new Error(`pgliteDataDir: ${dataDir} is not empty`);
  mkdirSync(dirname(dataDir), { recursive: true });
  cpSync(template, dataDir, { recursive: true });
}

/**
 * ZITADEL's event table as its `init` creates it (eventstore.events2: columns and primary
 * key), with the index projections read by (es_projection), for tests that load events.
 */
export const EVENTS2_DDL = `CREATE SCHEMA IF NOT EXISTS eventstore;
CREATE TABLE IF NOT EXISTS eventstore.events2 (
  instance_id TEXT NOT NULL, aggregate_type TEXT NOT NULL, aggregate_id TEXT NOT NULL, event_type TEXT NOT NULL,
  "sequence" BIGINT NOT NULL, revision SMALLINT NOT NULL, created_at TIMESTAMPTZ NOT NULL, payload JSONB,
  creator TEXT NOT NULL, "owner" TEXT NOT NULL, "position" DECIMAL NOT NULL, in_tx_order INTEGER NOT NULL,
  PRIMARY KEY (instance_id, aggregate_type, aggregate_id, "sequence"));
CREATE INDEX IF NOT EXISTS es_projection ON eventstore.events2 (instance_id, aggregate_type, event_type, "position");`;
