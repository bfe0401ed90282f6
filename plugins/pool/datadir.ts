/**
 * Data-dir lock for the embedded PGlite: PGlite serves one process and nothing in it
 * stops a second process from opening the same data dir (measured: no error, and the
 * files are then corrupted). A lock file beside the data dir, created with O_EXCL, holds
 * the owner; a holder that died (same host, pid gone or reused) is stale and taken over.
 * Every command that opens the data dir (plan and status too) holds this lock, and the
 * run lock of `apply` on PGlite is this lock too (`lock.kind: "datadir"`, the default
 * there): the run, whose owner already holds the lock file since its pool opened the data
 * dir, joins that hold, and its handle watches the file and fences the run's writes.
 */
import { hostname } from 'node:os';
import { randomInt } from 'node:crypto';
import { mkdir, open, readFile, unlink, stat } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { describeHolder, holdLock, pollAcquire, sleep } from '../../src/plugin.js';
import type { AcquireOptions, Database, Lock, LockHandle, LockHolder } from '../../src/plugin.js';

interface LockFile {
  owner: string;
  host: string;
  pid: number;
  /** Process start time (Linux /proc), so a reused pid is not taken for the holder. */
  start?: string | undefined;
  since: string;
}

export interface DataDirLockOptions {
  /**
   * The database the handle's fence is evaluated in: the PGlite open on this data dir
   * (one session). The handle holds a session advisory lock in it, which it drops when it
   * finds the lock file no longer its own; the fence checks that it still holds it. Session
   * advisory locks outlive a rollback and `RESET ALL`, unlike a setting. Without it, the
   * handle has no fence (the pool's own hold while it opens the data dir).
   */
  readonly db?: Pick<Database, 'withSession'> | undefined;
}

/** classid of the data-dir lock's fence in PGlite: "zsdd". */
const FENCE_CLASS_ID = 0x7a736464;
/** How often a held lock file is read to see that it is still ours. */
const CHECK_MS = 1000;

export class DataDirLock implements Lock {
  readonly description = 'data-dir lock';
  readonly path: string;

  constructor(readonly dataDir: string, private readonly options: DataDirLockOptions = {}) {
    this.path = `${dataDir.replace(/\/+$/, '')}.lock`;
  }

  async acquire(o: AcquireOptions): Promise<LockHandle> {
    await mkdir(dirname(this.path), { recursive: true });
    const me: LockFile = { owner: o.owner, host: hostname(), pid: process.pid, start: procStart(process.pid), since: new Date().toISOString() };
    let seen: LockFile | undefined;
    const got = await pollAcquire(o, {
      what: `${this.description} on ${this.dataDir}`,
      attempt: async () => {
        // A stale file is broken and the create tried again at once; a few times at most,
        // then the wait (and its timeout) goes on.
        for (let breaks = 0; ; breaks++) {
          if (await this.tryCreate(me)) return { file: me, created: true };
          const current = await this.read();
          // This owner holds it already (its pool opened the data dir): join that hold.
          if (current && current.owner === o.owner && current.pid === process.pid && current.host === me.host) return { file: current, created: false };
          if (current && isStale(current) && breaks < 3) {
            await this.breakStale(current);
            continue;
          }
          seen = current;
          return undefined;
        }
      },
      holder: async () => (seen ? toHolder(seen) : this.holder()),
      describe: (h) => `${describeHolder(h)}${seen ? ` (pid ${seen.pid} on ${seen.host})` : ''}`,
      hint: `another zsetup process uses this PGlite data dir; wait for it, or raise --lock-timeout. If no such process exists, delete ${this.path}`,
    });
    try {
      return await this.handle(got.file, got.created);
    } catch (err) {
      if (got.created) await this.removeIfOurs(got.file);
      throw err;
    }
  }

  async holder(): Promise<LockHolder | undefined> {
    const cur = await this.read();
    return cur && !isStale(cur) ? toHolder(cur) : undefined;
  }

  private async tryCreate(me: LockFile): Promise<boolean> {
    try {
      const fh = await open(this.path, 'wx');
      try {
        await fh.writeFile(JSON.stringify(me));
        await fh.sync();
      } finally {
        await fh.close();
      }
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw err;
    }
  }

  private async read(): Promise<LockFile | undefined> {
    try {
      const text = await readFile(this.path, 'utf8');
      if (text === '') {
        // Being written right now, or its writer died between create and write.
        const st = await stat(this.path);
        return Date.now() - st.mtimeMs > 5000 ? { owner: 'unknown', host: hostname(), pid: 0, since: st.mtime.toISOString() } : undefined;
      }
      return JSON.parse(text) as LockFile;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      if (err instanceof SyntaxError) return { owner: 'unknown', host: hostname(), pid: 0, since: new Date(0).toISOString() };
      throw err;
    }
  }

