// Shared helpers for the benchmarks in bench/. Never part of the test run.
//
// Everything a benchmark writes goes to bench/.work/<name>-<random>/ (removed at the end
// unless --keep) and bench/out/ (JSON results). Each benchmark uses a database of its own,
// zs_bench_<random>, created at the start and dropped (WITH (FORCE)) at the end, also on
// Ctrl-C.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { randomBytes } from 'node:crypto';
import { cpus, availableParallelism, loadavg } from 'node:os';
import pg from 'pg';

export const ROOT = new URL('../..', import.meta.url).pathname.replace(/\/$/, '');
export const BENCH = join(ROOT, 'bench');
export const WORK = join(BENCH, '.work');
export const OUT = join(BENCH, 'out');
export const CLI = join(ROOT, 'dist/cli.js');
export const KNEX_CLI = join(ROOT, 'node_modules/knex/bin/cli.js');
/** Server URL without a database; override with ZS_BENCH_PG (e.g. postgres://user:pw@host:5432). */
export const SERVER = (process.env.ZS_BENCH_PG ?? 'postgres://root@127.0.0.1:5432').replace(/\/+$/, '');
export const KEEP = process.argv.includes('--keep');
/** The value after `--name` on the command line, or `dflt`. */
export const arg = (name, dflt) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : dflt;
};

export const dbUrl = (db) => `${SERVER}/${db}`;
export const rel = (p) => relative(process.cwd(), p) || '.';

