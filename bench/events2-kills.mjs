#!/usr/bin/env node
// bench/events2-kills.mjs: issue 12's "Kills" bar for the events2 plugin's move of a legacy
// eventstore.events (ZITADEL's step 14_events_push, plugins/events2/move.ts).
//
// On copies (CREATE DATABASE ... TEMPLATE) of one legacy database (scripts/zitadel-legacy-events.mjs,
// --events 300000 --instances 50, or --base DB), `zsetup apply --json` (the real CLI, a config with
// plugins [events2()] and steps [eventsMove()], as bench/events2-move.mjs writes it) is interrupted
// --kills (50) times at random moments spread over the move's phases:
//   start    the step began, its first checkpoint (units + copy table) not yet committed;
//   copy     the page-range batches (checkpoint phase "copy");
//   indexes  the key and the three index builds with the verification beside them ("indexes");
//   switch   the one switch transaction ("switch": lock, tail, count, renames, key);
// with a mix of SIGTERM, SIGKILL, pg_terminate_backend of the process's backends (found in
// pg_stat_activity by their client port, which /proc ties to the process): all of them, or only
// the pool's (terminate/pool: the run lock's connection kept, the step retries in the same
// process), and pairs: two applies at once (the second waits for the run lock and joins the copy,
// StepKind.join), one or both of them interrupted. Each interruption waits for observed state (the step's checkpoint and its
// phase in zsetup.checkpoints, the step's own log lines in --json, pg_stat_activity), then a
// random delay drawn by a seeded PRNG (--seed) and sized from an uninterrupted calibration run.
// Between interruptions nothing touches the database but `zsetup apply`: the next apply (or the
// one that waited beside it) continues on its own. A round is one copy of the legacy database:
// a plan of interruptions drawn per round (start 0-1, copy 0-3, indexes 1-2, switch 1-2), then an
// apply that runs to its end; then the round is checked and a new copy starts, until --kills
// interruptions were made. Each round's end is checked against:
//   - events2 identical to ZITADEL's statements (those of bench/events2-move.mjs) run on another
//     copy of the same legacy database: describeSchema restricted to eventstore.events2, and an
//     ordered md5 over all columns and the row count;
//   - events_old kept with every legacy row (ordered md5 over all columns = the legacy table's);
//   - no INVALID index, no eventstore.events2_move, events2_move_units or eventstore.events left;
//   - the journal: the step done, no checkpoint left, `zsetup plan` has nothing to do.
// Every process must end as its treatment allows: 0 when nothing was done to it; 143 after SIGTERM
// (0 when it had finished; ended by the signal itself when it came during the process's exit);
// killed (137) after SIGKILL; 143 (lost lock), 1 (a failed step, recorded: the next apply goes on)
// or 0 after pg_terminate_backend. Also printed: SIGTERM -> exit times, and the output of any stop
// slower than 1 s.
//
// Options: --events N (300000) --instances N (50) --kills N (50) --seed N (random) --base DB (an
// existing legacy database, copied once, never written) --keep. Never part of the test run.
import pg from 'pg';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import { ROOT, CLI, WORK, SERVER, KEEP, arg, admin, table, bar, exitCode, machine, load, revision, requireBuild, serverVersion, rel, mulberry32, writeMoveConfig } from './lib/common.mjs';

const EVENTS = Number(arg('--events', 300_000));
const INSTANCES = Number(arg('--instances', 50));
const KILLS = Number(arg('--kills', 50));
const SEED = Number(arg('--seed', randomBytes(4).readUInt32BE(0)));
const BASE = arg('--base', '');
const STEP = '14_events_push';

requireBuild();
const { generateLegacyEvents } = await import(join(ROOT, 'scripts/zitadel-legacy-events.mjs'));
const { describeSchema } = await import(join(ROOT, 'scripts/schema.mjs'));
const ID = randomBytes(4).toString('hex');
const PREFIX = `zs_bench_e2k_${ID}`;
const DIR = join(WORK, `events2-kills-${ID}`);
const TMP = join(DIR, 'tmp');
mkdirSync(TMP, { recursive: true });
writeMoveConfig(DIR);

// ---- small helpers -------------------------------------------------------------------------
const rnd = mulberry32(SEED);
const pick = (xs) => xs[Math.floor(rnd() * xs.length)];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const s = (ms) => `${(ms / 1000).toFixed(2)} s`;
const url = (db) => `${SERVER}/${db}`;

const dbs = new Set();
async function createDb(name, template) {
  // A template in use by another session cannot be copied: wait for it (another bench may read --base).
  for (let attempt = 0; ; attempt++) {
    try {
      await admin(`CREATE DATABASE ${name}${template ? ` TEMPLATE ${template}` : ''}`);
      break;
    } catch (err) {
      if (!/being accessed by other users/.test(err.message) || attempt >= 120) throw err;
      await sleep(1000);
    }
  }
  dbs.add(name);
  return name;
}
async function dropDb(name) {
  await admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch((e) => console.error(`warning: could not drop ${name}: ${e.message}`));
  dbs.delete(name);
}
const procs = [];
let cleaned = false;
async function cleanup() {
  if (cleaned) return;
  cleaned = true;
  for (const p of procs) if (p.alive()) p.child.kill('SIGKILL');
  await Promise.all(procs.map((p) => p.done));
  for (const m of monitors) await m.end().catch(() => undefined);
  for (const d of [...dbs]) await dropDb(d);
  if (!KEEP) rmSync(DIR, { recursive: true, force: true });
  else console.log(`(--keep: left ${rel(DIR)})`);
}
for (const sig of ['SIGINT', 'SIGTERM']) process.once(sig, () => { console.error(`\n${sig}: cleaning up ${PREFIX}_*`); cleanup().finally(() => process.exit(130)); });