  /**
   * Remove a stale lock file, but only the one we judged stale: a second lock file,
   * `.break`, serialises breakers, and the content is read again under it.
   */
  private async breakStale(stale: LockFile): Promise<void> {
    const breaker = `${this.path}.break`;
    let fh;
    try {
      fh = await open(breaker, 'wx');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const st = await stat(breaker).catch(() => undefined);
      if (st && Date.now() - st.mtimeMs > 10_000) await unlink(breaker).catch(() => undefined);
      await sleep(20 + Math.random() * 50);
      return;
    }
    try {
      const again = await this.read();
      if (again && sameHold(again, stale)) await unlink(this.path).catch(() => undefined);
    } finally {
      await fh.close();
      await unlink(breaker).catch(() => undefined);
    }
  }

  private async removeIfOurs(mine: LockFile): Promise<void> {
    const cur = await this.read().catch(() => undefined);
    if (cur && sameHold(cur, mine)) await unlink(this.path).catch(() => undefined);
  }

  /**
   * The handle of a hold on `file`: lost once the lock file is gone or names another
   * holder (checked every second), fenced in `options.db` when there is one. `created`:
   * this handle made the file and removes it on release (a joined hold leaves it to the
   * hold it joined).
   */
  private async handle(file: LockFile, created: boolean): Promise<LockHandle> {
    const db = this.options.db;
    let disarm = async () => {};
    let fence: string | undefined;
    if (db) {
      // The fence: a session advisory lock, unique to this handle, in PGlite's one session.
      const key = randomInt(1, 2 ** 31 - 1);
      await db.withSession((s) => s.query('SELECT pg_advisory_lock($1, $2)', [FENCE_CLASS_ID, key]));
      fence = `EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND classid = ${FENCE_CLASS_ID}::bigint::oid AND objid = ${key}::bigint::oid AND objsubid = 2 AND pid = pg_backend_pid())`;
      let armed = true;
      disarm = async () => {
        if (!armed) return;
        armed = false;
        await db.withSession((s) => s.query('SELECT pg_advisory_unlock($1, $2)', [FENCE_CLASS_ID, key])).catch(() => undefined);
      };
    }
    return holdLock({
      owner: file.owner,
      fence,
      everyMs: CHECK_MS,
      check: async () => {
        let cur: LockFile | undefined;
        try {
          cur = await this.read();
        } catch {
          return undefined; // cannot tell now (a passing file-system error): look again next time
        }
        if (cur && sameHold(cur, file)) return undefined;
        // Queued before anything the run writes after it hears of the loss (PGlite's
        // sessions take turns), so the fence fails from then on.
        void disarm();
        return cur
          ? `the data-dir lock on ${this.dataDir} was taken away: its lock file now names ${cur.owner} (pid ${cur.pid} on ${cur.host})`
          : `the data-dir lock on ${this.dataDir} was taken away: its lock file ${this.path} was removed`;
      },
      release: async (lost) => {
        if (!lost) await disarm();
        if (created) await this.removeIfOurs(file);
      },
    });
  }
}

/** The same hold: owner, process and time it was taken. */
function sameHold(a: LockFile, b: LockFile): boolean {
  return a.owner === b.owner && a.pid === b.pid && a.since === b.since;
}

function toHolder(f: LockFile): LockHolder {
  return { owner: f.owner, since: new Date(f.since) };
}

function isStale(f: LockFile): boolean {
  if (f.pid === 0) return true;
  if (f.host !== hostname()) return false; // another machine: cannot tell, wait for it
  if (!alive(f.pid)) return true;
  const st = procStat(f.pid);
  // A killed process whose parent has not reaped it yet (a zombie: state Z, or X while
  // being reaped) answers kill(pid, 0) but holds no files once its last thread is gone.
  if (st && (st.state === 'Z' || st.state === 'X') && threads(f.pid) <= 1) return true;
  return f.start !== undefined && st !== undefined && st.start !== f.start;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** From /proc/<pid>/stat: field 3, the state, and field 22, the start time in clock ticks since boot. */
function procStat(pid: number): { state: string; start: string | undefined } | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return { state: fields[0] ?? '', start: fields[19] };
  } catch {
    return undefined;
  }
}

/** `Threads:` of /proc/<pid>/status (a zombie leader can outlive its other threads for a moment). */
function threads(pid: number): number {
  try {
    return Number(/^Threads:\s*(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

function procStart(pid: number): string | undefined {
  return procStat(pid)?.start;
}