/** Shell-quote one argument for hyperfine's command strings (run through /bin/sh). */
export function sh(s) {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${String(s).replace(/'/g, `'\\''`)}'`;
}

/** Stop with a clear message when hyperfine is not installed. */
export function requireHyperfine() {
  const r = spawnSync('hyperfine', ['--version'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    console.error('hyperfine is missing: this benchmark needs it on PATH.');
    console.error('Install it with:  apt-get update && apt-get install -y hyperfine   (or: cargo install hyperfine)');
    process.exit(2);
  }
  return r.stdout.trim();
}

/** Stop when dist/ is missing; warn when src/ or plugins/ is newer than the build. */
export function requireBuild() {
  if (!existsSync(CLI)) {
    console.error(`${rel(CLI)} is missing: run \`npm run build\` first.`);
    process.exit(2);
  }
  const built = statSync(CLI).mtimeMs;
  const newer = [];
  const walk = (d) => {
    for (const n of readdirSync(d)) {
      const p = join(d, n);
      const st = statSync(p);
      if (st.isDirectory()) walk(p);
      else if (n.endsWith('.ts') && st.mtimeMs > built) newer.push(rel(p));
    }
  };
  for (const d of ['src', 'plugins']) if (existsSync(join(ROOT, d))) walk(join(ROOT, d));
  if (newer.length) console.warn(`warning: ${newer.length} source file(s) newer than dist/ (e.g. ${newer[0]}); run \`npm run build\` to measure the current code.`);
}

/** Which code is measured: HEAD, and whether src/ or plugins/ have uncommitted changes. */
export function revision() {
  return revisionOf(ROOT);
}

/** The code a checkout holds (its HEAD, uncommitted changes, when its dist/ was built). */
export function revisionOf(dir) {
  const git = (...a) => spawnSync('git', a, { cwd: dir, encoding: 'utf8' }).stdout?.trim() ?? '';
  const head = git('rev-parse', '--short', 'HEAD') || 'unknown';
  const dirty = git('status', '--porcelain', '--', 'src', 'plugins', 'zitadel.setup.ts');
  return `HEAD ${head}${dirty ? ' + uncommitted changes in src/plugins' : ''}, dist/ built ${new Date(statSync(join(dir, 'dist/cli.js')).mtimeMs).toISOString().slice(0, 19)}Z`;
}

export function machine() {
  const c = cpus();
  return `${availableParallelism()} vCPU (${c[0]?.model?.trim() ?? '?'}), Node ${process.version}`;
}

/** The 1/5/15-minute load averages: how busy the shared machine was. */
export function load() {
  return `load average ${loadavg().map((x) => x.toFixed(2)).join(' / ')} on ${availableParallelism()} vCPU`;
}

/** Warn when hyperfine's ratio and the interleaved one fall on different sides of a limit. */
export function robustness(hfRatio, ilRatio, limit = 1) {
  if ((hfRatio <= limit) !== (ilRatio <= limit)) {
    console.log(`WARNING: hyperfine ratio ${hfRatio.toFixed(2)} and interleaved ratio ${ilRatio.toFixed(2)} disagree about the ${limit.toFixed(2)} bar: the machine load changed during the run; the verdict is not robust, re-run when the machine is quiet.`);
  }
}

export async function admin(sql) {
  const c = new pg.Client({ connectionString: `${SERVER}/postgres` });
  await c.connect();
  try {
    return await c.query(sql);
  } finally {
    await c.end();
  }
}

export async function serverVersion() {
  const r = await admin('SHOW server_version');
  return r.rows[0].server_version;
}

/**
 * A scratch area for one benchmark: a database and a work directory, both removed by
 * cleanup() (registered for exit and SIGINT/SIGTERM too).
 */
export async function scratch(name) {
  const id = randomBytes(4).toString('hex');
  const db = `zs_bench_${id}`;
  const dir = join(WORK, `${name}-${id}`);
  mkdirSync(dir, { recursive: true });
  mkdirSync(OUT, { recursive: true });
  // jiti (zsetup's TypeScript config loader) keeps its transpile cache in $TMPDIR/jiti;
  // point TMPDIR here so the benchmark writes nothing outside bench/.work.
  const tmp = join(dir, 'tmp');
  mkdirSync(tmp, { recursive: true });
  await admin(`CREATE DATABASE ${db}`);
  let done = false;
  const cleanup = async () => {
    if (done) return;
    done = true;
    try {
      await admin(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
    } catch (err) {
      console.error(`warning: could not drop database ${db}: ${err.message}`);
    }
    if (!KEEP) rmSync(dir, { recursive: true, force: true });
    else console.log(`(--keep: left ${rel(dir)})`);
  };
  const onSignal = (sig) => {
    console.error(`\n${sig}: cleaning up ${db}`);
    cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  return { id, db, url: dbUrl(db), dir, tmp, env: { ...process.env, ZSETUP_DATABASE_URL: dbUrl(db), TMPDIR: tmp }, cleanup };
}

/** Run a command to completion (setup steps, not timed); throws with its output on failure. */
export function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20, ...opts });
  if (r.error) throw r.error;
  if (r.status !== 0 && !(opts.okCodes ?? [0]).includes(r.status)) {
    throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}\n${r.stdout}\n${r.stderr}`);
  }
  return r;
}

/** A knexfile (.cjs) for the pg client with a .cjs migrations directory. */
export function writeKnexfile(dir, url, migrationsDir) {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'knexfile.cjs');
  writeFileSync(
    file,
    `// generated by bench/: knex migrations for the comparison\nmodule.exports = {\n  client: 'pg',\n  connection: ${JSON.stringify(url)},\n  pool: { min: 0, max: 10 },\n  migrations: { directory: ${JSON.stringify(migrationsDir)}, loadExtensions: ['.cjs'] },\n};\n`,
  );
  return file;
}

/** One knex migration file per SQL statement: 0001_<name>.cjs ... */
export function writeKnexMigrations(migrationsDir, statements) {
  mkdirSync(migrationsDir, { recursive: true });
  const width = String(statements.length).length + 1;
  statements.forEach(({ name, up, down }, i) => {
    writeFileSync(
      join(migrationsDir, `${String(i + 1).padStart(width, '0')}_${name}.cjs`),
      `exports.up = (knex) => knex.raw(${JSON.stringify(up)});\nexports.down = (knex) => knex.raw(${JSON.stringify(down ?? 'SELECT 1')});\n`,
    );
  });
}

/** A zsetup config (TypeScript, like users write) with the given steps. */
export function writeZsetupConfig(file, steps, extra = '') {
  mkdirSync(dirname(file), { recursive: true });
  const lines = steps.map((s) => `    step(${JSON.stringify(s.name)}, { sql: ${JSON.stringify(s.sql)}${s.independent ? ', after: []' : ''} }),`);
  writeFileSync(
    file,
    `// generated by bench/\nimport { defineConfig, step } from 'zsetup';\n\nexport default defineConfig({\n${extra}  steps: [\n${lines.join('\n')}\n  ],\n});\n`,
  );
  return file;
}

/**
 * Run hyperfine over named commands in one invocation and return its JSON export.
 * commands: [{ name, cmd }]; options: extra hyperfine args.
 */
export function hyperfine(commands, { exportJson, args = [], env, cwd = ROOT }) {
  const argv = ['--export-json', exportJson, '--style', 'basic', ...args];
  for (const c of commands) argv.push('--command-name', c.name, c.cmd);
  console.log(`$ hyperfine ${argv.map(sh).join(' ')}\n`);
  const r = spawnSync('hyperfine', argv, { stdio: 'inherit', env, cwd });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`hyperfine exited ${r.status}`);
  return JSON.parse(readFileSync(exportJson, 'utf8'));
}

export const fmtS = (s) => `${s.toFixed(3)} s`;

