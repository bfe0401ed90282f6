/**
 * The Lock contract against every lock kind zsetup ships: the advisory lock and the lease
 * on PostgreSQL (each instance on its own pool, like separate processes), and the data-dir
 * lock PGlite uses (fenced in a PGlite session). Each fixture says how its lock is taken
 * away (`takeAway`: its connection terminated, its lease expired and taken over, its lock
 * file replaced), so the kit proves `lost` and the fence on each. Then what is particular
 * to each: a terminated lock connection, an expired lease taken over, lock files of dead
 * and live processes, the run lock joining its own pool's hold on PGlite.
 */
import { randomBytes } from 'node:crypto';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { AdvisoryLock, DataDirLock, LeaseLock, LockTimeoutError, quoteIdent, type Database, type Lock, type LockHandle } from 'zsetup';
import { lockContract, rejects, type LockFixture } from 'zsetup/testing';
import { createDb, pgliteDataDir, scratch, type TestDb } from '../helpers.js';
import { openDatabase } from './open.js';

const rand = () => randomBytes(4).toString('hex');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Every instance on its own Database (its own pool), as another process would have it;
 * a lock name (and schema) no other test uses.
 */
function pgFixture(
  url: () => string,
  make: (db: Database, name: string, schema: string) => Lock,
  takeAway: (h: LockHandle, o: { name: string; schema: string; second: () => Promise<Lock>; thieves: LockHandle[] }) => Promise<void>,
) {
  return async (): Promise<LockFixture> => {
    const name = `contract-${rand()}`;
    const schema = `contract "lease" ${rand()}`;
    const dbs: Database[] = [];
    const thieves: LockHandle[] = [];
    const open = async () => {
      const db = await openDatabase({ url: url() });
      dbs.push(db);
      return make(db, name, schema);
    };
    const lock = await open();
    return {
      lock,
      second: open,
      db: dbs[0],
      takeAway: (h) => takeAway(h, { name, schema, second: open, thieves }),
      cleanup: async () => {
        for (const t of thieves) await t.release();
        await dbs[0]?.withSession((s) => s.exec(`DROP SCHEMA IF EXISTS ${quoteIdent(schema)} CASCADE`));
        await Promise.all(dbs.map((d) => d.close()));
      },
    };
  };
}

/** Resolve once `signal` aborts, or fail after `ms`. */
async function aborted(signal: AbortSignal, ms: number, what: string): Promise<number> {
  const t0 = Date.now();
  while (!signal.aborted) {
    if (Date.now() - t0 > ms) throw new Error(`${what}: handle.lost did not abort within ${ms} ms`);
    await sleep(20);
  }
  return Date.now() - t0;
}

