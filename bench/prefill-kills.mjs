#!/usr/bin/env node
// bench/prefill-kills.mjs: interruptions of the projection prefill of zitadel.setup.ts on
// ZITADEL-shaped events (scripts/zitadel-events.mjs), against issue 9's bars:
//   Kills.  --kills (50) random interruptions during prefill: SIGTERM, SIGKILL,
//           pg_terminate_backend of every backend of the database, and two applies at once
//           (the second joins the first's prefill step) with one or both interrupted. After
//           them only plain `zsetup apply` runs: the apply that ends a round must exit 0, the
//           six projection tables must have the ordered md5 of an uninterrupted run,
//           projections.failed_events2 must be empty and the journal must show every step done.
//   Stops.  every SIGTERM sent during prefill: signal -> process exit, median <= 200 ms,
//           p95 <= 1 s.
//   Resume. on a fresh database: a full apply (T_full, process wall time); on another, an apply
//           SIGKILLed once 90% of the events of the three prefill steps together are reduced,
//           then the next apply (T_resume): T_resume / T_full <= 15% (median of --reps, 3).
// Interruptions are drawn by a seeded PRNG (--seed replays the same choices; where they land
// still depends on timing): each one waits for a progress event of a prefill step (or the join
// of a second apply) in the apply's --json output, then a random delay of 0..--max-delay ms. A
// round is one database (a copy of a template with the schema steps applied): interruptions
// until an apply runs to the end; the database is then checked and a new round starts. A round
// in which failed events appear, or whose apply runs 6x the reference time with nothing done to
// it, is abandoned (counted as a failure). dist/ rebuilt meanwhile: the projections are
// compared with an uninterrupted run of the build current at the check.
// The resume kill polls users14's checkpoints (projections.current_states) against the
// positions of its events (its filter read from dist/), so it lands at 90.0-90.4%.
//
// Usage: node bench/prefill-kills.mjs [--events 200000] [--instances 40] [--kills 50] [--seed N]
//          [--reps 3] [--max-delay 1200] [--only kills,resume] [--keep]
//        (old form: node bench/prefill-kills.mjs [events] [kills]). Needs npm run build.
import pg from 'pg';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { mkdirSync, rmSync, statSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import { ROOT, CLI, WORK, SERVER, KEEP, arg, admin, table, median, bar, exitCode, machine, load, revision, requireBuild, serverVersion, rel, mulberry32 } from './lib/common.mjs';

const { generateEvents, events2Ddl } = await import(join(ROOT, 'scripts/zitadel-events.mjs'));
const CONFIG = join(ROOT, 'zitadel.setup.ts');
const pos = process.argv.slice(2).filter((a, i, all) => !a.startsWith('--') && !(i > 0 && all[i - 1].startsWith('--') && !['--keep'].includes(all[i - 1])));
const EVENTS = Number(arg('--events', pos[0] ?? 200000));
const KILLS = Number(arg('--kills', pos[1] ?? 50));
const INSTANCES = Number(arg('--instances', 40));
const SEED = Number(arg('--seed', randomBytes(4).readUInt32BE(0)));
const REPS = Number(arg('--reps', 3));
const MAX_DELAY = Number(arg('--max-delay', 1200));
const ONLY = (arg('--only', 'kills,resume') ?? '').split(',');
const TABLES = ['instances', 'orgs1', 'users14', 'users14_humans', 'users14_machines', 'users14_notifications'];
const PREFILL = ['projections.instances', 'projections.orgs1', 'projections.users14'];

requireBuild();
const ID = randomBytes(4).toString('hex');
const PREFIX = `zs_bench_${ID}`;
const DIR = join(WORK, `prefill-kills-${ID}`);
const TMP = join(DIR, 'tmp');
mkdirSync(TMP, { recursive: true });

// ---- small helpers -------------------------------------------------------------------------
const rnd = mulberry32(SEED);
const pick = (xs) => xs[Math.floor(rnd() * xs.length)];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const pct = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil((p / 100) * xs.length) - 1)];
const ms = (x) => (x === undefined || Number.isNaN(x) ? '-' : `${Math.round(x)} ms`);
const s = (x) => `${(x / 1000).toFixed(2)} s`;
const short = (step) => (step ?? '-').replace('projections.', '');
const distAt = () => statSync(CLI).mtimeMs;
const DIST0 = distAt();
let distChanged = 0;

const dbs = new Set();
async function createDb(name, template) {
  await admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await admin(`CREATE DATABASE ${name}${template ? ` TEMPLATE ${template}` : ''}`);
  dbs.add(name);
  return name;
}
async function dropDb(name) {
  await admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch((e) => console.error(`warning: could not drop ${name}: ${e.message}`));
  dbs.delete(name);
}
let cleaned = false;
async function cleanup() {
  if (cleaned) return;
  cleaned = true;
  for (const p of procs) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
  for (const d of [...dbs]) await dropDb(d);
  if (!KEEP) rmSync(DIR, { recursive: true, force: true });
  else console.log(`(--keep: left ${rel(DIR)})`);
}
for (const sig of ['SIGINT', 'SIGTERM']) process.once(sig, () => { console.error(`\n${sig}: cleaning up ${PREFIX}_*`); cleanup().finally(() => process.exit(130)); });

async function query(db, sql) {
  const c = new pg.Client({ connectionString: `${SERVER}/${db}` });
  await c.connect();
  try { return (await c.query(sql)).rows; } finally { await c.end(); }
}

