/**
 * The chaos runner: applies a config that mixes DDL steps, once-only steps, two
 * `CREATE INDEX CONCURRENTLY` steps, a repeatable step and a resumable step that writes
 * `rows` rows in batches, and interrupts the real CLI at random (seeded) moments with
 * SIGTERM, SIGKILL, SIGSTOP-until-the-lease-expired and `pg_terminate_backend` of its
 * connections. After each interruption it starts `apply` again (sometimes two at once),
 * never doing anything else by hand. When the work is done it checks the round (every
 * row exactly once, every once-only step exactly once, nothing left started, no invalid
 * index, a journal that tells a consistent story, the stopped process committed nothing
 * after it was taken over), resets the database, and starts a new round, until the
 * requested number of interruptions was delivered.
 *
 * Used by test/chaos/chaos.test.ts (short, CI) and bench/chaos.mjs (long).
 * Replay a run with the seed it printed first.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { CLI, ROOT } from '../helpers.js';
// @ts-expect-error: plain ES modules of scripts/, without types
import { mulberry32 as prng } from '../../scripts/prng.mjs';

export type Kind = 'SIGTERM' | 'SIGKILL' | 'SIGSTOP' | 'terminate';
export const KINDS: readonly Kind[] = ['SIGTERM', 'SIGKILL', 'SIGSTOP', 'terminate'];

export interface ChaosOptions {
  /** Seed of the PRNG that decides every interruption (kind, moment, restarts). */
  seed: number;
  /** How many interruptions to deliver (to a live apply) in total. */
  interruptions: number;
  /** The database to use (it must exist; the runner owns its content: schemas `chaos` and `zsetup`). */
  url: string;
  /** Run lock. SIGSTOP-until-expiry needs the lease (with the advisory lock it is a pause). @default 'lease' */
  lockKind?: 'lease' | 'advisory';
  /** Rows the resumable step writes. @default 1_000_000 */
  rows?: number;
  /** Rows per batch (one transaction with its checkpoint). @default 25_000 */
  batch?: number;
  /** Seconds of pg_sleep per batch, inside the batch transaction (widens the windows). @default 0.01 */
  batchSleep?: number;
  /** Lease TTL in ms (lease lock). @default 1000 */
  leaseTtlMs?: number;
  /** Interruption kinds to draw from. @default all four */
  kinds?: readonly Kind[];
  /** Largest delay between the moment an apply holds the lock and the interruption. @default 1500 */
  maxDelayMs?: number;
  /** Probability of starting two applies at once after an interruption. @default 0.3 */
  twoAtOnce?: number;
  /** Folder for the config (must be inside the package so `zsetup` resolves). @default test/.tmp/chaos-<random> */
  dir?: string;
  /** Give up (a failure) after this long. @default 30 min */
  timeoutMs?: number;
  /** Progress lines. @default console.log */
  log?: (line: string) => void;
  /** Keep every apply's output in <dir>/apply-<n>.log, and the folder itself. @default false */
  keepLogs?: boolean;
  /** Print every interruption (one line each). @default true */
  verbose?: boolean;
}

export interface ChaosReport {
  seed: number;
  lockKind: 'lease' | 'advisory';
  rows: number;
  batch: number;
  /** Interruptions delivered to a live apply, by kind. */
  interruptions: Record<Kind, number>;
  /** Interruptions drawn but not delivered (no live apply at that moment, or no connection to terminate). */
  missed: number;
  /** Where the interruptions landed (phase of the target: startup, lock wait, step name, finishing). */
  landed: Record<string, number>;
  /** `step.started` with action `resume` (the fill continued from a checkpoint). */
  resumes: number;
  /** Steps recovered by a later apply (journal: `interrupted` with "recovered:"). */
  recovered: number;
  /** Rounds completed and verified. */
  rounds: number;
  /** Rows verified (exactly once) over all rounds. */
  rowsChecked: number;
  /** apply processes started (besides the ones that finish a round). */
  applies: number;
  /** Times two applies were started at once. */
  pairs: number;
  /** Exit code/signal counts per kind of the process's last interruption ('none' for bystanders). */
  exits: Record<string, Record<string, number>>;
  /** SIGTERM to exit, ms, for each SIGTERM delivered to a holder. */
  sigtermExitMs: number[];
  /** Applies that stopped because their lease was taken over without being interrupted (late heartbeat on a busy machine). */
  leaseLost: number;
  /** Manual actions taken (always 0: the runner only ever starts `apply`). */
  manualActions: number;
  failures: string[];
  durationMs: number;
}

const APPLY_ARGS = ['apply', '--json', '--lock-timeout', '300s'];
const ONCE_STEPS = ['01_schema', '02_tables', '04_once_fn', '08_after'];
const ALL_STEPS = ['01_schema', '02_tables', '03_small_idx', '04_once_fn', '05_fill', '06_rows_idx', '07_config', '08_after'];
const REPEATABLE = '07_config';
const FILL = '05_fill';