async function withClient(db, fn) {
  const c = new pg.Client({ connectionString: url(db), application_name: 'zs_bench_e2k' });
  await c.connect();
  try { return await fn(c); } finally { await c.end(); }
}

// ---- one zsetup process --------------------------------------------------------------------
let procSeq = 0;
/** `zsetup <args> --json` on `db`, its events parsed as they come. */
function zsetup(db, args = ['apply', '--json'], role = 'apply') {
  const child = spawn(process.execPath, [CLI, ...args], { cwd: DIR, env: { ...process.env, ZSETUP_DATABASE_URL: url(db), TMPDIR: TMP }, stdio: ['ignore', 'pipe', 'pipe'] });
  const p = { n: ++procSeq, role, db, child, t0: performance.now(), lines: [], events: [], hits: [], locked: false, joining: false, joins: 0, joinedPages: 0, finished: undefined, exit: undefined };
  procs.push(p);
  const onLine = (line, err) => {
    const at = performance.now();
    p.lines.push(`${((at - p.t0) / 1000).toFixed(3)} ${err ? 'E' : 'O'} ${line}`);
    if (err || !line.startsWith('{')) return;
    let e;
    try { e = JSON.parse(line); } catch { return; }
    e.at = at;
    p.events.push(e);
    if (e.type === 'run.started') p.runStarted = true;
    else if (e.type === 'lock.waiting') p.waiting = true;
    else if (e.type === 'lock.acquired') { p.locked = true; p.joining = false; }
    else if (e.type === 'step.started') p.started = at;
    else if (e.type === 'step.progress') p.progressAt ??= at;
    else if (e.type === 'run.finished') p.finished = e;
    else if (e.type === 'log') {
      const m = e.message ?? '';
      if (/^joining the run of/.test(m)) { p.joining = true; p.joins++; p.joinedAt ??= at; }
      else if (/^joined the copy: (\d+) pages/.test(m)) p.joinedPages += Number(/(\d+) pages/.exec(m)[1]);
      else if (/^joining stopped/.test(m)) p.joining = false;
      else if (/^building /.test(m)) p.buildingAt ??= at;
      else if (/^built the key and the indexes/.test(m)) p.verifiedAt = at;
    }
  };
  const split = (err) => { let buf = ''; return { data: (d) => { buf += d; let i; while ((i = buf.indexOf('\n')) >= 0) { onLine(buf.slice(0, i), err); buf = buf.slice(i + 1); } }, end: () => buf && onLine(buf, err) }; };
  const o = split(false), e = split(true);
  child.stdout.on('data', o.data);
  child.stderr.on('data', e.data);
  p.done = new Promise((r) => child.on('close', (code, sig) => { o.end(); e.end(); p.exit = { code, sig, at: performance.now() }; r(p.exit); }));
  p.alive = () => p.exit === undefined;
  p.ending = () => (!p.exit ? 'running' : p.exit.sig ? `${p.exit.sig} (${128 + ({ SIGKILL: 9, SIGTERM: 15, SIGINT: 2 }[p.exit.sig] ?? 0)})` : String(p.exit.code));
  p.tail = (n = 14) => p.lines.slice(-n).map((l) => `      [apply #${p.n}] ${l.length > 240 ? l.slice(0, 240) + '…' : l}`).join('\n');
  return p;
}
async function waitUntil(cond, timeoutMs = Infinity, every = 10) {
  const end = performance.now() + timeoutMs;
  while (!(await cond())) { if (performance.now() > end) return false; await sleep(every); }
  return true;
}

