#!/usr/bin/env node
// bench/events2-stops.mjs: issue 12's "Stops" bars for `zsetup apply` of the events2 move
// (plugins/events2: `events2.move`, step 14_events_push), on real `zsetup apply` processes,
// each on a `CREATE DATABASE ... TEMPLATE` copy of one legacy database.
//
//  1. Batches: the step logs, at the end of its copy, `copied N pages (R rows in this run) in B
//     batches of p50 X ms, p95 Y ms, max Z ms, in S s`; parsed from every run that copies
//     (the full runs of 3 and the resumed ones). Bar: batch p95 <= 200 ms (median of the
//     full runs' p95; each run's figures are printed).
//  2. SIGTERM -> exit during the copy: an apply runs until the step's checkpoint
//     (`zsetup.checkpoints`, polled every 10 ms) has passed a point of the copy drawn by a
//     seeded PRNG, then gets SIGTERM; time from kill() to the child's 'exit' event. Each copy
//     of the legacy database takes --kills-per-copy (2) trials: the next apply resumes and is
//     stopped at a point drawn in what is left (after it has committed a batch of its own).
//     After each stop: exit code 143 (src/cli/exit.ts), checkpoint = the units marked done,
//     and rows in the copy = legacy rows of the done units (the batches in flight rolled
//     back). The last copy is then finished by a plain apply (exit 0, events2 = legacy rows).
//     Bar: p95 <= 1 s over >= 20 trials, every exit 143.
//  3. Resume after a kill at 90%: --reps (3) pairs, each on two fresh copies: a full
//     uninterrupted apply (its copy phase from its `copied ... in S s` line, and its process
//     time, spawn to exit), and an apply SIGKILLed once the checkpoint says >= 90% of the
//     pages are done followed by a resumed apply (its copy phase and its process time).
//     The order within a pair alternates. Bar: resumed copy phase / full copy phase <= 15%
//     (median of the pairs). Also printed: extra work = (killed run + resumed run - full run)
//     / full run, and resumed total / full total (the indexes and the verification are built
//     after the copy, so the resumed run's total includes all of them).
//
//   node bench/events2-stops.mjs --base zs_mv_base          # ~12 min at 2,000,000 events
//   node bench/events2-stops.mjs --events 200000             # generates its own legacy database
//   options: --base DB (a legacy database to copy; only used as TEMPLATE, never modified),
//   --events N (2000000) --instances N (100) (when generating), --trials N (20),
//   --kills-per-copy N (2), --reps N (3), --seed N (the PRNG of the kill points),
//   --strategy FILE_COPY|WAL_LOG (how CREATE DATABASE copies: FILE_COPY, see STRATEGY),
//   --only batches,stops,resume (batches come from the runs of resume), --keep
//
// Databases: zs_bench_st_<random>_*, every one dropped at the end (also on failure, Ctrl-C).
// Never part of the test run.
import pg from 'pg';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { CLI, ROOT, SERVER, WORK, admin, arg, bar, exitCode, load, machine, median, rel, requireBuild, revision, table, writeJson, mulberry32, writeMoveConfig } from './lib/common.mjs';

const BASE = arg('--base', '');
const EVENTS = Number(arg('--events', 2_000_000));
const INSTANCES = Number(arg('--instances', 100));
const TRIALS = Number(arg('--trials', 20));
const PER_COPY = Math.max(1, Number(arg('--kills-per-copy', 2)));
const REPS = Number(arg('--reps', 3));
const SEED = arg('--seed', undefined) !== undefined ? Number(arg('--seed')) >>> 0 : randomBytes(4).readUInt32BE(0);
const ONLY = new Set(arg('--only', 'batches,stops,resume').split(','));
const KEEP = process.argv.includes('--keep');
/**
 * How CREATE DATABASE copies the template. FILE_COPY (the default here): files copied between
 * two immediate checkpoints, nothing left for the timed apply; PostgreSQL 15's own default,
 * WAL_LOG, writes the whole legacy database (~1.3 GB at 2,000,000 events) to the WAL, and the
 * checkpoints that WAL triggers run into the apply that follows.
 */