/** mulberry32: a tiny seeded PRNG, uniform in [0, 1) (scripts/prng.mjs, the benches' too). */
export const mulberry32: (seed: number) => () => number = prng;

/** The config the chaos applies. */
export function chaosConfig(o: { rows: number; batch: number; batchSleep: number; lockKind: 'lease' | 'advisory'; leaseTtlMs: number }): string {
  return `// Written by test/chaos/runner.ts.
import { defineConfig, step, repeatable } from 'zsetup';

const ROWS = ${o.rows};
const BATCH = ${o.batch};
const SLEEP = ${o.batchSleep};

export default defineConfig({
  database: { pool: { max: 4 } },
  lock: { kind: '${o.lockKind}', leaseTtl: '${o.leaseTtlMs}ms' },
  apply: { ddlLockTimeout: '5s', retries: 8 },
  steps: [
    // DDL, not idempotent: only its transaction makes it safe to interrupt.
    step('01_schema', {
      sql: \`CREATE SCHEMA chaos;
CREATE TABLE chaos.once_log (id bigint GENERATED ALWAYS AS IDENTITY, step text NOT NULL, pid int NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp());
CREATE TABLE chaos.repeat_log (id bigint GENERATED ALWAYS AS IDENTITY, v int NOT NULL, pid int NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp());
INSERT INTO chaos.once_log (step, pid) VALUES ('01_schema', pg_backend_pid());\`,
    }),
    step('02_tables', {
      sql: \`CREATE TABLE chaos.rows (id int NOT NULL, pid int NOT NULL, at timestamptz NOT NULL DEFAULT now());
CREATE TABLE chaos.small (id int PRIMARY KEY, v text NOT NULL);
INSERT INTO chaos.small SELECT g, md5(g::text) FROM generate_series(1, 20000) g;
INSERT INTO chaos.once_log (step, pid) VALUES ('02_tables', pg_backend_pid());\`,
    }),
    // Outside a transaction: idempotent by IF NOT EXISTS (an invalid leftover is rebuilt).
    step('03_small_idx', { transaction: false, sql: 'CREATE INDEX CONCURRENTLY IF NOT EXISTS small_v ON chaos.small (v)' }),
    // A once-only function step: its insert commits with its done record, or neither.
    step('04_once_fn', {
      run: async (ctx) => {
        await ctx.db.raw('SELECT pg_sleep(0.05)');
        await ctx.db('chaos.once_log').insert({ step: '04_once_fn', pid: process.pid });
      },
    }),
    step('05_fill', {
      resumable: true,
      run: async (ctx) => {
        let next = (ctx.checkpoint as number | undefined) ?? 0;
        while (next < ROWS) {
          ctx.signal.throwIfAborted();
          const to = Math.min(ROWS, next + BATCH);
          await ctx.db.transaction(async (trx) => {
            await trx.raw('INSERT INTO chaos.rows (id, pid) SELECT g, ?::int FROM generate_series(?::int, ?::int) g', [process.pid, next + 1, to]);
            if (SLEEP > 0) await trx.raw('SELECT pg_sleep(?)', [SLEEP]);
            await ctx.saveCheckpoint(trx, to);
          });
          next = to;
          ctx.progress({ done: next, total: ROWS });
        }
      },
    }),
    step('06_rows_idx', { transaction: false, sql: 'CREATE INDEX CONCURRENTLY IF NOT EXISTS rows_id ON chaos.rows (id)' }),
    // Reruns when CHAOS_V changes (the runner bumps it once per round).
    repeatable('07_config', {
      lastRun: () => ({ v: Number(process.env.CHAOS_V ?? 1) }),
      run: async (ctx) => {
        await ctx.db('chaos.repeat_log').insert({ v: Number(process.env.CHAOS_V ?? 1), pid: process.pid });
      },
    }),
    step('08_after', {
      sql: \`CREATE VIEW chaos.rows_per_writer AS SELECT pid, count(*) AS n FROM chaos.rows GROUP BY pid;
INSERT INTO chaos.once_log (step, pid) VALUES ('08_after', pg_backend_pid());\`,
    }),
  ],
});
`;
}