/** Left-aligned text table. */
export function table(rows) {
  const w = [];
  for (const r of rows) r.forEach((c, i) => (w[i] = Math.max(w[i] ?? 0, String(c).length)));
  const line = (r) => r.map((c, i) => String(c).padEnd(w[i])).join('  ').trimEnd();
  return [line(rows[0]), w.map((n) => '-'.repeat(n)).join('  '), ...rows.slice(1).map(line)].join('\n');
}

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Prints "PASS|FAIL <bar>: <detail>" and remembers the verdict for the exit code. */
const verdicts = [];
export function bar(ok, what, detail) {
  verdicts.push(ok);
  console.log(`${ok ? 'PASS' : 'FAIL'}  ${what}: ${detail}`);
}
export function exitCode() {
  return verdicts.every(Boolean) ? 0 : 1;
}

export function writeJson(name, obj) {
  mkdirSync(OUT, { recursive: true });
  const f = join(OUT, name);
  writeFileSync(f, JSON.stringify(obj, null, 2) + '\n');
  return f;
}

/** A stand-in for zitadel.setup.ts: schemas, tables, indexes, a seed, in a chain. */
export function generatedSteps(count) {
  const steps = [{ name: '01_schemas', sql: 'CREATE SCHEMA IF NOT EXISTS eventstore; CREATE SCHEMA IF NOT EXISTS projections; CREATE SCHEMA IF NOT EXISTS system' }];
  let last;
  for (let i = 2; i <= count; i++) {
    const id = String(i).padStart(2, '0');
    if (last && i % 5 === 0) steps.push({ name: `${id}_index`, sql: `CREATE INDEX IF NOT EXISTS ${last.split('.')[1]}_owner ON ${last} (instance_id, owner)` });
    else if (last && i % 7 === 0) steps.push({ name: `${id}_seed`, sql: `INSERT INTO ${last} (instance_id, id, owner) VALUES ('system', 'seed', 'system') ON CONFLICT DO NOTHING` });
    else {
      last = `projections.bench_t${i}`;
      steps.push({
        name: `${id}_table`,
        sql: `CREATE TABLE IF NOT EXISTS ${last} (\n  instance_id text NOT NULL,\n  id text NOT NULL,\n  owner text,\n  created_at timestamptz NOT NULL DEFAULT now(),\n  payload jsonb,\n  PRIMARY KEY (instance_id, id)\n)`,
      });
    }
  }
  return steps;
}

/**
 * Cross-check for drifting machine load: hyperfine runs all of command A, then all of B,
 * so load that changes in between biases the ratio. Here A and B alternate (A B, B A, ...)
 * and the ratio is taken per pair; its median is robust to slow drifts. With more than two
 * commands, each round runs all of them, in an order that rotates and turns round.
 * commands: [{ name, argv }] (spawned without a shell). Returns per-command medians, the
 * median of per-round ratios commands[0]/commands[1], and per command its median ratio to
 * commands[1] (`ratios`).
 */
export function interleaved(commands, pairs, { env, cwd = ROOT, prepare }) {
  const times = commands.map(() => []);
  const once = (c) => {
    if (prepare) {
      const p = spawnSync(prepare[0], prepare.slice(1), { env, cwd, stdio: 'ignore' });
      if (p.status !== 0) throw new Error(`prepare ${prepare.join(' ')} exited ${p.status}`);
    }
    const t = performance.now();
    const r = spawnSync(c.argv[0], c.argv.slice(1), { env, cwd, stdio: 'ignore' });
    const dt = (performance.now() - t) / 1000;
    if (r.status !== 0) throw new Error(`${c.name} exited ${r.status}`);
    return dt;
  };
  const n = commands.length;
  for (let i = 0; i < pairs; i++) {
    const order = commands.map((_, k) => (k + Math.floor(i / 2)) % n);
    if (i % 2 === 1) order.reverse();
    for (const j of order) times[j].push(once(commands[j]));
  }
  const ratios = times.map((ts) => median(ts.map((t, i) => t / times[1][i])));
  return { medians: times.map(median), ratio: ratios[0], ratios, times };
}

/** The seeded PRNG of tests and benches (scripts/prng.mjs): kill points by seed. */
export { mulberry32 } from '../../scripts/prng.mjs';

/** A folder `dir` with a zsetup.config.ts of the events2 plugin's move step alone (the events2 benches). */
export function writeMoveConfig(dir) {
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'zsetup.config.ts'),
    `import { defineConfig } from 'zsetup';
import { events2, eventsMove } from ${JSON.stringify(join(ROOT, 'plugins/events2/index.js'))};
export default defineConfig({ plugins: [events2()], steps: [eventsMove()] });
`,
  );
  return dir;
}