const STRATEGY = arg('--strategy', 'FILE_COPY').toUpperCase();
if (!['FILE_COPY', 'WAL_LOG'].includes(STRATEGY)) {
  console.error(`--strategy: FILE_COPY or WAL_LOG, not ${STRATEGY}`);
  process.exit(2);
}
const STEP = '14_events_push';
/** How often the checkpoint is polled while waiting for a point of the copy. */
const POLL_MS = 10;

requireBuild();
const id = randomBytes(3).toString('hex');
const prefix = `zs_bench_st_${id}`;
const dbs = new Set();
const children = new Set();
const url = (db) => `${SERVER}/${db}`;
const dir = join(WORK, `events2-stops-${id}`);
const tmp = join(dir, 'tmp');
mkdirSync(tmp, { recursive: true });
writeMoveConfig(dir);

const rand = mulberry32(SEED);
const pct = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.max(0, Math.ceil(p * xs.length) - 1))];
const ms = (x) => `${Math.round(x)} ms`;
const s2 = (x) => `${(x / 1000).toFixed(2)} s`;
const pc = (x) => `${(100 * x).toFixed(1)}%`;
const wait = (t) => new Promise((r) => setTimeout(r, t));

let cleaned = false;
async function cleanup() {
  if (cleaned) return;
  cleaned = true;
  for (const c of children) c.kill('SIGKILL');
  for (const db of dbs) {
    await admin(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`).catch((err) => console.error(`warning: could not drop ${db}: ${err.message}`));
  }
  if (!KEEP) rmSync(dir, { recursive: true, force: true });
  else console.log(`(--keep: left ${rel(dir)})`);
}
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => {
    console.error(`\n${sig}: dropping ${[...dbs].join(', ') || 'nothing'}`);
    cleanup().finally(() => process.exit(130));
  });
}

/** A new copy of the legacy database (the template must have no other session: retried a few times). */
let copies = 0;
async function copyOf(source) {
  const db = `${prefix}_${++copies}`;
  dbs.add(db);
  for (let attempt = 1; ; attempt++) {
    try {
      await admin(`CREATE DATABASE ${db} TEMPLATE ${source} STRATEGY ${STRATEGY}`);
      if (copies === 1) {
        // Once, untimed: zsetup's transpile cache of this config and its code cache, as any
        // apply after the first finds them (`plan` never writes).
        const r = spawnSync(process.execPath, [CLI, 'plan'], { cwd: dir, env: { ...process.env, ZSETUP_DATABASE_URL: url(db), TMPDIR: tmp }, encoding: 'utf8' });
        if (r.status !== 0) throw new Error(`zsetup plan exited ${r.status}:\n${r.stdout}\n${r.stderr}`);
      }
      return db;
    } catch (err) {
      // 55006: source database "..." is being accessed by other users.
      if (err.code !== '55006' || attempt >= 10) throw err;
      console.log(`  (template ${source} in use by another session, trying again in 2 s)`);
      await wait(2000);
    }
  }
}
async function drop(db) {
  if (KEEP) return;
  await admin(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
  dbs.delete(db);
}

/** `zsetup apply` as a child process; its output lines are kept with their arrival times. */
function apply(db) {
  const t0 = performance.now();
  const child = spawn(process.execPath, [CLI, 'apply'], {
    cwd: dir,
    env: { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1', ZSETUP_DATABASE_URL: url(db), TMPDIR: tmp },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  const p = { child, t0, lines: [], exited: undefined };
  for (const stream of [child.stdout, child.stderr]) {
    let buf = '';
    stream.setEncoding('utf8');
    stream.on('data', (d) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        p.lines.push({ t: performance.now() - t0, text: buf.slice(0, i) });
        buf = buf.slice(i + 1);
      }
    });
  }
  p.exit = new Promise((resolve) =>
    child.on('exit', (code, signal) => {
      p.exited = { code, signal, at: performance.now() };
      children.delete(child);
      resolve(p.exited);
    }),
  );
  // 'close' (the pipes drained) after 'exit': the output is complete.
  p.closed = new Promise((resolve) => child.on('close', resolve));
  p.output = () => p.lines.map((l) => l.text).join('\n');
  return p;
}

const COPIED = /copied ([\d,]+) pages \(([\d,]+) rows in this run\) in ([\d,]+) batches of p50 (\d+) ms, p95 (\d+) ms, max (\d+) ms, in ([\d.]+) s/;
const num = (x) => Number(x.replace(/,/g, ''));
/** The step's copy line: pages, rows, batches, p50/p95/max (ms) and the copy phase (ms). */
function copyLine(p) {
  const m = p.lines.map((l) => COPIED.exec(l.text)).find(Boolean);
  return m ? { pages: num(m[1]), rows: num(m[2]), batches: num(m[3]), p50: Number(m[4]), p95: Number(m[5]), max: Number(m[6]), ms: 1000 * Number(m[7]) } : undefined;
}

/** A session on one copy, for polling its checkpoint and checking the copy. */
async function session(db) {
  const c = new pg.Client({ connectionString: url(db) });
  await c.connect();
  return c;
}
async function checkpoint(c) {
  try {
    const r = await c.query(`SELECT done, total, owner FROM zsetup.checkpoints WHERE step = $1`, [STEP]);
    return r.rows[0] ? { done: Number(r.rows[0].done), total: Number(r.rows[0].total), owner: r.rows[0].owner } : undefined;
  } catch (err) {
    if (err.code === '42P01' || err.code === '3F000') return undefined; // zsetup's tables not created yet
    throw err;
  }
}
/**
 * Poll the checkpoint until `until(cp)` holds (returns it), or the process exits (returns
 * undefined). Synchronised on what the database says, never on time.
 */
async function waitFor(c, p, until) {
  for (;;) {
    if (p.exited) return undefined;
    const cp = await checkpoint(c);
    if (cp && until(cp)) return cp;
    await wait(POLL_MS);
  }
}

/**
 * After a stop in the copy: the copy holds exactly the legacy rows of the units marked done
 * (the batches in flight rolled back with their marks). Also the checkpoint's `done` against
 * the pages of the done units: each batch saves the sum it read before its commit, so with
 * two workers the last commit may save a sum without the other's batch (progress only).
 */
async function consistency(c) {
  const cp = await checkpoint(c);
  const { rows } = await c.query(`SELECT
      (SELECT coalesce(sum(end_page - first_page), 0) FROM eventstore.events2_move_units WHERE done)::bigint AS units_done,
      (SELECT count(*) FROM eventstore.events2_move_units WHERE done)::int AS units,
      (SELECT count(*) FROM eventstore.events2_move)::bigint AS copied,
      (SELECT coalesce(sum((SELECT count(*) FROM eventstore.events e WHERE e.ctid >= format('(%s,0)', u.first_page)::tid AND e.ctid < format('(%s,0)', u.end_page)::tid)), 0)
         FROM eventstore.events2_move_units u WHERE u.done)::bigint AS legacy`);
  const r = rows[0];
  const x = { done: cp?.done, unitsDone: Number(r.units_done), copied: Number(r.copied), legacy: Number(r.legacy) };
  // The rows are the bar; the checkpoint's done is progress only (it may lag the units: see below).
  return { ...x, ok: x.copied === x.legacy };
}

const results = { seed: SEED, revision: revision(), machine: machine(), when: new Date().toISOString(), base: BASE || undefined };
const runs = []; // every apply that logged its copy line: { kind, copy, wallMs }

try {
  console.log(`events2-stops: ${machine()}; ${revision()}; at start: ${load()}; seed ${SEED}; copies: CREATE DATABASE ... TEMPLATE ... STRATEGY ${STRATEGY}`);
  let source = BASE;
  let legacyRows;
  if (BASE) {
    const c = await session(BASE);
    legacyRows = Number((await c.query('SELECT count(*) AS n FROM eventstore.events')).rows[0].n);
    await c.end(); // a template must have no other session
    console.log(`${legacyRows.toLocaleString('en-US')} legacy events in ${BASE} (--base: copied with CREATE DATABASE ... TEMPLATE, never modified)`);
  } else {
    const { generateLegacyEvents } = await import(join(ROOT, 'scripts/zitadel-legacy-events.mjs'));
    source = `${prefix}_base`;
    dbs.add(source);
    await admin(`CREATE DATABASE ${source}`);
    const c = await session(source);
    const t0 = performance.now();
    const g = await generateLegacyEvents(c, { events: EVENTS, instances: INSTANCES, seed: 7 });
    await c.query('VACUUM ANALYZE eventstore.events');
    await c.end();
    legacyRows = g.events;
    console.log(`${g.events.toLocaleString('en-US')} legacy events over ${INSTANCES} instances generated in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }

  // ------------------------------------------------------------ 3 (and 1): full runs against kill at 90% + resume
  const pairs = [];
  if (ONLY.has('resume') || ONLY.has('batches')) {
    console.log(`\nResume after a kill at 90%: ${REPS} pairs (a full apply; an apply SIGKILLed at >= 90% of the pages, then the next apply), each on fresh copies`);
    /** An apply run to its end: exit 0 and its copy line, or the bench stops with its output. */
    const toEnd = async (db, what) => {
      const p = apply(db);
      await p.exit;
      await p.closed;
      if (p.exited.code !== 0) throw new Error(`${what} apply exited ${p.exited.code ?? p.exited.signal}:\n${p.output()}`);
      const copy = copyLine(p);
      if (!copy) throw new Error(`no copy line in the ${what} apply's output:\n${p.output()}`);
      return { wallMs: p.exited.at - p.t0, copy };
    };
    for (let rep = 1; rep <= REPS; rep++) {
      const pair = { rep };
      const order = rep % 2 ? ['full', 'killed'] : ['killed', 'full'];
      for (const what of order) {
        const db = await copyOf(source);
        if (what === 'full') {
          pair.full = await toEnd(db, 'full');
          runs.push({ kind: 'full', ...pair.full });
        } else {
          const c = await session(db);
          const p = apply(db);
          const cp = await waitFor(c, p, (x) => x.total > 0 && x.done >= 0.9 * x.total);
          if (!cp) throw new Error(`the apply exited before 90% of the copy:\n${p.output()}`);
          const killedAt = performance.now();
          p.child.kill('SIGKILL');
          await p.exit;
          const landed = await consistency(c);
          await c.end();
          pair.killed = { wallMs: killedAt - p.t0, landed: landed.unitsDone / cp.total, pollSaw: cp.done / cp.total, rowsOk: landed.ok };
          pair.resumed = await toEnd(db, 'resumed');
          runs.push({ kind: 'resumed', ...pair.resumed });
        }
        await drop(db);
      }
      pair.copyRatio = pair.resumed.copy.ms / pair.full.copy.ms;
      pair.totalRatio = pair.resumed.wallMs / pair.full.wallMs;
      pair.extra = (pair.killed.wallMs + pair.resumed.wallMs - pair.full.wallMs) / pair.full.wallMs;
      pairs.push(pair);
      console.log(
        `  pair ${rep} (${order.join(' first, ')}): full ${s2(pair.full.wallMs)} (copy ${s2(pair.full.copy.ms)}); killed at ${pc(pair.killed.landed)} after ${s2(pair.killed.wallMs)}; resumed ${s2(pair.resumed.wallMs)} (copy ${s2(pair.resumed.copy.ms)}, ${pair.resumed.copy.pages - Math.round(pair.killed.landed * pair.resumed.copy.pages)} pages left) -> copy ${pc(pair.copyRatio)}, total ${pc(pair.totalRatio)}, extra ${pc(pair.extra)}`,
      );
    }
    results.resume = pairs;
  }

  // ------------------------------------------------------------ 2: SIGTERM -> exit during the copy
  const trials = [];
  let missed = 0;
  let finished;
  if (ONLY.has('stops')) {
    console.log(`\nSIGTERM during the copy: ${TRIALS} trials, ${PER_COPY} per copy of the legacy database, kill points drawn by the PRNG (seed ${SEED})`);
    let db;
    let c;
    let onThisCopy = 0;
    const fresh = async () => {
      if (c) await c.end();
      if (db) await drop(db);
      db = await copyOf(source);
      c = await session(db);
      onThisCopy = 0;
    };
    while (trials.length < TRIALS) {
      if (!db || onThisCopy >= PER_COPY) await fresh();
      const before = await checkpoint(c);
      const from = before?.done ?? 0;
      const total = before?.total;
      // Too little left on this copy for another point: a fresh copy.
      if (total && total - from < 0.1 * total) {
        await fresh();
        continue;
      }
      const p = apply(db);
      // The copy runs in this process: a batch of its own committed (done moved past where it started).
      const started = await waitFor(c, p, (x) => x.total > 0 && x.done > from && x.done < x.total);
      if (!started) throw new Error(`the apply exited before its copy ran:\n${p.output()}`);
      // A point of what is left, 1% to 95% of it, in pages.
      const target = Math.ceil(from + (0.01 + 0.94 * rand()) * (started.total - from));
      const at = await waitFor(c, p, (x) => x.done >= target || x.done >= x.total);
      if (!at || at.done >= at.total) {
        // The copy ended before the signal: not a trial (the apply is stopped, the copy dropped).
        missed++;
        console.log(`  missed: the copy ended before the point (${target}/${started.total} pages)`);
        p.child.kill('SIGKILL');
        await p.exit;
        onThisCopy = PER_COPY;
        continue;
      }
      const t = performance.now();
      p.child.kill('SIGTERM');
      const ex = await p.exit;
      await p.closed;
      const exitMs = ex.at - t;
      const check = await consistency(c);
      const stopping = p.lines.find((l) => /stopping/.test(l.text));
      const trial = {
        n: trials.length + 1,
        copyNo: copies,
        kill: onThisCopy + 1,
        exitMs,
        code: ex.code,
        signal: ex.signal,
        from: from / started.total,
        point: at.done / at.total,
        after: check.unitsDone / started.total,
        lag: check.unitsDone - check.done,
        stoppingMs: stopping ? stopping.t - (t - p.t0) : undefined,
        check,
      };
      trials.push(trial);
      onThisCopy++;
      console.log(
        `  trial ${String(trial.n).padStart(2)} (copy ${trial.copyNo}, kill ${trial.kill}): from ${pc(trial.from)}, SIGTERM at ${pc(trial.point)} -> exit ${ex.code ?? ex.signal} after ${ms(exitMs).padStart(7)}; done units ${pc(trial.after)}${check.done === check.unitsDone ? ' = checkpoint' : ` (checkpoint ${check.done - check.unitsDone} pages)`}, ${check.copied.toLocaleString('en-US')} rows copied ${check.copied === check.legacy ? '= legacy rows of the done units' : `!= ${check.legacy} legacy rows of the done units`}${ex.code === 143 && check.ok ? '' : '  <-- WRONG'}`,
      );
      if (ex.code !== 143) console.log(p.output().split('\n').slice(-8).map((l) => `      | ${l}`).join('\n'));
    }
    // The last copy: a plain apply finishes the move.
    if (db) {
      const r = apply(db);
      await r.exit;
      await r.closed;
      const copy = copyLine(r);
      if (copy) runs.push({ kind: 'resumed', copy, wallMs: r.exited.at - r.t0 });
      const [{ n }] = (await c.query(`SELECT count(*) AS n FROM eventstore.events2`).catch(() => ({ rows: [{ n: -1 }] }))).rows;
      finished = { code: r.exited.code, rows: Number(n), ok: r.exited.code === 0 && Number(n) === legacyRows };
      console.log(`  the last copy finished by a plain apply: exit ${r.exited.code ?? r.exited.signal}, events2 ${Number(n).toLocaleString('en-US')} rows (legacy ${legacyRows.toLocaleString('en-US')})${finished.ok ? '' : '  <-- WRONG'}`);
      if (r.exited.code !== 0) console.log(r.output());
      await c.end();
      await drop(db);
    }
    results.stops = { trials, missed, finished };
  }

  // ------------------------------------------------------------ tables and bars
  console.log('');
  const full = runs.filter((r) => r.kind === 'full');
  if (ONLY.has('batches') && runs.length) {
    console.log('Batches (the step\'s own line at the end of each copy):\n');
    console.log(
      table([
        ['run', 'pages', 'rows', 'batches', 'p50', 'p95', 'max', 'copy phase', 'process'],
        ...runs.map((r, i) => [`${i + 1} ${r.kind}`, r.copy.pages.toLocaleString('en-US'), r.copy.rows.toLocaleString('en-US'), r.copy.batches, ms(r.copy.p50), ms(r.copy.p95), ms(r.copy.max), s2(r.copy.ms), s2(r.wallMs)]),
        ...(full.length
          ? [['median of the full runs', '', '', median(full.map((r) => r.copy.batches)), ms(median(full.map((r) => r.copy.p50))), ms(median(full.map((r) => r.copy.p95))), ms(median(full.map((r) => r.copy.max))), s2(median(full.map((r) => r.copy.ms))), s2(median(full.map((r) => r.wallMs)))]]
          : []),
      ]),
    );
    console.log('');
    results.batches = runs;
  }
  if (ONLY.has('stops') && trials.length) {
    const t = trials.map((x) => x.exitMs);
    const s = { n: t.length, p50: median(t), p95: pct(t, 0.95), max: Math.max(...t) };
    results.stops.summary = s;
    console.log('SIGTERM -> exit during the copy:\n');
    console.log(
      table([
        ['trials', 'p50', 'p95', 'max', 'exit 143', 'copy = legacy rows of the done units', 'checkpoint lags the units', 'missed (copy ended first)', 'last copy finished'],
        [s.n, ms(s.p50), ms(s.p95), ms(s.max), `${trials.filter((x) => x.code === 143).length}/${s.n}`, `${trials.filter((x) => x.check.ok).length}/${s.n}`, `${trials.filter((x) => x.lag !== 0).length}/${s.n} (max ${Math.max(...trials.map((x) => x.lag))} pages)`, missed, finished ? (finished.ok ? 'exit 0, all rows' : `exit ${finished.code}, ${finished.rows} rows`) : '-'],
      ]),
    );
    console.log('');
  }
  if (ONLY.has('resume') && pairs.length) {
    console.log('Resume after a SIGKILL at 90% of the copy:\n');
    console.log(
      table([
        ['pair', 'full: copy / process', 'killed at / after', 'resumed: copy / process', 'resumed copy / full copy', 'extra work (killed + resumed - full) / full', 'resumed total / full total'],
        ...pairs.map((x) => [x.rep, `${s2(x.full.copy.ms)} / ${s2(x.full.wallMs)}`, `${pc(x.killed.landed)} / ${s2(x.killed.wallMs)}`, `${s2(x.resumed.copy.ms)} / ${s2(x.resumed.wallMs)}`, pc(x.copyRatio), pc(x.extra), pc(x.totalRatio)]),
        ['median', '', '', '', pc(median(pairs.map((x) => x.copyRatio))), pc(median(pairs.map((x) => x.extra))), pc(median(pairs.map((x) => x.totalRatio)))],
      ]),
    );
    console.log('');
  }
  if (ONLY.has('batches') && full.length) {
    const p95s = full.map((r) => r.copy.p95);
    const m = median(p95s);
    bar(m <= 200, 'batch p95 <= 200 ms', `median of ${full.length} full runs' p95 ${ms(m)} (each: ${p95s.map(ms).join(', ')}; ${p95s.filter((x) => x > 200).length} over 200 ms; max batch ${ms(Math.max(...full.map((r) => r.copy.max)))})`);
  }
  if (ONLY.has('stops')) {
    const s = results.stops.summary;
    bar(!!s && s.n >= 20 && s.p95 <= 1000, 'SIGTERM -> exit during the copy, p95 <= 1 s (>= 20 trials)', s ? `p50 ${ms(s.p50)}, p95 ${ms(s.p95)}, max ${ms(s.max)} over ${s.n} trials` : 'no trial');
    bar(trials.length > 0 && trials.every((x) => x.code === 143), 'every SIGTERM exits 143', `${trials.filter((x) => x.code === 143).length}/${trials.length}${trials.some((x) => x.code !== 143) ? ` (others: ${trials.filter((x) => x.code !== 143).map((x) => x.code ?? x.signal).join(', ')})` : ''}`);
    bar(trials.every((x) => x.check.ok) && (!finished || finished.ok), 'after each stop the copy = the legacy rows of the done units; the last copy finishes', `${trials.filter((x) => x.check.ok).length}/${trials.length}${finished ? `; last apply exit ${finished.code}, ${finished.rows} rows` : ''}`);
  }
  if (ONLY.has('resume') && pairs.length) {
    const m = median(pairs.map((x) => x.copyRatio));
    bar(m <= 0.15, 'resumed copy phase <= 15% of a full copy phase (kill at 90%)', `median ${pc(m)} (${pairs.map((x) => pc(x.copyRatio)).join(', ')}); extra work ${pc(median(pairs.map((x) => x.extra)))}, resumed total / full total ${pc(median(pairs.map((x) => x.totalRatio)))} (information)`);
  }
  console.log(`at end: ${load()}`);
  console.log(`results: ${rel(writeJson(`events2-stops-${id}.json`, results))}`);
} catch (err) {
  console.error(err);
  process.exitCode = 1;
} finally {
  await cleanup();
}
process.exitCode = process.exitCode || exitCode();