interface Proc {
  child: ChildProcess;
  pid: number;
  n: number;
  spawnedAt: number;
  owner?: string;
  /** lock.acquired seen */
  holder: boolean;
  /** current phase */
  phase: string;
  hits: Kind[];
  stopped: boolean;
  /** Interrupted in a way that ends it (SIGTERM, SIGKILL, SIGSTOP until the lease expired): no longer a target. */
  ending: boolean;
  /** SIGSTOP bookkeeping */
  stoppedAt?: number;
  sigtermAt?: number;
  exited?: { code: number | null; signal: string | null; at: number };
  exit: Promise<void>;
  tail: string[];
  stderr: string;
  finished?: { status: string; stop?: string };
  /** In the fill, and a batch of it committed (a step.progress event): an interruption now leaves a checkpoint to resume from. */
  fillCommitted?: boolean;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const seed = options.seed >>> 0;
  const lockKind = options.lockKind ?? 'lease';
  const rows = options.rows ?? 1_000_000;
  const batch = options.batch ?? 25_000;
  const batchSleep = options.batchSleep ?? 0.01;
  const leaseTtlMs = options.leaseTtlMs ?? 1000;
  const kinds = options.kinds ?? KINDS;
  const maxDelayMs = options.maxDelayMs ?? 1500;
  const twoAtOnce = options.twoAtOnce ?? 0.3;
  const timeoutMs = options.timeoutMs ?? 30 * 60_000;
  const log = options.log ?? ((l: string) => console.log(l));
  const verbose = options.verbose ?? true;
  const t0 = Date.now();
  log(`chaos: seed ${seed} (replay with --seed ${seed}); ${options.interruptions} interruptions of ${kinds.join(', ')}; ${lockKind} lock${lockKind === 'lease' ? ` (ttl ${leaseTtlMs} ms)` : ''}; ${rows} rows in batches of ${batch}`);

  const rand = mulberry32(seed);
  const dir = options.dir ?? join(ROOT, 'test/.tmp', `chaos-${seed}-${randomBytes(3).toString('hex')}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'zsetup.config.ts'), chaosConfig({ rows, batch, batchSleep, lockKind, leaseTtlMs }));
  const ownDir = options.dir === undefined;

  const report: ChaosReport = {
    seed,
    lockKind,
    rows,
    batch,
    interruptions: { SIGTERM: 0, SIGKILL: 0, SIGSTOP: 0, terminate: 0 },
    missed: 0,
    landed: {},
    resumes: 0,
    recovered: 0,
    rounds: 0,
    rowsChecked: 0,
    applies: 0,
    pairs: 0,
    exits: {},
    sigtermExitMs: [],
    leaseLost: 0,
    manualActions: 0,
    failures: [],
    durationMs: 0,
  };
  const fail = (msg: string) => {
    report.failures.push(msg);
    log(`FAILURE: ${msg}`);
  };

  const client = new pg.Client({ connectionString: options.url, application_name: 'chaos-runner' });
  await client.connect();
  client.on('error', () => undefined);
  const q = async <R = Record<string, unknown>>(sql: string, params?: unknown[]) => (await client.query(sql, params)).rows as R[];

  const live = new Set<Proc>();
  let version = 1;
  let procN = 0;
  /** Stale (SIGSTOPped, then taken over) processes of this round, checked at the round's end. */
  let stale: Proc[] = [];
  const pending: Promise<void>[] = [];

  const startApply = (): Proc => {
    const env: NodeJS.ProcessEnv = { ...process.env, FORCE_COLOR: '0', ZSETUP_DATABASE_URL: options.url, ZSETUP_LOCK_KIND: lockKind, CHAOS_V: String(version) };
    delete env.ZSETUP_DEADLINE;
    const child = spawn(process.execPath, [CLI, ...APPLY_ARGS], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const p: Proc = {
      child,
      pid: child.pid!,
      n: ++procN,
      spawnedAt: Date.now(),
      holder: false,
      phase: 'startup',
      hits: [],
      stopped: false,
      ending: false,
      tail: [],
      stderr: '',
      exit: undefined as unknown as Promise<void>,
    };
    let buf = '';
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (d: string) => {
      buf += d;
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (!line.trim()) continue;
        let e: any;
        try {
          e = JSON.parse(line);
        } catch {
          p.tail.push(`(not JSON) ${line}`);
          continue;
        }
        if (options.keepLogs) appendFileSync(join(dir, `apply-${p.n}.log`), `${Date.now() - t0} ${line}\n`);
        if (e.type !== 'step.progress') {
          p.tail.push(line.length > 400 ? `${line.slice(0, 400)}…` : line);
          if (p.tail.length > 40) p.tail.shift();
        }
        switch (e.type) {
          case 'run.started':
            p.owner = e.owner;
            break;
          case 'lock.waiting':
            p.phase = 'lock wait';
            break;
          case 'lock.acquired':
            p.holder = true;
            p.phase = 'recover/plan';
            break;
          case 'step.progress':
            if (e.step === FILL && p.phase === FILL && e.done < e.total) p.fillCommitted = true;
            break;
          case 'step.started':
            p.phase = e.step;
            p.fillCommitted = false;
            if (e.action === 'resume') {
              report.resumes++;
            }
            break;
          case 'step.done':
          case 'step.failed':
          case 'step.interrupted':
            p.phase = 'between steps';
            p.fillCommitted = false;
            break;
          case 'run.finished':
            p.finished = { status: e.status, stop: e.stop };
            p.phase = 'finishing';
            break;
        }
      }
    });
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (d: string) => {
      if (options.keepLogs) appendFileSync(join(dir, `apply-${p.n}.log`), `${Date.now() - t0} STDERR ${d}`);
      p.stderr = (p.stderr + d).slice(-4000);
    });
    p.exit = new Promise<void>((resolve) => {
      child.on('close', (code, signal) => {
        p.exited = { code, signal, at: Date.now() };
        p.holder = false;
        live.delete(p);
        if (p.sigtermAt !== undefined && p.hits[0] === 'SIGTERM') report.sigtermExitMs.push(p.exited.at - p.sigtermAt);
        checkExit(p);
        resolve();
      });
    });
    live.add(p);
    report.applies++;
    return p;
  };

  const exitLabel = (p: Proc) => (p.exited!.signal ? p.exited!.signal : `exit ${p.exited!.code}`);
  /** Which endings are fine for a process, given what was done to it. */
  const checkExit = (p: Proc) => {
    const label = exitLabel(p);
    const key = p.hits[p.hits.length - 1] ?? 'none';
    report.exits[key] ??= {};
    report.exits[key]![label] = (report.exits[key]![label] ?? 0) + 1;
    const ok = new Set<string>(['exit 0']);
    for (const h of p.hits) {
      if (h === 'SIGTERM') ['exit 143', 'SIGTERM'].forEach((x) => ok.add(x));
      if (h === 'SIGKILL') ok.add('SIGKILL');
      if (h === 'SIGSTOP') ['exit 143', 'SIGKILL'].forEach((x) => ok.add(x));
      if (h === 'terminate') ok.add('exit 143'); // the advisory lock's connection: lock lost, stop
    }
    // A lease whose heartbeat was late (the machine is busy; the TTL is only 1 s) is taken
    // over, and its holder stops (fenced): correct, and counted, not a failure. Two holders
    // at once would show in the journal and row checks.
    if (!ok.has(label) && label === 'exit 143' && lockKind === 'lease' && /^lock lost/.test(p.finished?.stop ?? '')) {
      report.leaseLost++;
      if (verbose) log(`  (apply #${p.n} lost its lease without being interrupted: ${p.finished!.stop})`);
      return;
    }
    if (!ok.has(label)) {
      fail(`apply #${p.n} (pid ${p.pid}${p.hits.length ? `, hit by ${p.hits.join('+')}` : ', not interrupted'}) ended with ${label}, expected ${[...ok].join(' or ')}\n    last events:\n      ${p.tail.slice(-8).join('\n      ')}\n    stderr: ${p.stderr.trim().split('\n').slice(-5).join('\n            ')}`);
    }
    if (p.hits.includes('SIGTERM') && p.sigtermAt !== undefined && p.exited!.at - p.sigtermAt > 10_000) {
      fail(`apply #${p.n} took ${p.exited!.at - p.sigtermAt} ms from SIGTERM to exit (cleanup deadline 10 s)`);
    }
  };