const LOAD_FAILURE = /Cannot find module|ERR_MODULE_NOT_FOUND|SyntaxError|is not a function|Unexpected end of input|ENOENT.*dist/;

// ---- one zsetup process --------------------------------------------------------------------
const procs = [];
let procSeq = 0;
/** `zsetup apply --json` (or another command), its events parsed as they come. */
function zsetup(db, args, role = 'apply') {
  if (distAt() !== DIST0) distChanged++;
  const child = spawn(process.execPath, [CLI, ...args, '--config', CONFIG], {
    cwd: ROOT, env: { ...process.env, ZSETUP_DATABASE_URL: `${SERVER}/${db}`, TMPDIR: TMP }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  const p = { n: ++procSeq, role, child, t0: performance.now(), lines: [], lineAt: [], dist: distAt(), events: [], cur: undefined, joined: undefined, joining: false, locked: false, lastProgress: undefined, progressAt: 0, finished: undefined, exit: undefined };
  procs.push(p);
  let buf = '';
  const onLine = (line, err) => {
    const at = performance.now();
    p.lines.push(`${((at - p.t0) / 1000).toFixed(3)} ${err ? 'E' : 'O'} ${line}`);
    p.lineAt.push(at);
    if (err || !line.startsWith('{')) return;
    let e;
    try { e = JSON.parse(line); } catch { return; }
    e.at = at;
    p.events.push(e);
    if (e.type === 'step.started') p.cur = e.step;
    else if (e.type === 'step.done' || e.type === 'step.failed' || e.type === 'step.interrupted') { if (p.cur === e.step) p.cur = undefined; if (e.type === 'step.done' && PREFILL.includes(e.step)) p.progressAt = at; }
    else if (e.type === 'step.progress' && PREFILL.includes(e.step)) { p.lastProgress = e; p.progressAt = at; }
    else if (e.type === 'log' && /^joining the run of/.test(e.message ?? '')) { p.joined = e.step; p.joining = true; p.progressAt = at; }
    else if (e.type === 'log' && /^joining stopped/.test(e.message ?? '')) p.joining = false;
    else if (e.type === 'lock.acquired') { p.locked = true; p.joining = false; }
    else if (e.type === 'run.finished') p.finished = e;
  };
  child.stdout.on('data', (d) => { buf += d; let i; while ((i = buf.indexOf('\n')) >= 0) { onLine(buf.slice(0, i)); buf = buf.slice(i + 1); } });
  let ebuf = '';
  child.stderr.on('data', (d) => { ebuf += d; let i; while ((i = ebuf.indexOf('\n')) >= 0) { onLine(ebuf.slice(0, i), true); ebuf = ebuf.slice(i + 1); } });
  p.done = new Promise((r) => child.on('exit', (code, sig) => { p.exit = { code, sig, at: performance.now() }; r(p.exit); }));
  p.closed = new Promise((r) => child.on('close', () => { if (buf) onLine(buf); if (ebuf) onLine(ebuf, true); r(); }));
  p.alive = () => p.exit === undefined;
  p.loadFailed = () => p.exit && p.exit.code !== 0 && !p.events.some((e) => e.type === 'run.started') && LOAD_FAILURE.test(p.lines.join('\n'));
  /** Where it is when interrupted: a prefill step it runs, or one it joined; undefined elsewhere. */
  p.where = () => (p.cur && PREFILL.includes(p.cur) ? short(p.cur) : p.joining ? `join ${short(p.joined)}` : undefined);
  p.label = () => p.where() ?? (p.locked ? 'between steps' : 'waiting for the lock');
  p.ending = () => (p.exit ? (p.exit.sig ?? String(p.exit.code)) : 'running');
  return p;
}
/** Run a command to its end; a failure to load dist/ (a rebuild in progress) is retried. */
async function runToEnd(db, args, role) {
  for (let attempt = 0; ; attempt++) {
    const p = zsetup(db, args, role);
    await p.done; await p.closed;
    if (p.loadFailed() && attempt < 20) { console.log(`  (dist/ failed to load, rebuild in progress? retrying in 3 s)`); await sleep(3000); continue; }
    return p;
  }
}
async function waitUntil(cond, timeoutMs = Infinity, every = 10) {
  const end = performance.now() + timeoutMs;
  while (!cond()) { if (performance.now() > end) return false; await sleep(every); }
  return true;
}
/** The lines it wrote from `since` - 500 ms on (its signal), at most n. */
const linesSince = (p, since, n = 16) => { const i = p.lineAt.findIndex((a) => a >= since - 500); return (i < 0 ? [] : p.lines.slice(i, i + n)).map((l) => `      [apply #${p.n}] ${l.length > 220 ? l.slice(0, 220) + '…' : l}`).join('\n'); };
const tail = (p, n = 12) => p.lines.slice(-n).map((l) => `      [apply #${p.n}] ${l.length > 220 ? l.slice(0, 220) + '…' : l}`).join('\n');

// ---- checks --------------------------------------------------------------------------------
async function md5(db) {
  const rows = await query(db, TABLES.map((t) => `SELECT '${t}' t, count(*)::int n, md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) h FROM projections.${t} x`).join(' UNION ALL '));
  // UNION ALL gives no order (a parallel append interleaves): sort by the table list
  return rows.sort((a, b) => TABLES.indexOf(a.t) - TABLES.indexOf(b.t)).map((r) => `${r.t}:${r.n}:${r.h.slice(0, 8)}`).join(' ');
}
async function failedEvents(db) {
  const r = await query(db, `SELECT CASE WHEN to_regclass('projections.failed_events2') IS NULL THEN -1 ELSE (SELECT count(*)::int FROM projections.failed_events2) END n`).catch(() => [{ n: -1 }]);
  return r[0].n;
}
/** What the journal says: `status --json` (every step done?) and `plan --json` (every step skip?). */
async function journal(db) {
  const pl = await runToEnd(db, ['plan', '--json'], 'plan');
  // ZITADEL's own steps (external()) and the steps that wait for them are never zsetup's to run.
  const zitadels = new Set(pl.events.filter((e) => e.step && e.action === 'skip' && /^(run by `zitadel setup`|waits for ")/.test(e.reason ?? '')).map((e) => e.step));
  const entries = pl.events.filter((e) => e.step && e.action && !zitadels.has(e.step));
  const st = await runToEnd(db, ['status', '--json'], 'status');
  const steps = st.events.filter((e) => e.step && e.state && !zitadels.has(e.step));
  const notDone = steps.filter((e) => e.state !== 'done').map((e) => `${e.step}=${e.state}`);
  const notSkip = entries.filter((e) => e.action !== 'skip').map((e) => `${e.step}=${e.action}`);
  return { ok: steps.length > 0 && notDone.length === 0 && entries.length > 0 && notSkip.length === 0, text: `status ${steps.length - notDone.length}/${steps.length} done${notDone.length ? ` (${notDone.join(', ')})` : ''}; plan ${entries.length - notSkip.length}/${entries.length} skip${notSkip.length ? ` (${notSkip.join(', ')})` : ''}` };
}

// ---- preparation ---------------------------------------------------------------------------
console.log(`prefill-kills: ${EVENTS} events, ${INSTANCES} instances, ${KILLS} interruptions, seed ${SEED}, random delay 0-${MAX_DELAY} ms after a progress event, ${REPS} resume repetitions`);
console.log(`${machine()}; PostgreSQL ${await serverVersion()}; ${revision()}`);
console.log(`start: ${load()}; databases ${PREFIX}_*`);
const tStart = performance.now();
const RAW = await createDb(`${PREFIX}_raw`);
{
  const c = new pg.Client({ connectionString: `${SERVER}/${RAW}` });
  await c.connect();
  await c.query(events2Ddl());
  await generateEvents(c, { events: EVENTS, instances: INSTANCES, seed: 7 });
  await c.end();
}
// The schema steps applied, the prefill not (a plain apply with --no-init-projections): each
// kill round starts from a copy of it, so every interruption lands in the prefill.
const SCHEMA = await createDb(`${PREFIX}_schema`, RAW);
{
  const p = await runToEnd(SCHEMA, ['apply', '--json', '--no-init-projections'], 'schema');
  if (p.exit.code !== 0) { console.log(p.lines.join('\n')); await cleanup(); process.exit(2); }
}
// The reference: an uninterrupted apply on a copy of the events.
const REF = await createDb(`${PREFIX}_ref`, RAW);
const ref = await runToEnd(REF, ['apply', '--json'], 'reference');
if (ref.exit.code !== 0) { console.log(ref.lines.join('\n')); await cleanup(); process.exit(2); }
const expected = await md5(REF);
// dist/ may be rebuilt by someone else while this runs: projections are compared with an
// uninterrupted run of the build current at the check (a new reference once per build).
const refs = new Map([[DIST0, expected]]);
async function expectedNow() {
  const at = distAt();
  if (!refs.has(at)) {
    const db = await createDb(`${PREFIX}_ref${refs.size + 1}`, RAW);
    const p = await runToEnd(db, ['apply', '--json'], 'reference');
    refs.set(at, p.exit.code === 0 ? await md5(db) : `reference apply exited ${p.ending()}`);
    console.log(`  (dist/ rebuilt at ${new Date(at).toISOString().slice(11, 19)}Z: new uninterrupted reference: ${refs.get(at)}${refs.get(at) === expected ? ', same as the first' : ', DIFFERENT from the first'})`);
    await dropDb(db);
  }
  return refs.get(at);
}
const totals = Object.fromEntries(PREFILL.map((st) => [st, ref.events.filter((e) => e.type === 'step.progress' && e.step === st).at(-1)?.total ?? 0]));
const totalEvents = PREFILL.reduce((a, st) => a + totals[st], 0);
const stepMs = Object.fromEntries(PREFILL.map((st) => [st, ref.events.find((e) => e.type === 'step.done' && e.step === st)?.durationMs]));
console.log(`\nUninterrupted reference (${s(ref.exit.at - ref.t0)} for the whole apply on a fresh database):\n`);
console.log(table([['step', 'events', 'time'], ...PREFILL.map((st) => [st, totals[st], ms(stepMs[st])]), ['total', totalEvents, '']]));
const refFailed = await failedEvents(REF);
console.log(`\nmd5: ${expected}; failed_events2: ${refFailed}`);
await dropDb(REF);

// ---- phase 1: kills --------------------------------------------------------------------------
if (ONLY.includes('kills')) {
  console.log(`\n== Kills and stops: ${KILLS} interruptions during prefill ==\n`);
  const log = []; // one per interruption sent
  const rounds = [];
  const anomalies = [];
  const sigtermLat = [], latAlone = [], latPair = [];
  /** Something that looked wrong: printed at once, and again in the summary. */
  const note = (msg) => { anomalies.push(msg); console.log(`  ! ${msg}`); };
  // An apply nothing is done to that runs this long is stuck or crawling: the round is abandoned.
  const LIMIT = Math.max(60000, 6 * (ref.exit.at - ref.t0));
  let round, live = [], lastMark = 0;
  const newRound = async () => {
    round = { n: rounds.length + 1, db: await createDb(`${PREFIX}_k${rounds.length + 1}`, SCHEMA), interruptions: 0, missed: 0, applies: 0, pairs: 0, failedSeen: 0 };
    rounds.push(round);
  };
  const start = async (role) => {
    for (let attempt = 0; ; attempt++) {
      const p = zsetup(round.db, ['apply', '--json'], role);
      round.applies++;
      await waitUntil(() => !p.alive() || p.events.some((e) => e.type === 'run.started'));
      if (!p.alive()) { await p.closed; if (p.loadFailed() && attempt < 20) { round.applies--; await sleep(3000); continue; } }
      return p;
    }
  };
  /** A round ends when nothing is live and the last apply ran to its end: check the database. */
  const endRound = async (closer) => {
    round.closer = closer;
    round.md5 = await md5(round.db);
    round.identical = round.md5 === (await expectedNow());
    round.failed = await failedEvents(round.db);
    round.journal = await journal(round.db);
    if (!round.identical) note(`round ${round.n}: projections DIFFERENT: ${round.md5}`);
    if (round.failed !== 0) note(`round ${round.n}: ${await failures(round.db)}`);
    if (!round.journal.ok) note(`round ${round.n}: journal: ${round.journal.text}`);
    if (closer.exit.code !== 0) note(`round ${round.n}: the apply that ended the round exited ${closer.ending()}\n${tail(closer)}`);
    await dropDb(round.db);
    round.db = undefined;
  };
  /** What is in failed_events2: how many, the first error, the event types. */
  const failures = async (db) => {
    const [a] = await query(db, `SELECT count(*)::int n, min(last_failed) t, (SELECT left(error, 160) FROM projections.failed_events2 ORDER BY last_failed LIMIT 1) e FROM projections.failed_events2`);
    const types = await query(db, `SELECT e.event_type, count(*)::int n FROM projections.failed_events2 f JOIN eventstore.events2 e ON e.instance_id = f.instance_id AND e.aggregate_type = f.aggregate_type AND e.aggregate_id = f.aggregate_id AND e."sequence" = f.failed_sequence GROUP BY 1 ORDER BY 2 DESC`);
    return `${a.n} row(s) since ${a.t?.toISOString?.().slice(11, 23)}Z, first error "${a.e}"; events ${types.map((r) => `${r.event_type} ${r.n}`).join(', ')}`;
  };
  /** Give up on a round (failed events, or an apply stuck): SIGKILL what is live, keep the findings, start a new one. */
  const abandon = async (reason, next = true) => {
    for (const p of live) if (p.alive()) p.child.kill('SIGKILL');
    for (const p of live) { await p.done; await p.closed; }
    live = [];
    round.abandoned = reason;
    round.failed = await failedEvents(round.db);
    note(`round ${round.n} abandoned after ${round.interruptions} interruption(s): ${reason}`);
    await dropDb(round.db);
    round.db = undefined;
    if (next) await newRound();
  };
  /** After each interruption: did failed events appear (an event's own error after a stop is a zsetup bug)? */
  const checkFailed = async (entry) => {
    const n = await failedEvents(round.db);
    if (n > round.failedSeen) {
      note(`round ${round.n}: projections.failed_events2 has ${n} row(s) after interruption ${entry.i} (${entry.kind}; ${round.failedSeen} before it): ${await failures(round.db)}`);
      round.failedSeen = n;
      return true;
    }
    return false;
  };
  /** Wait for an apply nothing is done to, at most LIMIT from its start. */
  const awaitEnd = async (p) => {
    if (!(await waitUntil(() => !p.alive(), Math.max(0, LIMIT - (performance.now() - p.t0)), 50))) {
      note(`apply #${p.n} (${p.role}) still running ${s(LIMIT)} after its start with nothing done to it (watchdog: SIGKILL)\n${tail(p)}`);
      p.child.kill('SIGKILL');
      p.watchdog = true;
    }
    await p.done; await p.closed;
    return !p.watchdog;
  };
  const expectedEnding = (p, what) => {
    const e = p.exit;
    if (!e) return true;
    if (what === 'SIGTERM') return e.code === 143 || e.code === 0;
    if (what === 'SIGKILL') return e.sig === 'SIGKILL' || e.code === 0;
    if (what === 'terminate') return e.code === 0 || e.code === 143;
    return e.code === 0;
  };
  await newRound();
  let count = 0;
  while (count < KILLS) {
    const k = rnd();
    const kind = k < 0.28 ? 'SIGTERM' : k < 0.52 ? 'SIGKILL' : k < 0.74 ? 'terminate' : 'pair';
    if (live.length === 0) { live.push(await start('holder')); lastMark = live[0].t0; }
    let pairNote = '';
    if (kind === 'pair' && live.length === 1) {
      // the second apply joins the first's prefill step: start it once the first prefills
      const a = live[0];
      await waitUntil(() => !a.alive() || a.progressAt > lastMark);
      if (a.alive()) {
        const b = await start('joiner');
        live.push(b);
        round.pairs++;
        const joined = await waitUntil(() => !b.alive() || !a.alive() || b.joined, 8000);
        pairNote = b.joined ? 'joined' : joined ? 'no join (one ended)' : 'no join in 8 s';
        lastMark = Math.max(lastMark, b.t0);
      }
    }
    // synchronise: a progress event of a prefill step (or a join) after the last interruption
    const synced = await waitUntil(() => live.every((p) => !p.alive()) || live.some((p) => p.alive() && p.progressAt > lastMark) || live.some((p) => p.alive() && performance.now() - p.t0 > LIMIT));
    const old = live.find((p) => p.alive() && performance.now() - p.t0 > LIMIT);
    if (synced && old) { await abandon(`apply #${old.n} still running ${s(LIMIT)} after its start (watchdog)\n${tail(old)}`); continue; }
    await sleep(rnd() * MAX_DELAY);
    const targets = live.filter((p) => p.alive() && p.where());
    if (targets.length === 0 && live.some((p) => p.alive())) { lastMark = performance.now(); continue; } // between two steps: wait for the next progress
    if (targets.length === 0) {
      // every apply ended by itself before the signal: not counted
      round.missed++;
      let alright = true;
      for (const p of live) alright = (await awaitEnd(p)) && alright;
      if (!alright) { await abandon('an apply with nothing done to it did not end (watchdog)'); continue; }
      const ended = live; live = [];
      const closer = ended.find((p) => p.finished?.status === 'ok' && p.exit.code === 0) ?? ended.at(-1);
      for (const p of ended) if (p.exit.code !== 0) note(`round ${round.n}: apply #${p.n} (${p.role}, nothing done to it) exited ${p.ending()}\n${tail(p)}`);
      if (closer.finished?.status === 'ok' && closer.exit.code === 0) { await endRound(closer); await newRound(); }
      continue;
    }
    // who is interrupted, how
    let victims = targets, how = kind;
    if (kind === 'pair') {
      if (targets.length === 1) how = pick(['SIGTERM', 'SIGKILL']);
      else { const w = pick(['holder', 'joiner', 'both']); victims = w === 'both' ? targets : targets.filter((p) => p.role === w).slice(0, 1); if (!victims.length) victims = [targets[0]]; how = pick(['SIGTERM', 'SIGKILL', 'SIGTERM', 'SIGKILL', 'terminate']); }
    } else victims = [targets.find((p) => p.role === 'holder') ?? targets[0]];
    const entry = { load: `load ${loadavg()[0].toFixed(1)}`, i: ++count, round: round.n, kind: kind === 'pair' ? `pair/${how}` : how, procs: live.filter((p) => p.alive()).length, note: pairNote, hits: [] };
    if (how === 'terminate') victims = live.filter((p) => p.alive()); // every apply of the database loses its connections
    for (const v of victims) entry.hits.push({ p: v, where: v.label(), progress: v.lastProgress && v.lastProgress.step === v.cur && !v.joining ? `${v.lastProgress.done}/${v.lastProgress.total}` : '' });
    const t = performance.now();
    if (how === 'terminate') {
      const r = await admin(`SELECT count(pg_terminate_backend(pid))::int n FROM pg_stat_activity WHERE datname = '${round.db}' AND pid <> pg_backend_pid()`);
      entry.backends = r.rows[0].n;
    } else {
      for (const v of victims) v.child.kill(how);
    }
    lastMark = t + 100; // progress read within 100 ms of the signal may have been written before it
    // outcome: a signalled process exits; after terminate, it exits or reports progress again (recovered)
    for (const h of entry.hits) {
      const v = h.p;
      if (how === 'terminate' && h.where === 'waiting for the lock') {
        await waitUntil(() => !v.alive(), 3000);
        h.outcome = v.alive() ? 'still waiting' : `exit ${v.ending()}${v.finished?.status === 'ok' ? ', finished' : ''}`;
      } else if (how === 'terminate') {
        const ok = await waitUntil(() => !v.alive() || v.progressAt > t + 100 || v.finished, 60000);
        if (v.finished) await v.done; // run.finished: it is ending
        h.outcome = !v.alive() ? `exit ${v.ending()}${v.finished?.status === 'ok' ? ', finished' : ''}` : v.finished ? 'finished' : ok ? 'recovered, went on' : 'STUCK 60 s';
        if (!ok) note(`interruption ${entry.i}: apply #${v.n} neither exited nor progressed within 60 s after pg_terminate_backend\n${tail(v)}`);
      } else {
        const ok = await waitUntil(() => !v.alive(), 30000);
        if (!ok) { note(`interruption ${entry.i}: apply #${v.n} still running 30 s after ${how}\n${tail(v)}`); v.child.kill('SIGKILL'); await v.done; }
        h.outcome = `exit ${v.ending()}${v.finished?.status === 'ok' ? ', finished' : ''}`;
        if (how === 'SIGTERM') {
          h.lat = v.exit.at - t; sigtermLat.push(h.lat); (entry.procs > 1 ? latPair : latAlone).push(h.lat); h.outcome += ` in ${ms(h.lat)}`;
          if (h.lat > 1000) note(`interruption ${entry.i}: SIGTERM -> exit ${ms(h.lat)} (apply #${v.n}, ${v.role}, at ${h.where}; signal at ${((t - v.t0) / 1000).toFixed(3)} s, ${entry.load})\n${linesSince(v, t)}`);
        }
      }
      if (!v.alive()) await v.closed;
      if (!expectedEnding(v, how)) note(`interruption ${entry.i} (${entry.kind}): apply #${v.n} (${v.role}) ended ${v.ending()}\n${tail(v)}`);
    }
    log.push(entry);
    round.interruptions++;
    console.log(`  ${String(entry.i).padStart(3)} r${round.n} ${entry.kind.padEnd(14)} ${entry.hits.map((h) => `#${h.p.n} ${h.p.role} @ ${h.where} ${h.progress} -> ${h.outcome}`).join('; ')}${entry.backends !== undefined ? ` (${entry.backends} backends)` : ''}${entry.note ? ` [${entry.note}]` : ''} (${entry.load})`);
    if (await checkFailed(entry)) { await abandon('failed events'); continue; }
    // what is still live; if nothing is, and the last one finished, the round is over
    const ended = live.filter((p) => !p.alive());
    live = live.filter((p) => p.alive());
    for (const p of live) if (p.role === 'joiner' && !live.some((q) => q.role === 'holder')) p.role = 'holder';
    if (live.length === 0) {
      const fin = ended.find((p) => p.finished?.status === 'ok' && p.exit.code === 0);
      if (fin) { await endRound(fin); await newRound(); }
    }
  }
  // after the last interruption: the live ones run to the end, or one more plain apply does
  let alright = true;
  for (const p of live) { alright = (await awaitEnd(p)) && alright; if (p.exit.code !== 0) note(`final: apply #${p.n} (nothing done to it) exited ${p.ending()}\n${tail(p)}`); }
  let closer = live.find((p) => p.finished?.status === 'ok' && p.exit.code === 0);
  if (!alright) await abandon('an apply with nothing done to it did not end (watchdog)', false);
  else if (round.interruptions === 0 && live.length === 0) { await dropDb(round.db); rounds.pop(); } // a fresh round nothing happened in
  else {
    live = [];
    if (!closer) {
      closer = zsetup(round.db, ['apply', '--json'], 'final');
      round.applies++;
      live = [closer];
      if (!(await awaitEnd(closer))) { await abandon('the final apply did not end (watchdog)', false); closer = undefined; }
      live = [];
    }
    if (closer) await endRound(closer);
  }
  const finalExit = rounds.filter((r) => r.closer).at(-1)?.closer.exit.code;

  // tables
  const kinds = ['SIGTERM', 'SIGKILL', 'terminate', 'pair/SIGTERM', 'pair/SIGKILL', 'pair/terminate'];
  const hitsOf = (kd) => log.filter((e) => e.kind === kd).flatMap((e) => e.hits);
  const endings = (hs) => { const m = {}; for (const h of hs) { const o = h.outcome.replace(/ in \d+ ms/, ''); m[o] = (m[o] ?? 0) + 1; } return Object.entries(m).map(([o, n]) => `${o} x${n}`).join(', '); };
  const whereOf = (hs) => { const m = {}; for (const h of hs) m[h.where] = (m[h.where] ?? 0) + 1; return Object.entries(m).map(([o, n]) => `${o} ${n}`).join(', '); };
  console.log(`\nInterruptions by kind (processes hit: where they were, how they ended):\n`);
  console.log(table([['kind', 'interruptions', 'processes hit', 'where', 'endings'], ...kinds.filter((kd) => log.some((e) => e.kind === kd)).map((kd) => [kd, log.filter((e) => e.kind === kd).length, hitsOf(kd).length, whereOf(hitsOf(kd)), endings(hitsOf(kd))]), ['total', log.length, log.reduce((a, e) => a + e.hits.length, 0), '', '']]));
  console.log(`\nRounds (a fresh copy of the events with the schema steps applied; interruptions until an apply ran to its end):\n`);
  console.log(table([['round', 'interruptions', 'missed', 'applies', 'pairs', 'ended by', 'exit', 'projections', 'failed_events2', 'journal'], ...rounds.filter((r) => r.closer || r.abandoned).map((r) => r.closer ? [r.n, r.interruptions, r.missed, r.applies, r.pairs, `#${r.closer.n} ${r.closer.role}`, r.closer.ending(), r.identical ? 'IDENTICAL' : 'DIFFERENT', r.failed, r.journal.text] : [r.n, r.interruptions, r.missed, r.applies, r.pairs, `ABANDONED: ${r.abandoned.split('\n')[0]}`, '-', 'not checked', r.failed, '-'])]));
  const lat = sigtermLat;
  console.log(`\nSIGTERM -> exit during prefill (${lat.length} signals): ${[...lat].sort((a, b) => a - b).map((x) => Math.round(x)).join(' ')} ms\n`);
  const st = { n: lat.length, median: lat.length ? median(lat) : NaN, p95: lat.length ? pct(lat, 95) : NaN, max: lat.length ? Math.max(...lat) : NaN };
  const latRow = (name, xs) => [name, xs.length, ms(xs.length ? median(xs) : NaN), ms(xs.length ? pct(xs, 95) : NaN), ms(xs.length ? Math.max(...xs) : NaN), xs.filter((x) => x > 1000).length];
  console.log(table([['SIGTERM to', 'n', 'median', 'p95', 'max', 'over 1 s'], latRow('all', lat), latRow('an apply alone', latAlone), latRow('one of two applies', latPair)]));
  if (anomalies.length) { console.log(`\nAnomalies (${anomalies.length}):`); for (const a of anomalies) console.log(`  - ${a}`); }
  else console.log('\nAnomalies: none (every apply ended as expected: 143 or 0 after SIGTERM, killed after SIGKILL, 0 or 143 after terminate, 0 when nothing was done to it)');
  const done = rounds.filter((r) => r.closer);
  console.log('');
  const abandoned = rounds.filter((r) => r.abandoned);
  bar(log.length >= KILLS && abandoned.length === 0 && done.length > 0 && done.every((r) => r.identical && r.failed === 0 && r.journal.ok && r.closer.exit.code === 0) && finalExit === 0,
    `Kills: ${KILLS} interruptions during prefill, projections identical to an uninterrupted run, 0 manual actions`,
    `${log.length} interruptions in ${done.length + abandoned.length} rounds${abandoned.length ? ` (${abandoned.length} ABANDONED: ${abandoned.map((r) => r.abandoned.split('\n')[0]).join('; ')})` : ''}; ${done.filter((r) => r.identical).length}/${done.length} rounds identical; round-ending applies exit ${[...new Set(done.map((r) => r.closer.ending()))].join('/')}; failed_events2 ${done.map((r) => r.failed).join('/')}; journal ${done.filter((r) => r.journal.ok).length}/${done.length} all done; only plain apply runs`);
  bar(st.n > 0 && st.median <= 200 && st.p95 <= 1000, 'Stops: SIGTERM -> exit during prefill, median <= 200 ms, p95 <= 1 s', `median ${ms(st.median)}, p95 ${ms(st.p95)}, max ${ms(st.max)} over ${st.n} SIGTERMs`);
}

// ---- phase 2: resume after a kill at 90% ------------------------------------------------------
if (ONLY.includes('resume')) {
  const target = 0.9 * totalEvents;
  const before = totals['projections.instances'] + totals['projections.orgs1'];
  console.log(`\n== Resume after a kill at 90% ==\n`);
  console.log(`"90%" = 90% of the events of the three prefill steps together (${Math.round(target)} of ${totalEvents}), i.e. users14 at ${Math.round(target - before)}/${totals['projections.users14']} (${(((target - before) / totals['projections.users14']) * 100).toFixed(1)}%). The kill comes once users14's committed checkpoints (projections.current_states, polled every 20 ms) pass it; where it landed is the resumed step's first progress (its checkpoint).\n`);
  // Where the killed run is: users14's committed checkpoints (projections.current_states) against
  // the positions of users14's events per instance (its filter read from dist/), the count the
  // step itself reports as done. Without them, the kill is timed from the progress events.
  let positions;
  try {
    const { filterOf } = await import(join(ROOT, 'dist/plugins/projections/prefill.js'));
    const { users14 } = await import(join(ROOT, 'dist/plugins/zitadel/projections.js'));
    const f = filterOf(users14);
    const rs = await query(RAW, `SELECT instance_id, array_agg(("position" * 1000000)::bigint ORDER BY "position") ps FROM eventstore.events2 WHERE aggregate_type = ANY('{${f.aggregateTypes}}'::text[]) AND event_type = ANY('{${f.eventTypes}}'::text[]) GROUP BY instance_id`);
    positions = new Map(rs.map((r) => [r.instance_id, r.ps.map(Number)]));
  } catch (err) {
    console.log(`(users14's filter not readable from dist/: ${err.message}; the kill is timed from the progress events instead)`);
  }
  const lowerBound = (xs, v) => { let lo = 0, hi = xs.length; while (lo < hi) { const m = (lo + hi) >> 1; if (xs[m] < v) lo = m + 1; else hi = m; } return lo; };
  const rows = [];
  for (let r = 1; r <= REPS; r++) {
    const full = await runToEnd(await createDb(`${PREFIX}_full${r}`, RAW), ['apply', '--json'], 'full');
    const tFull = full.exit.at - full.t0;
    await dropDb(`${PREFIX}_full${r}`);
    const pre = await runToEnd(await createDb(`${PREFIX}_pre${r}`, SCHEMA), ['apply', '--json'], 'prefill-only');
    const tPre = pre.exit.at - pre.t0;
    await dropDb(`${PREFIX}_pre${r}`);
    const db = await createDb(`${PREFIX}_res${r}`, RAW);
    let k, polled;
    for (let attempt = 0; ; attempt++) {
      k = zsetup(db, ['apply', '--json'], 'killed');
      let timer, killedAt;
      const kill = () => { if (k.alive() && !killedAt) { killedAt = performance.now(); k.child.kill('SIGKILL'); } };
      if (positions) {
        // the committed checkpoints, every 20 ms: events before each instance's position
        const c = new pg.Client({ connectionString: `${SERVER}/${db}` });
        await c.connect();
        await waitUntil(() => !k.alive() || k.cur === 'projections.users14' || k.events.some((e) => e.step === 'projections.users14'));
        while (k.alive()) {
          const rows = await c.query(`SELECT instance_id, ("position" * 1000000)::bigint p FROM projections.current_states WHERE projection_name = 'projections.users14'`).then((r) => r.rows, () => []);
          let d = 0;
          for (const r of rows) d += lowerBound(positions.get(r.instance_id) ?? [], Number(r.p));
          if (d >= target - before) { polled = d; kill(); break; }
          await sleep(20);
        }
        await c.end();
      } else {
        // fallback: timed from the last progress event and its rate
        let seen;
        await waitUntil(() => {
          if (!k.alive() || killedAt) return true;
          const e = k.lastProgress;
          if (e && e !== seen && e.step === 'projections.users14') {
            seen = e;
            const left = target - before - e.done;
            if (left <= 0) kill();
            else if (e.ratePerSec && (left / e.ratePerSec) * 1000 < 1000) { clearTimeout(timer); timer = setTimeout(kill, (left / e.ratePerSec) * 1000 - (performance.now() - e.at)); }
          }
          return false;
        }, Infinity, 2);
        clearTimeout(timer);
      }
      await k.done; await k.closed;
      if (k.loadFailed() && attempt < 20) { await sleep(3000); continue; }
      break;
    }
    const last = k.lastProgress;
    const res = await runToEnd(db, ['apply', '--json'], 'resume');
    const tRes = res.exit.at - res.t0;
    const first = res.events.find((e) => e.type === 'step.progress' && e.step === 'projections.users14');
    const landed = first ? before + first.done : NaN;
    const same = res.exit.code === 0 ? (await md5(db)) === (await expectedNow()) : false;
    const failed = await failedEvents(db);
    await dropDb(db);
    const u = res.events.find((e) => e.type === 'step.started' && e.step === 'projections.users14');
    const startup = u ? u.at - res.t0 : NaN;
    const uDone = res.events.find((e) => e.type === 'step.done' && e.step === 'projections.users14')?.durationMs;
    // the same stretch (from the resumed checkpoint to the end of users14) in this rep's full run
    const fromFull = full.events.find((e) => e.type === 'step.progress' && e.step === 'projections.users14' && first && e.done >= first.done);
    const endFull = full.events.find((e) => e.type === 'step.done' && e.step === 'projections.users14');
    const tailFull = fromFull && endFull ? endFull.at - fromFull.at : NaN;
    rows.push({ r, tFull, tPre, tailFull, killedBy: k.ending(), last, first, landed, tRes, startup, uDone, code: res.exit.code, ratio: tRes / tFull, ratioPre: tRes / tPre, same, failed, res });
    const tl = res.events.filter((e) => ['step.recovered', 'lock.acquired', 'step.started', 'step.progress', 'step.retry', 'step.done'].includes(e.type) && (!e.step || e.step === 'projections.users14')).map((e) => `${Math.round(e.at - res.t0)} ${e.type.replace('step.', '')}${e.type === 'step.progress' ? ` ${e.done}` : ''}`);
    console.log(`  rep ${r}: resumed apply, ms from spawn: ${tl.join(', ')}; exit ${Math.round(tRes)}`);
    console.log(`  rep ${r}: full ${s(tFull)}, prefill-only ${s(tPre)}, killed (${k.ending()}) at users14 ${polled ?? '?'} committed (last progress line ${last ? `${last.done}/${last.total}` : '?'}), resumed users14 from ${first?.done ?? '?'} -> ${s(tRes)} exit ${res.ending()}`);
  }
  console.log('');
  console.log(table([['rep', 'T_full (fresh db)', 'killed at (3 steps)', 'users14 checkpoint', 'T_resume', '(to users14 / users14)', 'that tail in the full run', 'exit', 'T_resume / T_full', 'projections', 'failed_events2', 'prefill-only apply', 'T_resume / it'],
    ...rows.map((x) => [x.r, s(x.tFull), `${((x.landed / totalEvents) * 100).toFixed(1)}%`, `${x.first?.done ?? '?'}/${totals['projections.users14']}`, s(x.tRes), `${ms(x.startup)} / ${ms(x.uDone)}`, ms(x.tailFull), x.res.ending(), `${(x.ratio * 100).toFixed(1)}%`, x.same ? 'IDENTICAL' : 'DIFFERENT', x.failed, s(x.tPre), `${(x.ratioPre * 100).toFixed(1)}%`]),
    ['median', s(median(rows.map((x) => x.tFull))), '', '', s(median(rows.map((x) => x.tRes))), '', '', '', `${(median(rows.map((x) => x.ratio)) * 100).toFixed(1)}%`, '', '', s(median(rows.map((x) => x.tPre))), `${(median(rows.map((x) => x.ratioPre)) * 100).toFixed(1)}%`]]));
  for (const x of rows) if (x.code !== 0 || !x.same || x.failed !== 0) console.log(`  rep ${x.r}: resumed apply exit ${x.res.ending()}, projections ${x.same ? 'identical' : 'DIFFERENT'}, failed_events2 ${x.failed}\n${tail(x.res)}`);
  console.log('');
  const m = median(rows.map((x) => x.ratio));
  bar(rows.every((x) => x.code === 0 && x.same && x.failed === 0) && m <= 0.15, 'Resume: after a SIGKILL at 90%, the next apply <= 15% of a full run', `median ${(m * 100).toFixed(1)}% (${rows.map((x) => `${(x.ratio * 100).toFixed(1)}%`).join(', ')}) of T_full ${s(median(rows.map((x) => x.tFull)))}; projections ${rows.filter((x) => x.same).length}/${rows.length} identical`);
}

if (distChanged) console.log(`WARNING: dist/ was rebuilt during the run (${distChanged} zsetup processes started on a build other than the first; builds seen: ${[...new Set(procs.map((p) => p.dist))].map((d) => new Date(d).toISOString().slice(11, 19) + 'Z').join(', ')}): part of it measured other code. ${revision()}`);
console.log(`end: ${load()}; total ${s(performance.now() - tStart)}`);
await cleanup();
process.exit(exitCode());
