#!/usr/bin/env node
// bench/prefill-pods.mjs: projection prefill by several pods at once (issue 9, "Many pods"
// and "Connections"). 1, 2 and 4 `zsetup apply` processes (the real CLI) start together
// on the same ZITADEL-shaped events (scripts/zitadel-events.mjs); the first takes the run
// lock and runs the prefill steps, the others wait for the lock and join them
// (src/run/join.ts, the projections plugin's `join`). Then the same with
// apply.prefillWorkers forced to 4, with 1 and 4 processes.
//
// The config is bench/fixtures/pods.setup.ts: zitadel.setup.ts (instances, orgs1, users14)
// plus projections.seen_pods, one row per event users14 reads, keyed by the event's key.
// Every round starts from a copy (CREATE DATABASE ... TEMPLATE) of one template database:
// the events, VACUUM (FREEZE, ANALYZE)d, and the schema steps applied with
// --no-init-projections, so a round runs the four prefill steps and nothing else.
//
// Per round:
// - wall time from the spawn of the processes to the last exit (all must exit 0); events
//   reduced = the holder's "N events over M instance(s)" plus the joiners' "joined: N
//   events" lines, per step;
// - exactly once: per step, the events reduced by all processes together = the step's
//   events up to the bound (counted in SQL on the template); seen_pods holds one row per
//   event it reduces and none is missing; projections.failed_events2 is empty (an event
//   applied twice breaks seen_pods's key and would land there);
// - the ordered md5 of the six ZITADEL projection tables (and seen_pods): identical in
//   every round;
// - connections: pg_stat_activity sampled every ~20 ms from the bench's own connection (to
//   the "postgres" database, so it is not counted), client backends of the round's database
//   only; each backend is attributed to the apply process that owns its socket
//   (pg_stat_activity.client_port -> /proc/net/tcp inode -> /proc/<pid>/fd). Bar: each
//   process's peak <= pool max + 1 (the run lock's own connection).
//
// Options: --events N (1000000), --instances N (100), --seed N (1), --rounds N (1: each
// variant N times), --procs 1,2,4, --lock-timeout D (ZSETUP_LOCK_TIMEOUT for the applies,
// e.g. 10m; default zsetup's 60 s), --keep (leave the databases). Needs npm run build.
// Exit 0 when every check passes, 1 when one fails, 2 when something is missing.
import pg from 'pg';
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync, readlinkSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, CLI, SERVER, admin, arg, load, machine, revision, requireBuild, serverVersion, table } from './lib/common.mjs';

const EVENTS = Number(arg('--events', 1_000_000));
const INSTANCES = Number(arg('--instances', 100));
const SEED = Number(arg('--seed', 1));
const ROUNDS = Number(arg('--rounds', 1));
const PROCS = String(arg('--procs', '1,2,4')).split(',').map(Number);
const KEEP = process.argv.includes('--keep');
/** --lock-timeout D: ZSETUP_LOCK_TIMEOUT for the applies (default: zsetup's own, 60 s). */
const LOCK_TIMEOUT = arg('--lock-timeout', undefined);
const CONFIG = join(ROOT, 'bench/fixtures/pods.setup.ts');
const INTERVAL_MS = 20;
const ZITADEL_TABLES = ['instances', 'orgs1', 'users14', 'users14_humans', 'users14_machines', 'users14_notifications'].map((t) => `projections.${t}`);
const SEEN = 'projections.seen_pods';

requireBuild();
/** dist/ may be rebuilt by someone else while we start: retry the import a few times. */
async function importDist(path) {
  for (let i = 0; ; i++) {
    try {
      return await import(`${join(ROOT, path)}?try=${i}`);
    } catch (err) {
      if (i >= 10) throw err;
      await new Promise((r) => setTimeout(r, 2000));
    }
  }
}
const { generateEvents, events2Ddl } = await import(join(ROOT, 'scripts/zitadel-events.mjs'));
const zitadel = await importDist('dist/plugins/zitadel/projections.js');
const { filterOf } = await importDist('dist/plugins/projections/prefill.js');

// zsetup's pool max: the fixture does not set database.pool, so zsetup's default applies.
const POOL_MAX = Number(/poolMax:\s*(\d+)/.exec(readFileSync(join(ROOT, 'src/config/resolve.ts'), 'utf8'))?.[1] ?? 10);
const DEFAULT_WORKERS = Math.max(1, Math.min(Math.floor(POOL_MAX / 4), INSTANCES));