// ---- what the database shows (read-only: catalog, zsetup.checkpoints, pg_stat_activity) -------
const monitors = new Set();
async function monitor(db) {
  const c = new pg.Client({ connectionString: url(db), application_name: 'zs_bench_e2k_monitor' });
  await c.connect();
  monitors.add(c);
  let hasCheckpoints = false;
  const snap = async () => {
    const [r] = (await c.query(`SELECT to_regclass('zsetup.checkpoints') IS NOT NULL AS cpt, to_regclass('eventstore.events') IS NOT NULL AS legacy,
        to_regclass('eventstore.events2') IS NOT NULL AS events2, to_regclass('eventstore.events2_move') IS NOT NULL AS build,
        to_regclass('eventstore.events2_move_units') IS NOT NULL AS units,
        (SELECT coalesce(json_agg(left(regexp_replace(query, '\\s+', ' ', 'g'), 60)), '[]') FROM pg_stat_activity
          WHERE datname = current_database() AND pid <> pg_backend_pid() AND state = 'active' AND backend_type = 'client backend' AND application_name LIKE 'zsetup%') AS active`)).rows;
    hasCheckpoints ||= r.cpt;
    r.cp = hasCheckpoints ? (await c.query(`SELECT value->>'phase' AS phase, done::float8 AS done, total::float8 AS total FROM zsetup.checkpoints WHERE step = $1`, [STEP])).rows[0] : undefined;
    r.phase = phaseOf(r);
    r.at = performance.now();
    return r;
  };
  return { snap, end: async () => { monitors.delete(c); await c.end().catch(() => undefined); } };
}
const PHASES = ['start', 'copy', 'indexes', 'switch', 'moved'];
const PHASE_NAMES = { start: 'start (before the 1st checkpoint)', copy: 'copy', indexes: 'indexes + verify', switch: 'switch', moved: 'after the switch commit' };
function phaseOf(x) {
  if (!x.legacy && x.events2) return 'moved';
  if (x.cp?.phase === 'switch') return 'switch';
  if (x.cp?.phase === 'indexes' || x.cp?.phase === 'verify') return 'indexes';
  if (x.cp?.phase === 'copy') return 'copy';
  return 'start';
}
/** What ran at the moment, briefly: "3 CREATE INDEX, verify", "copy batch", "switch". */
function activity(x) {
  const a = x.active ?? [];
  const n = (re) => a.filter((q) => re.test(q)).length;
  const parts = [];
  if (n(/^CREATE (UNIQUE )?INDEX/)) parts.push(`${n(/^CREATE (UNIQUE )?INDEX/)} CREATE INDEX`);
  if (n(/hashtextextended/)) parts.push(`${n(/hashtextextended/)} verify`);
  if (n(/^WITH r0 AS \(INSERT INTO eventstore\.events2_move/)) parts.push(`${n(/^WITH r0 AS/)} copy batch`);
  if (n(/^SET LOCAL lock_timeout|ON CONFLICT|^SELECT count\(\*\) AS n FROM eventstore\.events$|RENAME TO/)) parts.push('switch');
  return parts.join(', ');
}

// ---- the backends of a process: pg_stat_activity.client_port -> /proc/net/tcp inode -> /proc/<pid>/fd
function portsOf(pid) {
  const byInode = new Map();
  for (const f of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try { text = readFileSync(f, 'utf8'); } catch { continue; }
    for (const line of text.split('\n').slice(1)) {
      const x = line.trim().split(/\s+/);
      if (x.length >= 10) byInode.set(x[9], parseInt(x[1].split(':')[1], 16));
    }
  }
  const ports = [];
  let fds = [];
  try { fds = readdirSync(`/proc/${pid}/fd`); } catch { return ports; }
  for (const fd of fds) {
    let l = '';
    try { l = readlinkSync(`/proc/${pid}/fd/${fd}`); } catch { continue; }
    const m = /^socket:\[(\d+)\]$/.exec(l);
    const port = m && byInode.get(m[1]);
    if (port) ports.push(port);
  }
  return ports;
}
/**
 * pg_terminate_backend of the backends of these processes on `db` (never the bench's own): all
 * of them, or (`poolOnly`) those of the pool, the run lock's own connection (application_name
 * "zsetup@<since> <owner>") kept.
 */
async function terminate(db, victims, poolOnly = false) {
  const ports = victims.flatMap((v) => portsOf(v.child.pid));
  const r = await admin(`SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity
     WHERE datname = '${db}' AND pid <> pg_backend_pid() AND application_name NOT LIKE 'zs_bench%' AND client_port = ANY('{${ports.join(',')}}'::int[])${poolOnly ? ` AND application_name = 'zsetup'` : ''}`);
  return r.rows[0].n;
}

// ---- checks --------------------------------------------------------------------------------
/** events2 as a comparison sees it: its schema lines and an ordered md5 over all columns. */
async function fingerprint(db) {
  return withClient(db, async (c) => {
    const schema = (await describeSchema(async (sql) => (await c.query(sql)).rows)).filter((l) => /eventstore\.events2\b/.test(l)).join('\n');
    const [{ md5, n }] = (await c.query(`SELECT md5(string_agg(t::text, E'\\n' ORDER BY instance_id, aggregate_type, aggregate_id, "sequence")) AS md5, count(*) AS n FROM eventstore.events2 t`)).rows;
    return { schema, md5, n: Number(n) };
  });
}
/** A legacy table's rows, all columns, as an ordered md5 (its key: event_sequence, instance_id). */
async function legacyPrint(db, tableName) {
  return withClient(db, async (c) => {
    const [{ md5, n }] = (await c.query(`SELECT md5(string_agg(t::text, E'\\n' ORDER BY instance_id, event_sequence)) AS md5, count(*) AS n FROM ${tableName} t`)).rows;
    return { md5, n: Number(n) };
  });
}

const ZITADEL = [
  'ALTER TABLE eventstore.events RENAME TO events_old',
  `CREATE TABLE eventstore.events2 (instance_id, aggregate_type, aggregate_id, event_type, "sequence", revision, created_at, payload, creator, "owner", "position", in_tx_order)
    AS SELECT instance_id, aggregate_type, aggregate_id, event_type, event_sequence, substr(aggregate_version, 2)::SMALLINT, creation_date, event_data, editor_user, resource_owner,
              EXTRACT(EPOCH FROM creation_date), event_sequence FROM eventstore.events_old`,
  `BEGIN; ALTER TABLE eventstore.events2 DROP CONSTRAINT IF EXISTS events2_pkey; ALTER TABLE eventstore.events2 ADD PRIMARY KEY (instance_id, aggregate_type, aggregate_id, "sequence"); COMMIT`,
  `ALTER TABLE eventstore.events2 ALTER COLUMN event_type SET NOT NULL, ALTER COLUMN revision SET NOT NULL, ALTER COLUMN created_at SET NOT NULL,
    ALTER COLUMN creator SET NOT NULL, ALTER COLUMN "owner" SET NOT NULL, ALTER COLUMN "position" SET NOT NULL, ALTER COLUMN in_tx_order SET NOT NULL`,
  'CREATE INDEX IF NOT EXISTS es_active_instances ON eventstore.events2 (created_at DESC, instance_id)',
  'CREATE INDEX IF NOT EXISTS es_wm ON eventstore.events2 (aggregate_id, instance_id, aggregate_type, event_type)',
  'CREATE INDEX IF NOT EXISTS es_projection ON eventstore.events2 (instance_id, aggregate_type, event_type, "position")',
];

// ---- preparation ---------------------------------------------------------------------------
let ok = false;
try {
  console.log(`events2-kills: ${KILLS} interruptions of the events2 move, seed ${SEED}; ${BASE ? `legacy database copied from ${BASE}` : `${EVENTS} legacy events over ${INSTANCES} instances`}`);
  console.log(`${machine()}; PostgreSQL ${await serverVersion()}; ${revision()}`);
  console.log(`start: ${load()}; databases ${PREFIX}_*\n`);
  const tStart = performance.now();
  // The legacy database every round copies: generated, or copied once from --base (never written).
  const LEGACY = await createDb(`${PREFIX}_base`, BASE || undefined);
  if (!BASE) {
    const t0 = performance.now();
    await withClient(LEGACY, async (c) => {
      await generateLegacyEvents(c, { events: EVENTS, instances: INSTANCES, seed: 7 });
      await c.query('VACUUM ANALYZE eventstore.events');
    });
    console.log(`generated the legacy events in ${s(performance.now() - t0)}`);
  }
  const legacyRows = await legacyPrint(LEGACY, 'eventstore.events');
  const pages = (await withClient(LEGACY, (c) => c.query(`SELECT (pg_relation_size('eventstore.events') / 8192)::int AS n`))).rows[0].n;
  // ZITADEL's way, on a copy: the result every round must equal.
  const REF = await createDb(`${PREFIX}_zitadel`, LEGACY);
  const tz = performance.now();
  await withClient(REF, async (c) => { for (const sql of ZITADEL) await c.query(sql); });
  const tZitadel = performance.now() - tz;
  const want = await fingerprint(REF);
  await dropDb(REF);
  console.log(`legacy table: ${legacyRows.n} rows, ${pages} pages (md5 ${legacyRows.md5.slice(0, 12)}); ZITADEL's statements on a copy: ${s(tZitadel)}, events2 ${want.n} rows (md5 ${want.md5.slice(0, 12)})\n`);

  // ---- rounds ------------------------------------------------------------------------------
  const log = []; // one entry per interruption
  const rounds = [];
  const anomalies = [];
  const note = (msg) => { anomalies.push(msg); console.log(`  ! ${msg}`); };
  let round;
  let live = [];
  const newRound = async (calibration = false) => {
    const n = rounds.length;
    const db = await createDb(`${PREFIX}_r${n}`, LEGACY);
    // A plan of interruptions for this round, in the move's order (the calibration round has none).
    const plan = calibration ? [] : [
      ...(rnd() < 0.25 ? ['start'] : []),
      ...Array(pick([1, 1, 2, 2, 3])).fill('copy'),
      ...Array(pick([1, 1, 2])).fill('indexes'),
      ...Array(pick([1, 1, 2])).fill('switch'),
    ];
    round = { n, db, mon: await monitor(db), plan, interruptions: 0, applies: 0, pairs: 0, joinedPages: 0, phases: [] };
    rounds.push(round);
    if (!calibration) console.log(`  round ${n}: a copy of the legacy database; plan: ${plan.join(', ')}`);
  };
  /** Start an apply on the round's database. */
  const start = (role) => { const p = zsetup(round.db, ['apply', '--json'], role); round.applies++; live.push(p); return p; };
  const holder = () => live.find((p) => p.alive() && p.locked);
  /** Wait for an apply nothing is done to; at most `limit` from its start (else SIGKILL, noted). */
  let LIMIT = 300_000;
  /** SIGTERM -> exit of each process stopped by SIGTERM (ms), and the slow ones (> 1 s) with their output. */
  const stops = [];
  const slow = [];
  let stuck = 0;
  /** Whether the lock holder `p` works in the phase the database shows (not still starting). */
  const inPhase = (x, p) => {
    if (!p || p.started === undefined) return false;
    if (x.phase === 'copy') return p.progressAt !== undefined;
    if (x.phase === 'indexes') return p.buildingAt !== undefined || performance.now() - p.started > 100;
    return true;
  };
  const awaitEnd = async (p) => {
    if (!(await waitUntil(() => !p.alive(), Math.max(0, LIMIT - (performance.now() - p.t0)), 50))) {
      note(`round ${round.n}: apply #${p.n} (${p.role}) still running ${s(LIMIT)} after its start with nothing done to it: SIGKILL\n${p.tail()}`);
      stuck++;
      p.child.kill('SIGKILL');
    }
    await p.done;
  };
  /** How a process may end: by what was done to it last (nothing: 0). */
  const allowed = (p) => {
    const e = p.exit;
    const how = p.hits.at(-1);
    if (!how) return e.code === 0;
    // 143: stopped; 0: it had finished; by the signal itself: it came during the exit (or cleanup overran).
    if (how === 'SIGTERM') return e.code === 143 || e.code === 0 || e.sig === 'SIGTERM';
    if (how === 'SIGKILL') return e.sig === 'SIGKILL' || e.code === 0;
    return e.code === 0 || e.code === 143 || e.code === 1; // terminate: lost lock, failed step (recorded), or it went on and finished
  };
  const checkEnded = (p) => {
    if (p.checked || p.alive()) return;
    p.checked = true;
    round.joinedPages += p.joinedPages;
    if (!allowed(p)) note(`round ${round.n}: apply #${p.n} (${p.role}; ${p.hits.length ? `last hit by ${p.hits.at(-1)}` : 'nothing done to it'}) ended ${p.ending()}\n${p.tail()}`);
  };
  /** A round is over: check the database against ZITADEL's result, the legacy rows, leftovers, journal. */
  const endRound = async (closer) => {
    round.closer = closer;
    await round.mon.end();
    const got = await fingerprint(round.db).catch((err) => ({ schema: '', md5: `error: ${err.message}`, n: -1 }));
    round.identical = got.schema === want.schema && got.md5 === want.md5 && got.n === want.n;
    const old = await legacyPrint(round.db, 'eventstore.events_old').catch((err) => ({ md5: `error: ${err.message}`, n: -1 }));
    round.oldKept = old.md5 === legacyRows.md5 && old.n === legacyRows.n;
    const [x] = (await withClient(round.db, (c) => c.query(`SELECT coalesce((SELECT string_agg(indexrelid::regclass::text, ', ') FROM pg_index WHERE NOT indisvalid), '') AS invalid,
        concat_ws(', ', CASE WHEN to_regclass('eventstore.events2_move') IS NOT NULL THEN 'events2_move' END, CASE WHEN to_regclass('eventstore.events2_move_units') IS NOT NULL THEN 'events2_move_units' END,
                  CASE WHEN to_regclass('eventstore.events') IS NOT NULL THEN 'eventstore.events' END) AS leftovers,
        (SELECT count(*)::int FROM zsetup.checkpoints) AS checkpoints`))).rows;
    round.invalid = x.invalid;
    round.leftovers = x.leftovers;
    // The journal, read by zsetup itself (read-only commands, after the last apply).
    const st = zsetup(round.db, ['status', '--json'], 'status');
    const pl = zsetup(round.db, ['plan', '--json'], 'plan');
    await Promise.all([st.done, pl.done]);
    const state = st.events.find((e) => e.step === STEP)?.state;
    const action = pl.events.find((e) => e.step === STEP)?.action;
    round.journal = { ok: state === 'done' && action === 'skip' && x.checkpoints === 0, text: `status ${state}, plan ${action}, ${x.checkpoints} checkpoint(s)` };
    if (!round.identical) note(`round ${round.n}: events2 DIFFERENT from ZITADEL's: ${got.n} rows md5 ${got.md5} (want ${want.n} ${want.md5})${got.schema !== want.schema ? `\n  schema:\n${got.schema}\n  ZITADEL's:\n${want.schema}` : ''}`);
    if (!round.oldKept) note(`round ${round.n}: events_old ${old.n} rows md5 ${old.md5}, the legacy table ${legacyRows.n} rows md5 ${legacyRows.md5}`);
    if (round.invalid) note(`round ${round.n}: INVALID index(es): ${round.invalid}`);
    if (round.leftovers) note(`round ${round.n}: left over: ${round.leftovers}`);
    if (!round.journal.ok) note(`round ${round.n}: journal: ${round.journal.text}`);
    if (closer.exit.code !== 0) note(`round ${round.n}: the apply that ended the round exited ${closer.ending()}\n${closer.tail()}`);
    console.log(`  round ${round.n} checked: closer apply #${closer.n} exit ${closer.ending()}; events2 ${round.identical ? 'IDENTICAL to' : 'DIFFERENT from'} ZITADEL's; events_old ${round.oldKept ? 'has every legacy row' : 'DIFFERS'}; invalid ${round.invalid || 'none'}; leftovers ${round.leftovers || 'none'}; ${round.journal.text}`);
    await dropDb(round.db);
  };
  /** Every live apply runs to its end (or one more apply does): the round ends. */
  const finishRound = async () => {
    for (const p of live) { await awaitEnd(p); checkEnded(p); }
    let closer = live.filter((p) => p.exit.code === 0 && p.finished?.status === 'ok').at(-1);
    live = [];
    if (!closer) {
      closer = start('final');
      await awaitEnd(closer);
      checkEnded(closer);
      live = [];
    }
    await endRound(closer);
  };

  // Calibration: one uninterrupted apply (round 0, checked like the others): how long each phase takes here.
  await newRound(true);
  const cal = start('calibration');
  await finishRound();
  const logAt = (re) => cal.events.find((e) => e.type === 'log' && re.test(e.message ?? ''))?.at;
  const firstCp = cal.events.find((e) => e.type === 'step.progress')?.at ?? cal.started;
  const copied = logAt(/^copied /);
  const built = logAt(/^built the key and the indexes/);
  const T = { startup: (cal.started ?? cal.t0) - cal.t0, first: firstCp - (cal.started ?? firstCp), copy: copied - firstCp, indexes: built - copied, switch: Math.max(5, Number(/switched in ([\d.]+) s/.exec(cal.events.find((e) => /^switched in/.test(e.message ?? ''))?.message ?? '')?.[1] ?? 0.03) * 1000), all: cal.exit.at - cal.t0 };
  LIMIT = Math.max(120_000, 10 * T.all);
  console.log(`\ncalibration (uninterrupted apply, round 0): process start to step ${s(T.startup)}, to the first checkpoint ${s(T.first)}, copy ${s(T.copy)}, indexes + verify ${s(T.indexes)}, switch ${s(T.switch)}; whole apply ${s(T.all)}\n`);
  if (![T.copy, T.indexes].every((x) => x > 0)) throw new Error(`calibration: phases not found in the apply's output\n${cal.tail(30)}`);

  // ---- interruptions ------------------------------------------------------------------------
  await newRound();
  let count = 0;
  while (count < KILLS) {
    if (round.plan.length === 0) { await finishRound(); await newRound(); continue; }
    const k = rnd();
    const kind = k < 0.25 ? 'SIGTERM' : k < 0.5 ? 'SIGKILL' : k < 0.61 ? 'terminate' : k < 0.72 ? 'terminate/pool' : 'pair';
    let target = round.plan[0];
    const mon = round.mon;
    let pairNote = '';
    // The applies: one, and for a pair a second that waits for the lock (and joins the copy).
    if (live.length === 0) start('apply');
    if (kind === 'pair' && live.filter((p) => p.alive()).length < 2) {
      // The second starts once the first holds the lock: it waits, and joins while the first copies.
      await waitUntil(() => live.some((p) => p.locked) || live.every((p) => !p.alive()), LIMIT);
      if (live.some((p) => p.alive())) {
        const b = start('second');
        round.pairs++;
        // It waits for the run lock (and from there joins): interrupted only from then on.
        await waitUntil(() => !b.alive() || b.waiting || b.locked, LIMIT);
      }
    }
    // Synchronise on what the database shows (the checkpoint's phase) and on where the lock holder
    // is (its own output: the step begun, its copy's first progress, its index builds begun): a
    // checkpoint left by an interrupted apply says nothing of a new one still starting. A phase
    // passed meanwhile: the interruption lands where the move is now.
    let x;
    let timedOut = false;
    const t0 = performance.now();
    for (;;) {
      if (live.every((p) => !p.alive())) break;
      if (performance.now() - t0 > LIMIT) { timedOut = true; break; }
      x = await mon.snap();
      const p = holder();
      const at = PHASES.indexOf(x.phase);
      if (at >= PHASES.indexOf(target) && inPhase(x, p)) { if (at > PHASES.indexOf(target)) target = x.phase; break; }
      // The switch is short: poll fast once the holder has verified (or resumed into it).
      const fast = (target === 'switch' && p && (p.verifiedAt !== undefined || x.phase === 'switch')) || (target === 'start' && p);
      await sleep(fast ? 1 : 15);
    }
    if (timedOut) { note(`round ${round.n}: phase ${target} not reached within ${s(LIMIT)}: SIGKILL`); stuck++; for (const p of live) if (p.alive()) { p.hits.push('SIGKILL'); p.child.kill('SIGKILL'); } }
    if (live.every((p) => !p.alive())) {
      // Ended by itself before the interruption (a plan that outran the move): the round is over.
      for (const p of live) { await p.done; checkEnded(p); }
      round.plan = [];
      continue;
    }
    // A pair meant for the copy: the second has joined it (or the copy has ended meanwhile).
    const second = live.find((p) => p.alive() && p.role === 'second' && !p.locked);
    if (kind === 'pair' && second && target === 'copy') {
      await waitUntil(async () => second.joinedAt !== undefined || !second.alive() || (x = await mon.snap()).phase !== 'copy', LIMIT, 10);
      pairNote = second.joinedAt !== undefined ? 'joined the copy' : 'the copy ended before the join';
    }
    // A random moment within the phase: in the copy, a random share of what is left of it (its
    // checkpoint, polled), then up to 30 ms more; elsewhere a random delay sized from the calibration run.
    x = await mon.snap();
    if (x.phase === 'copy' && x.cp?.total > 0) {
      const f0 = x.cp.done / x.cp.total;
      const f = f0 + rnd() * 0.95 * (1 - f0);
      while (live.some((p) => p.alive()) && x.phase === 'copy' && x.cp.done / x.cp.total < f) { await sleep(5); x = await mon.snap(); }
      await sleep(rnd() * 30);
    } else {
      // The switch (its checkpoint seen within a few ms of its commit) lasts tens of ms: within its first half.
      const span = { start: 0.9 * T.first, indexes: 0.9 * T.indexes, switch: 0.5 * T.switch, moved: 50 }[x.phase] ?? 100;
      await sleep(rnd() * span);
    }
    if (x.phase !== 'switch' && x.phase !== 'start') x = await mon.snap(); // short phases: no second look, fire now
    const alive = live.filter((p) => p.alive());
    if (alive.length === 0) { for (const p of live) { await p.done; checkEnded(p); } round.plan = []; continue; }
    // Who, how.
    let how = kind;
    let victims;
    const h = alive.find((p) => p.locked) ?? alive[0];
    if (kind === 'pair' && alive.length > 1) {
      const who = pick(['holder', 'second', 'both']);
      victims = who === 'both' ? alive : who === 'holder' ? [h] : [alive.find((p) => p !== h)];
      how = pick(['SIGTERM', 'SIGKILL', 'terminate']);
    } else {
      if (kind === 'pair') how = pick(['SIGTERM', 'SIGKILL', 'terminate']);
      victims = [h];
    }
    const entry = { i: ++count, round: round.n, kind: kind === 'pair' ? `pair/${how}` : how, phase: x.phase, target, detail: x.phase === 'copy' && x.cp ? `${Math.floor((100 * x.cp.done) / x.cp.total)}%` : activity(x), procs: alive.length, note: pairNote, load: loadavg()[0].toFixed(1), victims: victims.map((v) => `#${v.n} ${v === h ? 'holder' : v.waiting ? 'waiting' : v.runStarted ? 'connecting' : 'starting (config)'}`) };
    const t = performance.now();
    if (how.startsWith('terminate')) {
      entry.backends = await terminate(round.db, victims, how === 'terminate/pool');
      if (entry.backends === 0) { await sleep(20); entry.backends = await terminate(round.db, victims, how === 'terminate/pool'); }
    } else for (const v of victims) v.child.kill(how);
    for (const v of victims) v.hits.push(how);
    round.plan.shift();
    round.interruptions++;
    round.phases.push(x.phase);
    // Outcome: a signalled process exits; after terminate it exits, or goes on (a waiting one reconnects).
    const outcomes = [];
    for (const v of victims) {
      if (how.startsWith('terminate')) {
        // It exits, or shows it goes on (a waiting one reconnects; a holder would report again).
        await waitUntil(() => !v.alive() || v.events.some((e) => e.at > t + 300 && ['step.progress', 'log', 'step.retry', 'step.done'].includes(e.type)), v === h ? 60_000 : 2000, 20);
      } else if (!(await waitUntil(() => !v.alive(), 30_000, 10))) {
        note(`interruption ${entry.i}: apply #${v.n} still running 30 s after ${how}\n${v.tail()}`);
        stuck++;
        v.child.kill('SIGKILL');
      }
      if (!v.alive()) { await v.done; checkEnded(v); outcomes.push(`#${v.n} ${v.ending()}${v.exit.at - t > 0 ? ` in ${Math.round(v.exit.at - t)} ms` : ''}`); } else outcomes.push(`#${v.n} went on${v.events.some((e) => e.at > t && e.type === 'step.retry') ? ' (step retried)' : ''}`);
      if (how === 'SIGTERM' && !v.alive()) {
        const ms = v.exit.at - t;
        stops.push(ms);
        // A slow stop: what the process wrote from the signal on.
        if (ms > 1000) slow.push(`interruption ${entry.i} (${PHASE_NAMES[entry.phase]}${entry.detail ? `, ${entry.detail}` : ''}): apply #${v.n} exited ${v.ending()} ${Math.round(ms)} ms after SIGTERM\n${v.lines.filter((l) => Number(l.split(' ')[0]) * 1000 >= t - v.t0 - 300).slice(0, 12).map((l) => `      ${l.slice(0, 220)}`).join('\n')}`);
      }
    }
    // Where it landed: a switch may have committed before the signal took effect.
    await sleep(100);
    const after = await mon.snap().catch(() => undefined);
    entry.landed = after && x.phase === 'switch' && after.phase === 'moved' ? 'committed' : '';
    entry.outcome = outcomes.join('; ');
    log.push(entry);
    console.log(`  ${String(entry.i).padStart(3)} r${round.n} ${entry.kind.padEnd(15)} ${PHASE_NAMES[entry.phase]}${entry.detail ? ` (${entry.detail})` : ''}${entry.landed ? ' [the switch had committed]' : ''}: ${entry.victims.join(', ')}${entry.backends !== undefined ? `, ${entry.backends} backends` : ''} -> ${entry.outcome}${entry.note ? ` [${entry.note}]` : ''} (${entry.procs} live, load ${entry.load})`);
    // Those that ended (hit, or done by themselves) leave; a waiting one that is left takes over on its own.
    for (const p of live) if (!p.alive()) checkEnded(p);
    live = live.filter((p) => p.alive());
  }
  await finishRound();

  // ---- tables ------------------------------------------------------------------------------
  const kinds = ['SIGTERM', 'SIGKILL', 'terminate', 'terminate/pool', 'pair/SIGTERM', 'pair/SIGKILL', 'pair/terminate'].filter((kd) => log.some((e) => e.kind === kd));
  const cols = PHASES.filter((ph) => log.some((e) => e.phase === ph));
  console.log(`\nInterruptions by kind and phase (the phase the database showed at the signal):\n`);
  console.log(table([
    ['kind', ...cols.map((ph) => PHASE_NAMES[ph]), 'total'],
    ...kinds.map((kd) => [kd, ...cols.map((ph) => log.filter((e) => e.kind === kd && e.phase === ph).length), log.filter((e) => e.kind === kd).length]),
    ['total', ...cols.map((ph) => log.filter((e) => e.phase === ph).length), log.length],
  ]));
  const endings = (es) => { const m = {}; for (const e of es) for (const o of e.outcome.split('; ')) { const k = o.replace(/^#\d+ /, '').replace(/ in \d+ ms/, ''); m[k] = (m[k] ?? 0) + 1; } return Object.entries(m).map(([o, n]) => `${o} x${n}`).join(', '); };
  console.log(`\nHow the interrupted processes ended:\n`);
  console.log(table([['kind', 'interruptions', 'processes hit', 'endings'], ...kinds.map((kd) => { const es = log.filter((e) => e.kind === kd); return [kd, es.length, es.reduce((a, e) => a + e.victims.length, 0), endings(es)]; })]));
  const sorted = [...stops].sort((a, b) => a - b);
  const q = (p) => (sorted.length ? `${Math.round(sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)])} ms` : '-');
  console.log(`\nSIGTERM -> exit (${stops.length} processes): median ${q(0.5)}, p95 ${q(0.95)}, max ${q(1)}; over 1 s: ${slow.length}`);
  for (const x of slow) console.log(`  ${x}`);
  const switchCommitted = log.filter((e) => e.landed === 'committed').length;
  if (switchCommitted) console.log(`\n(${switchCommitted} of the interruptions in the switch came after its commit: the next apply found the move done and recorded it.)`);
  const checked = rounds.filter((r) => r.closer);
  console.log(`\nRounds (a fresh copy of the legacy database each; round 0 is the uninterrupted calibration):\n`);
  console.log(table([['round', 'interruptions', 'phases hit', 'applies', 'pairs', 'pages joined', 'closer exit', 'events2 vs ZITADEL', 'events_old', 'INVALID', 'leftovers', 'journal'],
    ...checked.map((r) => [r.n, r.interruptions, r.phases.join(' ') || '-', r.applies, r.pairs, r.joinedPages, r.closer.ending(), r.identical ? 'IDENTICAL' : 'DIFFERENT', r.oldKept ? 'all rows' : 'DIFFERS', r.invalid || 'none', r.leftovers || 'none', r.journal.text])]));
  if (anomalies.length) { console.log(`\nAnomalies (${anomalies.length}):`); for (const a of anomalies) console.log(`  - ${a.split('\n')[0]}`); }
  console.log('');
  const per = (ph) => log.filter((e) => e.phase === ph).length;
  const joinedPairs = log.filter((e) => e.note === 'joined the copy').length;
  const applies = procs.filter((p) => p.role !== 'status' && p.role !== 'plan');
  bar(log.length >= KILLS && per('copy') >= KILLS / 10 && per('indexes') >= KILLS / 10 && per('switch') >= KILLS / 10,
    `Kills: ${KILLS} interruptions spread over the phases`,
    `${log.length} in ${checked.length - 1} rounds: ${PHASES.filter(per).map((ph) => `${PHASE_NAMES[ph]} ${per(ph)}`).join(', ')}; ${kinds.map((kd) => `${kd} ${log.filter((e) => e.kind === kd).length}`).join(', ')}; ${joinedPairs} pair(s) with the second joining the copy (${checked.reduce((a, r) => a + r.joinedPages, 0)} pages joined)`);
  const badEnd = applies.filter((p) => p.exit && !allowed(p));
  bar(badEnd.length === 0 && stuck === 0,
    'every apply ended as allowed (0; 143 after SIGTERM, or 0 when it had finished, or by the signal during its exit; 137 after SIGKILL; 143, 1 or 0 after pg_terminate_backend)',
    `${applies.length} applies${stuck ? `, ${stuck} STUCK (watchdog)` : ''}: ${Object.entries(applies.reduce((m, p) => ((m[`${p.hits.length ? `after ${p.hits.at(-1)}` : 'nothing done'}: ${p.ending()}`] = (m[`${p.hits.length ? `after ${p.hits.at(-1)}` : 'nothing done'}: ${p.ending()}`] ?? 0) + 1), m), {})).map(([k, n]) => `${k} x${n}`).join(', ')}${badEnd.length ? `; NOT ALLOWED: ${badEnd.map((p) => `#${p.n} ${p.ending()}`).join(', ')}` : ''}`);
  bar(checked.every((r) => r.closer.exit.code === 0 && r.identical), "every round: the last apply exits 0 and events2 is identical to ZITADEL's (schema of eventstore.events2, ordered md5 of all columns, rows)", `${checked.filter((r) => r.identical).length}/${checked.length} identical (${want.n} rows, md5 ${want.md5.slice(0, 12)}); closers exit ${[...new Set(checked.map((r) => r.closer.ending()))].join('/')}`);
  bar(checked.every((r) => r.oldKept), 'every round: events_old kept with all legacy rows (ordered md5 of all columns)', `${checked.filter((r) => r.oldKept).length}/${checked.length} (${legacyRows.n} rows)`);
  bar(checked.every((r) => !r.invalid && !r.leftovers && r.journal.ok), 'every round: no INVALID index, no events2_move / events2_move_units / eventstore.events left, the step done and nothing to do', `${checked.filter((r) => !r.invalid && !r.leftovers && r.journal.ok).length}/${checked.length}`);
  bar(true, '0 manual actions', `only \`zsetup apply\` ran on a round's database until its check (plus read-only monitoring and the pg_terminate_backend interruptions themselves)`);
  console.log(`end: ${load()}; total ${s(performance.now() - tStart)}`);
  ok = true;
} finally {
  await cleanup();
}
process.exit(ok ? exitCode() : 2);