// ---------------------------------------------------------------- advisory lock
let advDb: TestDb | undefined;
const advisory = lockContract(
  'AdvisoryLock on PostgreSQL',
  pgFixture(
    () => advDb!.url,
    (db, name) => new AdvisoryLock(db, name),
    // Its lock connection terminated (named zsetup@<since> <owner>).
    async (h) => {
      const rows = await advDb!.query(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND application_name LIKE 'zsetup@%' AND application_name LIKE '%' || $1`,
        [h.owner],
      );
      assert.is(rows.length, 1, `one lock connection of ${h.owner} to terminate`);
    },
  ),
);
advisory.before(async () => {
  advDb = await createDb();
});

advisory('a terminated lock connection aborts handle.lost, and another instance acquires', async () => {
  const name = `contract-${rand()}`;
  const [dbA, dbB] = [await openDatabase({ url: advDb!.url }), await openDatabase({ url: advDb!.url })];
  const handles: LockHandle[] = [];
  try {
    const a = new AdvisoryLock(dbA, name);
    const b = new AdvisoryLock(dbB, name);
    const ownerA = `contract:A:${rand()}`;
    const h = await a.acquire({ owner: ownerA, timeoutMs: 5000 });
    handles.push(h);
    const rows = await advDb!.query<{ pid: number }>(
      `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name LIKE 'zsetup@%' AND application_name LIKE '%' || $1`,
      [ownerA],
    );
    assert.is(rows.length, 1, 'the lock connection is named zsetup@<since> <owner>');
    assert.not.ok(h.lost.aborted);
    await advDb!.query('SELECT pg_terminate_backend($1)', [rows[0]!.pid]);
    await aborted(h.lost, 5000, 'after pg_terminate_backend');
    assert.match(String((h.lost.reason as Error)?.message ?? h.lost.reason), /connection/);
    const ownerB = `contract:B:${rand()}`;
    const hb = await b.acquire({ owner: ownerB, timeoutMs: 3000 });
    handles.push(hb);
    assert.is((await b.holder())?.owner, ownerB);
    const t0 = Date.now();
    await h.release(); // on a dead connection: must return, and not touch B's lock
    assert.ok(Date.now() - t0 < 6000, `release() of a lost handle took ${Date.now() - t0} ms`);
    assert.is((await a.holder())?.owner, ownerB);
  } finally {
    for (const x of handles) await x.release();
    await dbA.close();
    await dbB.close();
  }
});
advisory.after(async () => {
  await advDb?.drop();
});

// ---------------------------------------------------------------- lease lock
let leaseDb: TestDb | undefined;
const LEASE_SCHEMA = 'contract "lease"';
const lease = lockContract(
  'LeaseLock on PostgreSQL (ttl 1 s, a fresh schema per test)',
  pgFixture(
    () => leaseDb!.url,
    (db, name, schema) => new LeaseLock(db, name, 1000, schema),
    // Its lease expired (as if its holder had been paused) and taken over by another instance.
    async (_h, { name, schema, second, thieves }) => {
      const thief = await second();
      for (let i = 0; ; i++) {
        await leaseDb!.query(`UPDATE ${quoteIdent(schema)}.lease SET expires_at = clock_timestamp() - interval '1 second' WHERE name = $1`, [name]);
        // The holder's heartbeat may renew it between the two statements: expire it again.
        const got = await thief.acquire({ owner: `contract:thief:${rand()}`, timeoutMs: 0 }).catch((err) => {
          if (i >= 20) throw err;
          return undefined;
        });
        if (got) return void thieves.push(got);
      }
    },
  ),
);
lease.before(async () => {
  leaseDb = await createDb();
});

/** A Database whose sessions can be held back, like a process stopped with SIGSTOP. */
function pausable(db: Database): { db: Database; pause(): void; resume(): void } {
  let gate: Promise<void> | undefined;
  let open: (() => void) | undefined;
  const proxy = new Proxy(db, {
    get(target, prop) {
      if (prop === 'withSession') {
        return async (fn: never, via?: never) => {
          while (gate) await gate;
          return target.withSession(fn, via);
        };
      }
      const v = Reflect.get(target, prop, target);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
  return {
    db: proxy,
    pause() {
      gate ??= new Promise((r) => (open = r));
    },
    resume() {
      gate = undefined;
      open?.();
    },
  };
}

const tokenOf = (h: LockHandle) => (h as LockHandle & { token: number }).token;

lease('an expired lease (its holder stopped: pool closed) is taken over with a larger token', async () => {
  const name = `contract-${rand()}`;
  const dbA = await openDatabase({ url: leaseDb!.url });
  const dbB = await openDatabase({ url: leaseDb!.url });
  const handles: LockHandle[] = [];
  try {
    const a = new LeaseLock(dbA, name, 300, LEASE_SCHEMA);
    const b = new LeaseLock(dbB, name, 300, LEASE_SCHEMA);
    const h = await a.acquire({ owner: `contract:A:${rand()}`, timeoutMs: 2000 });
    handles.push(h);
    assert.type(tokenOf(h), 'number');
    const ownerB = `contract:B:${rand()}`;
    await rejects(b.acquire({ owner: ownerB, timeoutMs: 0 }), /held by contract:A/);
    await dbA.close(); // the heartbeat can no longer renew
    await sleep(500);
    assert.is(await b.holder(), undefined, 'an expired lease has no holder');
    const hb = await b.acquire({ owner: ownerB, timeoutMs: 2000 });
    handles.push(hb);
    assert.ok(tokenOf(hb) > tokenOf(h), `the new token ${tokenOf(hb)} is larger than ${tokenOf(h)}`);
    assert.is((await b.holder())?.owner, ownerB);
    await aborted(h.lost, 2000, 'holder whose heartbeat fails past the expiry');
    assert.match(String((h.lost.reason as Error).message), /expired|taken over/);
    const fence = (t: number) => dbB.withSession((s) => s.query<{ ok: boolean }>(`SELECT ${b.fenceCondition(t)} AS ok`));
    assert.is((await fence(tokenOf(h)))[0]?.ok, false, 'the old token is fenced off');
    assert.is((await fence(tokenOf(hb)))[0]?.ok, true, 'the new token passes the fence');
  } finally {
    for (const x of handles) await x.release();
    await dbA.close();
    await dbB.close();
  }
});

lease('a paused holder that comes back finds its lease taken over: handle.lost aborts', async () => {
  const name = `contract-${rand()}`;
  const realA = await openDatabase({ url: leaseDb!.url });
  const dbB = await openDatabase({ url: leaseDb!.url });
  const pa = pausable(realA);
  const handles: LockHandle[] = [];
  try {
    const a = new LeaseLock(pa.db, name, 300, LEASE_SCHEMA);
    const b = new LeaseLock(dbB, name, 300, LEASE_SCHEMA);
    const h = await a.acquire({ owner: `contract:A:${rand()}`, timeoutMs: 2000 });
    handles.push(h);
    pa.pause();
    await sleep(600);
    const ownerB = `contract:B:${rand()}`;
    const hb = await b.acquire({ owner: ownerB, timeoutMs: 2000 });
    handles.push(hb);
    assert.ok(tokenOf(hb) > tokenOf(h));
    assert.not.ok(h.lost.aborted, 'a paused process cannot know yet');
    pa.resume();
    await aborted(h.lost, 2000, 'holder resumed after a takeover');
    assert.match(String((h.lost.reason as Error).message), /taken over/);
    await h.release(); // must not free B's lease
    assert.is((await b.holder())?.owner, ownerB, "the old holder's release() left the new lease alone");
    await rejects(new LeaseLock(realA, name, 300, LEASE_SCHEMA).acquire({ owner: `contract:C:${rand()}`, timeoutMs: 0 }), /held by/);
  } finally {
    pa.resume();
    for (const x of handles) await x.release();
    await realA.close();
    await dbB.close();
  }
});

lease('a live holder keeps its lease past the ttl (the heartbeat renews it)', async () => {
  const name = `contract-${rand()}`;
  const dbA = await openDatabase({ url: leaseDb!.url });
  const dbB = await openDatabase({ url: leaseDb!.url });
  try {
    // A 2 s ttl, renewed by the heartbeat: a test process starved of CPU for a moment on a
    // busy machine must not look like a dead holder (with 300 ms it could).
    const a = new LeaseLock(dbA, name, 2000, LEASE_SCHEMA);
    const b = new LeaseLock(dbB, name, 2000, LEASE_SCHEMA);
    const ownerA = `contract:A:${rand()}`;
    const h = await a.acquire({ owner: ownerA, timeoutMs: 2000 });
    try {
      await sleep(2600); // past the ttl
      const err = await rejects(b.acquire({ owner: `contract:B:${rand()}`, timeoutMs: 0 }));
      assert.instance(err, LockTimeoutError);
      assert.ok(err.message.includes(ownerA), err.message);
      assert.not.ok(h.lost.aborted);
    } finally {
      await h.release();
    }
  } finally {
    await dbA.close();
    await dbB.close();
  }
});
lease.after(async () => {
  await leaseDb?.drop();
});

// ---------------------------------------------------------------- data-dir lock
let dirs: Array<ReturnType<typeof scratch>> = [];
/** The PGlite the handles' fences live in, as the run's own PGlite holds them (opened once). */
let fenceDb: Database | undefined;
const datadir = lockContract('DataDirLock (lock.kind "datadir"), fenced in PGlite', async () => {
  const d = scratch();
  dirs.push(d);
  const dataDir = join(d.dir, 'pgdata');
  const make = async () => new DataDirLock(dataDir, { db: fenceDb! });
  const lock = await make();
  return {
    lock,
    second: make,
    db: fenceDb,
    // Its lock file replaced: another owner (this live process, so not stale) holds it now.
    takeAway: async () => {
      writeFileSync(lock.path, JSON.stringify({ owner: `contract:thief:${rand()}`, host: hostname(), pid: process.pid, start: procStart(process.pid), since: new Date().toISOString() }));
    },
    cleanup: async () => d.remove(),
  };
});
datadir.before(async () => {
  const d = scratch();
  dirs.push(d);
  await pgliteDataDir(join(d.dir, 'fence'));
  fenceDb = await openDatabase({ pglite: { dataDir: join(d.dir, 'fence') } });
});

/** Field 22 of /proc/<pid>/stat, as the lock file records it. */
function procStart(pid: number): string | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return s.slice(s.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

function lockFileFor(): { lock: DataDirLock; write(content: object): void; read(): { owner: string; pid: number } } {
  const d = scratch();
  dirs.push(d);
  const lock = new DataDirLock(join(d.dir, 'pgdata'));
  mkdirSync(d.dir, { recursive: true });
  return {
    lock,
    write: (content) => writeFileSync(lock.path, JSON.stringify(content)),
    read: () => JSON.parse(readFileSync(lock.path, 'utf8')),
  };
}

datadir('a lock file left by a dead process is taken over', async () => {
  const f = lockFileFor();
  const dead = spawnSync(process.execPath, ['-e', '0']);
  assert.type(dead.pid, 'number');
  f.write({ owner: 'contract:dead:1', host: hostname(), pid: dead.pid, since: new Date(Date.now() - 60_000).toISOString() });
  assert.is(await f.lock.holder(), undefined, 'a dead holder holds nothing');
  const t0 = Date.now();
  const h = await f.lock.acquire({ owner: 'contract:new:1', timeoutMs: 10_000 });
  try {
    // At once, not after polling until the holder's file looks stale by age.
    assert.ok(Date.now() - t0 < 3000, `takeover took ${Date.now() - t0} ms`);
    assert.is((await f.lock.holder())?.owner, 'contract:new:1');
    assert.is(f.read().pid, process.pid);
  } finally {
    await h.release();
  }
});

datadir('a lock file of a live process makes acquire time out naming it; taken over once it dies', async () => {
  const f = lockFileFor();
  const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
  const exited = new Promise((r) => child.once('exit', r));
  try {
    const pid = child.pid!;
    await sleep(100); // let it exist in /proc
    f.write({ owner: 'contract:alive:1', host: hostname(), pid, start: procStart(pid), since: new Date().toISOString() });
    assert.is((await f.lock.holder())?.owner, 'contract:alive:1');
    const t0 = Date.now();
    const err = await rejects(f.lock.acquire({ owner: 'contract:me:1', timeoutMs: 700 }));
    const elapsed = Date.now() - t0;
    assert.instance(err, LockTimeoutError);
    assert.ok(err.message.includes('contract:alive:1'), err.message);
    assert.ok(err.message.includes(`pid ${pid}`), err.message);
    assert.ok(elapsed >= 700 && elapsed <= 700 + 4000, `gave up after ${elapsed} ms`);
    assert.is(f.read().owner, 'contract:alive:1', 'the live holder\'s file is untouched');

    child.kill('SIGKILL');
    await exited;
    const h = await f.lock.acquire({ owner: 'contract:me:1', timeoutMs: 2000 });
    assert.is((await f.lock.holder())?.owner, 'contract:me:1');
    await h.release();
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
});

datadir('a reused pid (same pid, another process start time) is stale', async () => {
  const f = lockFileFor();
  const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
  try {
    await sleep(100);
    f.write({ owner: 'contract:old:1', host: hostname(), pid: child.pid, start: '1', since: new Date().toISOString() });
    const h = await f.lock.acquire({ owner: 'contract:me:2', timeoutMs: 2000 });
    assert.is((await f.lock.holder())?.owner, 'contract:me:2');
    await h.release();
  } finally {
    child.kill('SIGKILL');
  }
});

datadir('a lock file of a killed process nobody reaped yet (a zombie) is taken over at once', async () => {
  const f = lockFileFor();
  // sh starts the holder and execs sleep, which never waits for children: once killed, the
  // holder stays a zombie (it still answers kill(pid, 0)) until the sleep ends.
  const parent = spawn('sh', ['-c', `"${process.execPath}" -e "setInterval(() => {}, 1000)" & echo $!; exec sleep 60`], { stdio: ['ignore', 'pipe', 'ignore'] });
  try {
    const pid = await new Promise<number>((resolve, reject) => {
      let out = '';
      parent.stdout!.on('data', (d) => {
        out += d;
        if (out.includes('\n')) resolve(Number(out.trim()));
      });
      parent.once('exit', () => reject(new Error(`sh ended first: ${out}`)));
    });
    // Gone (reaped after all: its sh died under a loaded machine): a dead holder, taken over just the same.
    const stat = () => {
      try {
        return readFileSync(`/proc/${pid}/stat`, 'utf8');
      } catch {
        return 'gone) Z ';
      }
    };
    f.write({ owner: 'contract:zombie:1', host: hostname(), pid, start: procStart(pid), since: new Date().toISOString() });
    assert.is((await f.lock.holder())?.owner, 'contract:zombie:1', 'alive, it holds the lock');
    process.kill(pid, 'SIGKILL');
    for (const t0 = Date.now(); !/\) Z /.test(stat()); await sleep(20)) assert.ok(Date.now() - t0 < 30_000, `pid ${pid} never became a zombie: ${stat()}`);
    const t0 = Date.now();
    const h = await f.lock.acquire({ owner: 'contract:me:4', timeoutMs: 10_000 });
    try {
      // At once, not after waiting for it: a zombie holds nothing.
      assert.ok(Date.now() - t0 < 3000, `takeover took ${Date.now() - t0} ms`);
      assert.is((await f.lock.holder())?.owner, 'contract:me:4');
      assert.match(stat(), /\) Z /, 'the holder was still a zombie when its lock was taken');
    } finally {
      await h.release();
    }
  } finally {
    parent.kill('SIGKILL');
  }
});

datadir('a lock file from another host is never taken over', async () => {
  const f = lockFileFor();
  f.write({ owner: 'contract:far:1', host: `not-${hostname()}`, pid: 1, since: new Date().toISOString() });
  const err = await rejects(f.lock.acquire({ owner: 'contract:me:3', timeoutMs: 300 }));
  assert.instance(err, LockTimeoutError);
  assert.match(err.message, /contract:far:1/);
  assert.is(f.read().owner, 'contract:far:1');
});
datadir('the run lock joins the hold its own owner has (its pool opened the data dir); another owner waits', async () => {
  const f = lockFileFor();
  const pool = await f.lock.acquire({ owner: 'contract:run:1', timeoutMs: 1000 });
  const run = new DataDirLock(f.lock.dataDir, { db: fenceDb! });
  const t0 = Date.now();
  const h = await run.acquire({ owner: 'contract:run:1', timeoutMs: 0 });
  try {
    assert.ok(Date.now() - t0 < 2000, `joining took ${Date.now() - t0} ms`);
    assert.type(h.fence, 'string');
    await rejects(new DataDirLock(f.lock.dataDir).acquire({ owner: 'contract:other:1', timeoutMs: 0 }), /held by contract:run:1/);
    const [ok] = await fenceDb!.withSession((s) => s.query<{ ok: boolean }>(`SELECT ${h.fence} AS ok`));
    assert.is(ok?.ok, true, 'the fence holds while the run lock is held');
    await h.release();
    assert.is((await run.holder())?.owner, 'contract:run:1', "releasing the joined hold leaves the pool's");
    const [after] = await fenceDb!.withSession((s) => s.query<{ ok: boolean }>(`SELECT ${h.fence} AS ok`));
    assert.is(after?.ok, false, 'a released handle no longer passes its fence');
  } finally {
    await h.release();
    await pool.release();
  }
  assert.is(await run.holder(), undefined);
});
datadir.after(async () => {
  await fenceDb?.close();
  for (const d of dirs) d.remove();
  dirs = [];
});

advisory.run();
lease.run();
datadir.run();