  const spawnApplies = (two: boolean) => {
    const n = two && live.size < 4 ? 2 : 1;
    if (n === 2) report.pairs++;
    for (let i = 0; i < n; i++) startApply();
  };

  const waitUntil = async (cond: () => boolean, ms: number): Promise<boolean> => {
    const end = Date.now() + ms;
    while (!cond()) {
      if (Date.now() > end) return false;
      await sleep(5);
    }
    return true;
  };

  /** The processes that could be interrupted now: alive, not stopped, not already on their way out. */
  const targets = () => [...live].filter((p) => !p.stopped && !p.exited && !p.ending);

  const deliver = async (kind: Kind, target: Proc, r: { stopWait: number; contDelay: number; subset: number; two: boolean }): Promise<boolean> => {
    const phase = target.phase;
    const at = Date.now();
    const ms = at - target.spawnedAt;
    switch (kind) {
      case 'SIGTERM':
        target.hits.push(kind);
        target.ending = true;
        target.sigtermAt = at;
        target.child.kill('SIGTERM');
        break;
      case 'SIGKILL':
        target.hits.push(kind);
        target.ending = true;
        target.child.kill('SIGKILL');
        break;
      case 'SIGSTOP': {
        target.hits.push(kind);
        target.child.kill('SIGSTOP');
        target.stopped = true;
        target.stoppedAt = at;
        if (lockKind === 'lease') {
          target.ending = true;
          // Let the lease expire while it is stopped, then start the next apply; wake it later.
          await sleep(leaseTtlMs + 200 + r.stopWait * 800);
          if (!target.exited) stale.push(target);
          spawnApplies(r.two);
          const cont = (async () => {
            await sleep(500 + r.contDelay * 2500);
            target.stopped = false;
            if (!target.exited) target.child.kill('SIGCONT');
            // A stale process that does not stop on its own within 20 s is killed (and reported).
            let timer: NodeJS.Timeout | undefined;
            const exited = await Promise.race([target.exit.then(() => true), new Promise<boolean>((r) => (timer = setTimeout(() => r(false), 20_000)))]);
            clearTimeout(timer); // (a pending 20 s timer would keep the process alive after the run)
            if (!exited) {
              fail(`apply #${target.n} (pid ${target.pid}) still running 20 s after SIGCONT (it lost its lease): killed`);
              target.child.kill('SIGKILL');
            }
          })();
          pending.push(cont);
          if (verbose) log(`  #${report.interruptions.SIGSTOP + 1} SIGSTOP apply #${target.n} at ${ms} ms in ${phase}; started the next apply after the lease expired`);
          report.interruptions.SIGSTOP++;
          report.landed[phase] = (report.landed[phase] ?? 0) + 1;
          return true;
        }
        // Advisory lock: the stopped holder keeps its lock (its connection lives): a pause.
        spawnApplies(r.two);
        await sleep(300 + r.contDelay * 1500);
        target.stopped = false;
        target.child.kill('SIGCONT');
        report.interruptions.SIGSTOP++;
        report.landed[phase] = (report.landed[phase] ?? 0) + 1;
        if (verbose) log(`  #${report.interruptions.SIGSTOP} SIGSTOP (pause) apply #${target.n} at ${ms} ms in ${phase}`);
        return true;
      }
      case 'terminate': {
        // Its connections: the pool's (application_name 'zsetup'), and for the advisory lock
        // sometimes its lock connection ('zsetup@<since> <owner>') instead, or both.
        const which = lockKind === 'advisory' ? (r.subset < 0.4 ? 'lock' : r.subset < 0.7 ? 'pool' : 'all') : 'pool';
        const cond =
          which === 'lock' ? `application_name LIKE 'zsetup@%'` : which === 'pool' ? `application_name = 'zsetup'` : `(application_name = 'zsetup' OR application_name LIKE 'zsetup@%')`;
        const killed = await q<{ pid: number }>(
          `WITH victims AS MATERIALIZED (SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND ${cond})
           SELECT pid FROM victims WHERE pg_terminate_backend(pid)`,
        );
        if (killed.length === 0) return false;
        for (const p of live) if (!p.exited && !p.stopped) p.hits.push('terminate');
        if (verbose) log(`  #${report.interruptions.terminate + 1} terminate ${killed.length} ${which} connection(s) at ${ms} ms in ${phase} of apply #${target.n}`);
        report.interruptions.terminate++;
        report.landed[phase] = (report.landed[phase] ?? 0) + 1;
        if (r.two) spawnApplies(false);
        return true;
      }
    }
    report.interruptions[kind]++;
    report.landed[phase] = (report.landed[phase] ?? 0) + 1;
    if (verbose) log(`  #${report.interruptions[kind]} ${kind} apply #${target.n} at ${ms} ms in ${phase}`);
    spawnApplies(r.two);
    return true;
  };