/** When dist/ was built: a rebuild during the run (someone else's) makes the rounds measure other code. */
const builtAt = () => ['dist/cli.js', 'dist/zsetup.bundle.cjs'].map((f) => { try { return statSync(join(ROOT, f)).mtimeMs; } catch { return 0; } }).join(',');
const BUILT = builtAt();

const id = Math.random().toString(16).slice(2, 10);
const TPL = `zs_bench_pods_${id}_tpl`;
const made = [];
let roundNo = 0;
const drop = async (db) => admin(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`).catch((err) => console.error(`warning: could not drop ${db}: ${err.message}`));
let children = [];
const onSignal = (sig) => {
  console.error(`\n${sig}: stopping the applies and dropping the databases`);
  for (const c of children) c.kill('SIGKILL');
  Promise.all(made.map(drop)).finally(() => process.exit(130));
};
process.once('SIGINT', onSignal);
process.once('SIGTERM', onSignal);

const checks = [];
const check = (ok, what) => {
  checks.push({ ok, what });
  if (!ok) console.log(`  CHECK FAILED: ${what}`);
  return ok;
};

/** Runs the CLI once to the end (the template's schema steps). */
function cliOnce(db, args, env = {}) {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [CLI, ...args, '--config', CONFIG], { cwd: ROOT, env: { ...process.env, ZSETUP_DATABASE_URL: `${SERVER}/${db}`, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    c.stdout.on('data', (d) => (out += d));
    c.stderr.on('data', (d) => (out += d));
    c.on('close', (code) => resolve({ code, out }));
  });
}

/** port -> inode of the local TCP sockets (IPv4 and IPv6). */
function socketInodes() {
  const byInode = new Map();
  for (const f of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(f, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const p = line.trim().split(/\s+/);
      if (p.length < 10) continue;
      const port = parseInt(p[1].split(':')[1], 16);
      byInode.set(p[9], port);
    }
  }
  return byInode;
}

/** client port -> apply pid, for the sockets the given processes hold now. */
function portsOf(pids) {
  const byInode = socketInodes();
  const out = new Map();
  for (const pid of pids) {
    let fds = [];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      let l = '';
      try {
        l = readlinkSync(`/proc/${pid}/fd/${fd}`);
      } catch {
        continue;
      }
      const m = /^socket:\[(\d+)\]$/.exec(l);
      const port = m && byInode.get(m[1]);
      if (port) out.set(port, pid);
    }
  }
  return out;
}

/** Samples the round's client backends until stop(); peaks in total and per apply process. */
async function startSampler(db, pids) {
  const c = new pg.Client({ connectionString: `${SERVER}/postgres` });
  await c.connect();
  const owner = new Map(); // `${backend pid}:${client port}` -> apply pid ('?' unresolved)
  const peakPer = new Map(pids.map((p) => [p, 0]));
  let peakTotal = 0;
  let peakUnknown = 0;
  let samples = 0;
  let stop = false;
  const loop = (async () => {
    while (!stop) {
      const t = performance.now();
      const r = await c.query(`SELECT pid, client_port FROM pg_stat_activity WHERE datname = $1 AND backend_type = 'client backend'`, [db]);
      samples++;
      let ports;
      const per = new Map();
      let unknown = 0;
      for (const row of r.rows) {
        const key = `${row.pid}:${row.client_port}`;
        let p = owner.get(key);
        if (p === undefined) {
          ports ??= portsOf(pids);
          p = ports.get(row.client_port);
          // A connection not yet (or no longer) in a process's fd table: look again next time.
          if (p !== undefined) owner.set(key, p);
        }
        if (p === undefined) unknown++;
        else per.set(p, (per.get(p) ?? 0) + 1);
      }
      peakTotal = Math.max(peakTotal, r.rows.length);
      peakUnknown = Math.max(peakUnknown, unknown);
      for (const [p, n] of per) peakPer.set(p, Math.max(peakPer.get(p) ?? 0, n));
      const wait = INTERVAL_MS - (performance.now() - t);
      if (wait > 0) await new Promise((res) => setTimeout(res, wait));
    }
  })();
  return async () => {
    await new Promise((res) => setTimeout(res, 2 * INTERVAL_MS));
    stop = true;
    await loop;
    await c.end();
    return { peakTotal, peakPer: pids.map((p) => peakPer.get(p) ?? 0), peakUnknown, samples };
  };
}

/** One process's JSON output: role, events per step (own and joined), problems. */
function parseOutput(out) {
  const steps = new Map();
  const add = (step, k, n) => {
    const s = steps.get(step) ?? { ran: 0, joined: 0 };
    s[k] += n;
    steps.set(step, s);
  };
  let ranSteps = 0;
  let joins = 0;
  const warnings = [];
  const durations = [];
  for (const line of out.split('\n')) {
    if (!line.startsWith('{')) continue;
    let e;
    try {
      e = JSON.parse(line);
    } catch {
      continue;
    }
    if (e.type === 'step.started' && e.action === 'run') ranSteps++;
    if (e.type === 'step.done' && typeof e.durationMs === 'number' && String(e.step).startsWith('projections.')) durations.push(`${String(e.step).replace('projections.', '')} ${(e.durationMs / 1000).toFixed(1)} s`);
    if (e.type !== 'log') continue;
    let m;
    if ((m = /^(\d+) events over (\d+) instance\(s\)/.exec(e.message))) add(e.step, 'ran', Number(m[1]));
    else if ((m = /^joined: (\d+) events over (\d+) instance\(s\)/.exec(e.message))) add(e.step, 'joined', Number(m[1]));
    else if (/^joining the run of/.test(e.message)) joins++;
    if (e.level === 'warn' || e.level === 'error') warnings.push(`${e.step ?? ''}: ${e.message}`);
  }
  return { steps, ranSteps, joins, warnings, durations };
}

async function md5s(c) {
  const out = {};
  for (const t of [...ZITADEL_TABLES, SEEN]) {
    const r = await c.query(`SELECT count(*)::int AS n, md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) AS h FROM ${t} x`);
    out[t] = `${r.rows[0].n}:${r.rows[0].h}`;
  }
  return out;
}

/** One round: `procs` applies at once on a fresh copy of the template. */
async function round(name, procs, workers, expected) {
  const db = `zs_bench_pods_${id}_${++roundNo}`;
  await admin(`CREATE DATABASE ${db} TEMPLATE ${TPL}`);
  made.push(db);
  const env = { ...process.env, ZSETUP_DATABASE_URL: `${SERVER}/${db}` };
  if (LOCK_TIMEOUT) env.ZSETUP_LOCK_TIMEOUT = LOCK_TIMEOUT;
  if (workers !== undefined) env.ZS_BENCH_PREFILL_WORKERS = String(workers);
  else delete env.ZS_BENCH_PREFILL_WORKERS;
  const t0 = performance.now();
  children = Array.from({ length: procs }, () => spawn(process.execPath, [CLI, 'apply', '--json', '--config', CONFIG], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] }));
  const stopSampler = await startSampler(db, children.map((c) => c.pid));
  const results = await Promise.all(
    children.map(
      (c) =>
        new Promise((resolve) => {
          let out = '';
          c.stdout.on('data', (d) => (out += d));
          c.stderr.on('data', (d) => (out += d));
          c.on('close', (code, sig) => resolve({ code, sig, out, s: (performance.now() - t0) / 1000 }));
        }),
    ),
  );
  const wall = (performance.now() - t0) / 1000;
  const conns = await stopSampler();
  check(builtAt() === BUILT, `${name}: dist/ unchanged since the start (a rebuild during the run means this round ran other code than the expected counts were taken with)`);
  children = [];
  const parsed = results.map((r) => parseOutput(r.out));

  console.log(`${name}: wall ${wall.toFixed(2)} s`);
  results.forEach((r, i) => {
    const p = parsed[i];
    const role = p.ranSteps > 0 ? `holder (ran ${p.ranSteps} steps)` : `joiner (${p.joins} join(s))`;
    const per = [...p.steps].map(([s, v]) => `${s.replace('projections.', '')} ${v.ran ? `ran ${v.ran}` : ''}${v.joined ? `joined ${v.joined}` : ''}`).join(', ');
    console.log(`  process ${i + 1}: exit ${r.code ?? r.sig} at ${r.s.toFixed(2)} s, ${role}, peak ${conns.peakPer[i]} conns; events: ${per || 'none'}`);
    if (p.durations.length) console.log(`    step times: ${p.durations.join(', ')}`);
    for (const w of p.warnings) console.log(`    warning ${w}`);
    if (!check(r.code === 0, `${name}: process ${i + 1} exits 0 (got ${r.code ?? r.sig})`)) console.log(r.out.split('\n').slice(-15).join('\n'));
    if (procs > 1 && p.ranSteps === 0) check([...p.steps.values()].some((v) => v.joined > 0), `${name}: joiner ${i + 1} reduced some events`);
  });
  check(parsed.filter((p) => p.ranSteps > 0).length === 1, `${name}: exactly one process ran the steps`);

  // Exactly once: per step, the processes' events add up to the step's events.
  let reduced = 0;
  const perStep = {};
  const allExited0 = results.every((r) => r.code === 0);
  for (const [step, want] of Object.entries(expected.events)) {
    const got = parsed.reduce((n, p) => n + (p.steps.get(step)?.ran ?? 0) + (p.steps.get(step)?.joined ?? 0), 0);
    const joined = parsed.reduce((n, p) => n + (p.steps.get(step)?.joined ?? 0), 0);
    perStep[step] = { got, joined };
    reduced += got;
    // A process that ended early (a stop, a lost lock, a lock timeout) logs no count for the
    // step it was in: its share is then missing from the sum, never counted twice.
    if (allExited0) check(got === want, `${name}: ${step}: events reduced by all processes ${got} = its events up to the bound ${want}`);
    else if (!check(got <= want, `${name}: ${step}: events reduced by all processes ${got} <= its events up to the bound ${want} (a process ended early)`) || got < want)
      console.log(`  ${step}: ${got} of ${want} events logged (a process ended early; its events since its last summary are not counted)`);
  }
  const c = new pg.Client({ connectionString: `${SERVER}/${db}` });
  await c.connect();
  let md5;
  try {
    const [r] = (
      await c.query(
        `SELECT (SELECT count(*)::int FROM ${SEEN}) AS rows,
                (SELECT count(*)::int FROM (SELECT DISTINCT instance_id, aggregate_type, aggregate_id, sequence FROM ${SEEN}) d) AS keys,
                (SELECT count(*)::int FROM projections.failed_events2) AS failed,
                (SELECT count(*)::int FROM eventstore.events2 e
                  WHERE e.instance_id = ANY($1::text[]) AND e."position" <= $2::numeric AND (e.aggregate_type || ' ' || e.event_type) = ANY($3::text[])
                    AND NOT EXISTS (SELECT 1 FROM ${SEEN} s WHERE s.instance_id = e.instance_id AND s.aggregate_type = e.aggregate_type
                                      AND s.aggregate_id = e.aggregate_id AND s.sequence = e."sequence")) AS missing`,
        [expected.instances, expected.bound, expected.seenPairs],
      )
    ).rows;
    check(r.failed === 0, `${name}: projections.failed_events2 is empty (${r.failed} rows)`);
    check(r.rows === expected.seenRows && r.keys === r.rows && r.missing === 0, `${name}: seen_pods has one row per event (${r.rows} rows, ${r.keys} distinct keys, ${r.missing} missing; expected ${expected.seenRows})`);
    md5 = await md5s(c);
  } finally {
    await c.end();
  }
  if (!KEEP) {
    await drop(db);
    made.splice(made.indexOf(db), 1);
  }
  const limit = POOL_MAX + 1;
  for (let i = 0; i < procs; i++) check(conns.peakPer[i] <= limit, `${name}: process ${i + 1} peak ${conns.peakPer[i]} connections <= pool max + 1 (${limit})`);
  check(conns.peakUnknown === 0 || conns.peakTotal <= procs * limit, `${name}: total peak ${conns.peakTotal} <= ${procs} x ${limit} (${conns.peakUnknown} unattributed at most)`);
  const holderExit = results.find((_, i) => parsed[i].ranSteps > 0)?.s ?? NaN;
  return { name, procs, workers: workers ?? DEFAULT_WORKERS, wall, holderExit, reduced, perStep, conns, md5 };
}

const t00 = performance.now();
try {
  console.log(`prefill-pods: ${machine()}, PostgreSQL ${await serverVersion()}`);
  console.log(`code: ${revision()}`);
  console.log(`config ${CONFIG.slice(ROOT.length + 1)}; pool max ${POOL_MAX} (zsetup's default), prefill workers per process ${DEFAULT_WORKERS} (pool max / 4) unless forced`);
  if (LOCK_TIMEOUT) console.log(`applies run with ZSETUP_LOCK_TIMEOUT=${LOCK_TIMEOUT}`);
  console.log(`at start: ${load()}\n`);

  // The template: events, vacuumed and analyzed; the schema steps applied, the prefill steps not.
  await admin(`CREATE DATABASE ${TPL}`);
  made.push(TPL);
  let t = performance.now();
  const c = new pg.Client({ connectionString: `${SERVER}/${TPL}` });
  await c.connect();
  let expected;
  try {
    await c.query(events2Ddl());
    const gen = await generateEvents(c, { events: EVENTS, instances: INSTANCES, seed: SEED });
    await c.query('VACUUM (FREEZE, ANALYZE) eventstore.events2');
    console.log(`template ${TPL}: ${gen.events} events over ${INSTANCES} instances (seed ${SEED}) in ${((performance.now() - t) / 1000).toFixed(1)} s`);
    t = performance.now();
    const pre = await cliOnce(TPL, ['apply', '--no-init-projections']);
    if (pre.code !== 0) {
      console.log(pre.out);
      throw new Error(`apply --no-init-projections on the template exited ${pre.code}`);
    }
    console.log(`schema steps applied to the template (--no-init-projections) in ${((performance.now() - t) / 1000).toFixed(1)} s`);
    // What each step must reduce: ZITADEL's instance list and the step's filter, up to the bound
    // (the last position: the events do not change during a round).
    const bound = (await c.query(`SELECT coalesce(max("position"), 0)::text AS p FROM eventstore.events2`)).rows[0].p;
    const instances = (
      await c.query(
        `SELECT instance_id AS id FROM eventstore.events2 WHERE aggregate_type = 'instance' AND event_type = 'instance.added' AND "position" <= $1::numeric
         EXCEPT SELECT instance_id FROM eventstore.events2 WHERE aggregate_type = 'instance' AND event_type = 'instance.removed' AND "position" <= $1::numeric`,
        [bound],
      )
    ).rows.map((r) => r.id);
    const countOf = async (aggs, types) =>
      (
        await c.query(
          `SELECT count(*)::int AS n FROM eventstore.events2 WHERE instance_id = ANY($1::text[]) AND aggregate_type = ANY($2::text[]) AND event_type = ANY($3::text[]) AND "position" <= $4::numeric`,
          [instances, aggs, types, bound],
        )
      ).rows[0].n;
    const events = {};
    for (const p of [zitadel.instances, zitadel.orgs1, zitadel.users14]) {
      const f = filterOf(p);
      events[p.name] = await countOf(f.aggregateTypes, f.eventTypes);
    }
    const uf = filterOf(zitadel.users14);
    events[SEEN] = await countOf(uf.aggregateTypes, uf.eventTypes);
    const seenPairs = Object.entries(zitadel.users14.reducers).flatMap(([agg, byType]) => Object.keys(byType).map((type) => `${agg} ${type}`));
    const seenRows = (
      await c.query(
        `SELECT count(*)::int AS n FROM eventstore.events2 WHERE instance_id = ANY($1::text[]) AND "position" <= $2::numeric AND (aggregate_type || ' ' || event_type) = ANY($3::text[])`,
        [instances, bound, seenPairs],
      )
    ).rows[0].n;
    expected = { bound, instances, events, seenPairs, seenRows };
    console.log(`to reduce: ${Object.entries(events).map(([k, v]) => `${k} ${v}`).join(', ')} (${instances.length} instances); seen_pods rows ${seenRows}\n`);
  } finally {
    await c.end();
  }

  const variants = [
    ...PROCS.map((n) => ({ name: `${n} process${n > 1 ? 'es' : ''}`, procs: n })),
    { name: '1 process, 4 workers', procs: 1, workers: 4 },
    { name: `${Math.max(...PROCS)} processes, 4 workers`, procs: Math.max(...PROCS), workers: 4 },
  ];
  const results = [];
  for (let r = 1; r <= ROUNDS; r++) for (const v of variants) results.push({ ...(await round(`${v.name}${ROUNDS > 1 ? ` #${r}` : ''}`, v.procs, v.workers, expected)), variant: v.name });

  const base = results.filter((r) => r.variant === variants[0].name);
  const baseWall = base.reduce((a, r) => a + r.wall, 0) / base.length;
  const baseOf = (r) => results.filter((x) => x.variant === (r.workers === 4 ? variants[PROCS.length].name : variants[0].name));
  console.log(`\nprefill-pods: ${EVENTS} events, ${INSTANCES} instances, seed ${SEED}; ${ROUNDS} round(s); pool max ${POOL_MAX}\n`);
  console.log(
    table([
      ['variant', 'workers/process', 'wall', 'holder exit', 'events reduced', 'events/s', 'speed-up', 'joined by others', 'peak conns total', 'peak conns per process', 'limit per process'],
      ...results.map((r) => {
        const b = baseOf(r);
        const bw = b.reduce((a, x) => a + x.wall, 0) / b.length;
        const joined = Object.values(r.perStep).reduce((a, s) => a + s.joined, 0);
        return [r.name, r.workers, `${r.wall.toFixed(2)} s`, `${r.holderExit.toFixed(2)} s`, r.reduced, Math.round(r.reduced / r.wall), `${(bw / r.wall).toFixed(2)}x`, joined, r.conns.peakTotal, r.conns.peakPer.join(', '), POOL_MAX + 1];
      }),
    ]),
  );
  console.log(`\n(wall: spawn to the last exit; holder exit: when the process that ran the steps exited. speed-up: wall against 1 process with the same workers per process. Both include Node start-up, config load and the plan of the skipped schema steps; the joiners exit after the holder: they take the lock, find every step done, and exit)`);
  const ref = results[0].md5;
  const same = results.every((r) => JSON.stringify(r.md5) === JSON.stringify(ref));
  check(same, `identical projections in every round${same ? '' : `: ${results.map((r) => `${r.name} ${JSON.stringify(r.md5)}`).join('; ')}`}`);
  console.log(`projections (rows:md5): ${Object.entries(ref).map(([k, v]) => `${k.replace('projections.', '')} ${v.slice(0, v.indexOf(':') + 9)}`).join(', ')}`);
  console.log(`at end: ${load()}; ${((performance.now() - t00) / 1000).toFixed(0)} s in all\n`);
  const failed = checks.filter((x) => !x.ok);
  const sp = (name) => results.filter((r) => r.variant === name);
  for (const v of variants.slice(1, PROCS.length)) {
    const w = sp(v.name);
    const bw = baseWall / (w.reduce((a, x) => a + x.wall, 0) / w.length);
    console.log(`INFO  speed-up with ${v.name}: ${bw.toFixed(2)}x`);
  }
  const exact = !checks.some((x) => !x.ok && /events reduced|seen_pods|failed_events2|identical/.test(x.what));
  console.log(`${exact ? 'PASS' : 'FAIL'}  no unit's events applied twice (per step, events reduced by all processes = the step's events; seen_pods one row per event; failed_events2 empty; identical projections)`);
  const connOk = !checks.some((x) => !x.ok && /connections|total peak/.test(x.what));
  const w4 = results.filter((r) => r.workers === 4);
  console.log(`${connOk ? 'PASS' : 'FAIL'}  peak connections per process <= pool max + 1 (${POOL_MAX + 1}); with 4 workers: ${w4.map((r) => `${r.name} ${r.conns.peakPer.join('/')}`).join(', ')}`);
  const other = failed.filter((x) => !/events reduced|seen_pods|failed_events2|identical|connections|total peak/.test(x.what));
  console.log(`${other.length === 0 ? 'PASS' : 'FAIL'}  every process exits 0, one holder, every joiner did some work${other.length ? `: ${other.map((x) => x.what).join('; ')}` : ''}`);
  process.exitCode = failed.length === 0 ? 0 : 1;
} catch (err) {
  console.error(err);
  process.exitCode = 2;
} finally {
  for (const c of children) c.kill('SIGKILL');
  if (!KEEP) for (const db of [...made]) await drop(db);
  else console.log(`(--keep: left ${made.join(', ')})`);
}