  const delivered = () => Object.values(report.interruptions).reduce((a, b) => a + b, 0);

  // ----- rounds -----
  const reset = async () => {
    await q(`WITH victims AS MATERIALIZED (SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()) SELECT pg_terminate_backend(pid) FROM victims`);
    await q('DROP SCHEMA IF EXISTS chaos CASCADE');
    await q('DROP SCHEMA IF EXISTS zsetup CASCADE');
    version = 1;
    stale = [];
  };

  const isComplete = async (): Promise<boolean> => {
    const r = await q<{ step: string; event: string; last_run: any }>(
      `SELECT DISTINCT ON (step) step, event, last_run FROM zsetup.journal ORDER BY step, id DESC`,
    ).catch((err) => {
      if (['42P01', '3F000'].includes((err as { code?: string }).code ?? '')) return [];
      throw err;
    });
    const latest = new Map(r.map((x) => [x.step, x]));
    return ALL_STEPS.every((s) => latest.get(s)?.event === 'done') && latest.get(REPEATABLE)?.last_run?.v === version;
  };

  const verifyRound = async (round: number) => {
    const before = report.failures.length;
    const f = (m: string) => fail(`round ${round}: ${m}`);
    // Every row exactly once.
    const [c] = await q<{ n: string; d: string; lo: number | null; hi: number | null }>(
      'SELECT count(*) AS n, count(DISTINCT id) AS d, min(id) AS lo, max(id) AS hi FROM chaos.rows',
    );
    const n = Number(c!.n);
    const d = Number(c!.d);
    if (n !== rows || d !== rows || c!.lo !== 1 || c!.hi !== rows)
      f(`rows: ${n} written, ${d} distinct, ids ${c!.lo}..${c!.hi}; expected ${rows} exactly once (${Math.max(0, rows - d)} lost, ${n - d} duplicated)`);
    else report.rowsChecked += n;
    // Every once-only step exactly once.
    const once = await q<{ step: string; n: number }>('SELECT step, count(*)::int AS n FROM chaos.once_log GROUP BY step ORDER BY step');
    const onceMap = new Map(once.map((x) => [x.step, x.n]));
    for (const s of ONCE_STEPS) if (onceMap.get(s) !== 1) f(`once-only step ${s} ran ${onceMap.get(s) ?? 0} times (once_log)`);
    // The repeatable step: one repeat_log row per done, in the same order of versions.
    const reps = await q<{ v: number }>('SELECT v FROM chaos.repeat_log ORDER BY id');
    const repDone = await q<{ v: number }>(`SELECT (last_run->>'v')::int AS v FROM zsetup.journal WHERE step = $1 AND event = 'done' ORDER BY id`, [REPEATABLE]);
    if (JSON.stringify(reps.map((x) => x.v)) !== JSON.stringify(repDone.map((x) => x.v)))
      f(`repeatable ${REPEATABLE}: ran with versions [${reps.map((x) => x.v)}] but the journal records done for [${repDone.map((x) => x.v)}]`);
    // No invalid index; both concurrent indexes exist.
    const invalid = await q<{ name: string }>('SELECT indexrelid::regclass::text AS name FROM pg_index WHERE NOT indisvalid');
    if (invalid.length) f(`invalid index(es): ${invalid.map((x) => x.name).join(', ')}`);
    const idx = await q<{ name: string }>(`SELECT indexname AS name FROM pg_indexes WHERE schemaname = 'chaos' AND indexname IN ('small_v', 'rows_id')`);
    if (idx.length !== 2) f(`expected indexes small_v and rows_id, found: ${idx.map((x) => x.name).join(', ') || 'none'}`);
    // The journal: nothing left started, and every step's events tell a consistent story.
    const journal = await q<{ id: number; step: string; event: string; owner: string; error: string | null; at: Date }>(
      'SELECT id::int AS id, step, event, owner, error, at FROM zsetup.journal ORDER BY id',
    );
    const bySteps = new Map<string, typeof journal>();
    for (const e of journal) (bySteps.get(e.step) ?? bySteps.set(e.step, []).get(e.step)!).push(e);
    for (const s of ALL_STEPS) {
      const evs = bySteps.get(s) ?? [];
      let open: string | undefined;
      const story = () => evs.map((e) => `${e.id}:${e.event}@${e.owner.split(':')[1]}`).join(' ');
      for (const e of evs) {
        const bad = (why: string) => f(`journal of ${s}: ${why} (event ${e.id}); story: ${story()}`);
        switch (e.event) {
          case 'started':
            // The same owner again: its first `started` record failed on a connection fault
            // (or committed while the client saw the error) and was written again.
            if (open !== undefined && open !== e.owner) bad(`started by ${e.owner} while ${open}'s start is still open`);
            open = e.owner;
            break;
          case 'done':
          case 'failed':
            if (open !== e.owner) bad(`${e.event} by ${e.owner} without its own open start (open: ${open ?? 'none'})`);
            if (e.event === 'failed') bad(`failed: ${e.error}`);
            open = undefined;
            break;
          case 'interrupted':
            if (open === undefined) bad(`interrupted without an open start`);
            else if (open !== e.owner && !(e.error ?? '').startsWith('recovered:')) bad(`interrupted by ${e.owner} for ${open}'s start without being a recovery`);
            if ((e.error ?? '').startsWith('recovered:')) report.recovered++;
            open = undefined;
            break;
        }
      }
      if (evs.length === 0 || evs[evs.length - 1]!.event !== 'done') f(`${s}: latest journal event is ${evs[evs.length - 1]?.event ?? 'none'}, expected done`);
      if (s !== REPEATABLE) {
        const dones = evs.filter((e) => e.event === 'done').length;
        if (dones !== 1) f(`${s}: ${dones} done events, expected 1; story: ${story()}`);
      }
    }
    const unknown = [...bySteps.keys()].filter((s) => !ALL_STEPS.includes(s));
    if (unknown.length) f(`journal has events of undeclared steps: ${unknown.join(', ')}`);
    // One writer at a time: every apply acquires the lock once, so its journal events are
    // one contiguous block (an owner that writes again after another owner wrote was writing
    // without the lock: a stopped process taken over, an unfenced record).
    const seenOwners = new Set<string>();
    for (let i = 0; i < journal.length; i++) {
      const e = journal[i]!;
      if (i > 0 && journal[i - 1]!.owner !== e.owner && seenOwners.has(e.owner)) {
        const prev = journal.filter((x) => x.owner === e.owner && x.id < e.id).slice(-1)[0]!;
        const between = journal.filter((x) => x.id > prev.id && x.id < e.id).map((x) => x.owner).filter((o, j, a) => a.indexOf(o) === j);
        f(`journal: ${e.owner} wrote event ${e.id} (${e.step} ${e.event}) after ${between.join(', ')} had written (its last event was ${prev.id}): two writers`);
      }
      seenOwners.add(e.owner);
    }
    // A process SIGSTOPped while it worked (it had written before the stop) and taken over
    // committed no rows in transactions it began after the taker's first record.
    for (const p of stale) {
      if (!p.owner || !journal.some((e) => e.owner === p.owner && e.at.getTime() <= p.stoppedAt!)) continue;
      const taker = journal.find((e) => e.owner !== p.owner && e.at.getTime() > p.stoppedAt!);
      if (!taker) continue; // nobody took over while it was stopped (its own lease survived)
      const [lateRows] = await q<{ n: string }>('SELECT count(*) AS n FROM chaos.rows WHERE pid = $1 AND at > $2', [p.pid, taker.at]);
      if (Number(lateRows!.n) > 0) f(`stopped apply #${p.n} (pid ${p.pid}) committed ${lateRows!.n} rows in transactions begun after ${taker.owner} took over`);
    }
    // The engine agrees: nothing pending.
    const plan = await runCli(['plan', '--json', '--exit-code']);
    if (plan.code !== 0) f(`plan --exit-code after the round exited ${plan.code}: ${plan.stdout.slice(0, 800)} ${plan.stderr.slice(0, 400)}`);
    const ok = report.failures.length === before;
    log(`round ${round}: ${ok ? 'verified' : 'FAILED'}: ${n} rows (${d} distinct), once-only ${ONCE_STEPS.map((s) => onceMap.get(s) ?? 0).join('/')}, repeatable versions [${reps.map((x) => x.v)}], ${journal.length} journal events, ${invalid.length} invalid indexes (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  };

  const runCli = (args: string[]) =>
    new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const env: NodeJS.ProcessEnv = { ...process.env, FORCE_COLOR: '0', ZSETUP_DATABASE_URL: options.url, ZSETUP_LOCK_KIND: lockKind, CHAOS_V: String(version) };
      const c = spawn(process.execPath, [CLI, ...args], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      c.stdout.on('data', (d) => (stdout += d));
      c.stderr.on('data', (d) => (stderr += d));
      c.on('close', (code) => resolve({ code, stdout, stderr }));
    });

  /** Nothing is running: finish the round (verify, reset) if the work is done, else start apply again. */
  const settle = async (r: { two: boolean }): Promise<void> => {
    await Promise.all(pending.splice(0));
    if (live.size > 0) return;
    if (await isComplete()) {
      report.rounds++;
      await verifyRound(report.rounds);
      await reset();
      roundInterruptions = 0;
      bumpAt = 1 + Math.floor(rand() * 5);
    }
    spawnApplies(r.two);
  };

  let roundInterruptions = 0;
  /** Interruptions that hit the fill after a committed batch, of a kind after which a later apply resumes it. */
  let fillHits = 0;
  const resuming = (k: Kind) => k === 'SIGTERM' || k === 'SIGKILL' || (k === 'SIGSTOP' && lockKind === 'lease');
  let bumpAt = 1 + Math.floor(rand() * 5);
  let timedOut = false;

  try {
    await reset();
    spawnApplies(false);
    while (delivered() < options.interruptions) {
      if (Date.now() - t0 > timeoutMs) {
        timedOut = true;
        fail(`gave up after ${Math.round((Date.now() - t0) / 1000)} s with ${delivered()} of ${options.interruptions} interruptions delivered`);
        break;
      }
      // Every cycle draws the same number of values, so the schedule follows from the seed.
      const r = { kind: rand(), early: rand(), delay: rand(), two: rand() < twoAtOnce, stopWait: rand(), contDelay: rand(), subset: rand() };
      // Every kind at least once: when the interruptions left are as many as the kinds not
      // yet delivered, take the first of those.
      const missing = kinds.filter((k) => report.interruptions[k] === 0);
      const left = options.interruptions - delivered();
      let kind = missing.length > 0 && left <= missing.length ? missing[0]! : kinds[Math.floor(r.kind * kinds.length)]!;
      if (roundInterruptions === bumpAt && version === 1) version = 2; // the repeatable step reruns
      // At least one resume: if no interruption has yet hit the fill after a committed batch
      // (with a kind a later apply resumes from), the last one not owed to a missing kind
      // waits for a fill that has committed a batch (the event, not a moment), and hits it.
      const resumer = kinds.find(resuming);
      if (fillHits === 0 && resumer && left === missing.length + 1) {
        if (!resuming(kind)) kind = resumer;
        const inFill = () => targets().find((p) => p.phase === FILL && p.fillCommitted);
        await waitUntil(() => inFill() !== undefined || targets().length === 0, 60_000);
        const target = inFill();
        if (!target) {
          // The fill of this round is done (or nothing runs): finish the round; the next one fills again.
          if (live.size > 0) await Promise.race([...live].map((p) => p.exit));
          else await settle(r);
          continue;
        }
        if (await deliver(kind, target, r)) {
          roundInterruptions++;
          fillHits++;
        } else report.missed++;
        continue;
      }
      if (r.early < 0.12) {
        // Early: during startup, lock wait or recovery.
        await sleep(r.delay * 600);
      } else {
        await waitUntil(() => targets().some((p) => p.holder) || targets().length === 0, 60_000);
        await sleep(r.delay * maxDelayMs);
      }
      const ts = targets();
      const target = ts.find((p) => p.holder) ?? ts[0];
      if (!target) {
        // Nothing to interrupt (every apply finished, or the others are stopped/ending).
        if (live.size > 0) await Promise.race([...live].map((p) => p.exit));
        else await settle(r);
        continue;
      }
      const hitsFill = resuming(kind) && target.phase === FILL && target.fillCommitted === true;
      const ok = await deliver(kind, target, r);
      if (ok) {
        roundInterruptions++;
        if (hitsFill) fillHits++;
      } else report.missed++;
    }
    // Drain: wake and wait for everything, then apply until the last round is done.
    await Promise.all(pending.splice(0));
    await Promise.all([...live].map((p) => p.exit));
    for (let i = 0; !timedOut; i++) {
      if (await isComplete()) {
        report.rounds++;
        await verifyRound(report.rounds);
        break;
      }
      if (i === 5) {
        fail('the last round did not complete after 5 uninterrupted applies');
        break;
      }
      const p = startApply();
      await p.exit;
    }
  } finally {
    for (const p of live) {
      if (p.stopped) p.child.kill('SIGCONT');
      p.child.kill('SIGKILL');
    }
    await Promise.all([...live].map((p) => p.exit));
    await client.end().catch(() => undefined);
    if (ownDir && !options.keepLogs) rmSync(dir, { recursive: true, force: true });
  }
  report.durationMs = Date.now() - t0;
  for (const line of formatReport(report)) log(line);
  return report;
}

function pct(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
}

/** The table printed at the end. */
export function formatReport(r: ChaosReport): string[] {
  const total = Object.values(r.interruptions).reduce((a, b) => a + b, 0);
  const lines: string[] = [];
  const row = (k: string, v: string | number) => lines.push(`| ${k.padEnd(34)} | ${String(v).padStart(28)} |`);
  lines.push('');
  lines.push(`chaos report: seed ${r.seed}, ${r.lockKind} lock, ${r.rows} rows per round, batches of ${r.batch}`);
  lines.push(`| ${'what'.padEnd(34)} | ${'count'.padStart(28)} |`);
  lines.push(`|${'-'.repeat(36)}|${'-'.repeat(30)}|`);
  for (const k of KINDS) row(`interruptions: ${k}`, r.interruptions[k]);
  row('interruptions: total', total);
  row('drawn but missed (nothing to hit)', r.missed);
  row('resumes (fill from checkpoint)', r.resumes);
  row('steps recovered by a later apply', r.recovered);
  row('apply processes started', r.applies);
  row('  of which two at once (pairs)', r.pairs);
  row('rounds (done + verified + reset)', r.rounds);
  row('rows checked (exactly once)', r.rowsChecked);
  row('rows lost / duplicated', r.failures.some((f) => /rows:/.test(f)) ? 'SEE FAILURES' : '0 / 0');
  row('leases lost, not interrupted', r.leaseLost);
  row('manual actions', r.manualActions);
  row('failures', r.failures.length);
  row('total time', `${(r.durationMs / 1000).toFixed(1)} s`);
  if (r.sigtermExitMs.length) row('SIGTERM->exit ms (median/p95/max)', `${pct(r.sigtermExitMs, 50)} / ${pct(r.sigtermExitMs, 95)} / ${Math.max(...r.sigtermExitMs)}`);
  lines.push('');
  lines.push(`landed in: ${Object.entries(r.landed).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  lines.push(`exits by last interruption: ${Object.entries(r.exits).map(([k, v]) => `${k}: ${Object.entries(v).map(([c, n]) => `${c} x${n}`).join(', ')}`).join('; ')}`);
  if (r.failures.length) {
    lines.push('');
    lines.push(`FAILURES (${r.failures.length}):`);
    for (const f of r.failures) lines.push(`  - ${f}`);
  }
  return lines;
}
