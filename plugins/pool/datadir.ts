/**
 * Data-dir lock for the embedded PGlite: PGlite serves one process and nothing in it
 * stops a second process from opening the same data dir (measured: no error, and the
 * files are then corrupted). A lock file beside the data dir, created with O_EXCL, holds
 * the owner; a holder that died (same host, pid gone or reused) is stale and taken over.
 * Every command that opens the data dir (plan and status too) holds this lock.
 */
import { hostname } from 'node:os';
import { mkdir, open, readFile, unlink, stat } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { LockTimeoutError, describeHolder, pollDelay, sleep, WAIT_REPORT_MS } from '../../src/plugin.js';
import type { AcquireOptions, Lock, LockHandle, LockHolder } from '../../src/plugin.js';

interface LockFile {
  owner: string;
  host: string;
  pid: number;
  /** Process start time (Linux /proc), so a reused pid is not taken for the holder. */
  start?: string | undefined;
  since: string;
}

export class DataDirLock implements Lock {
  readonly description = 'data-dir lock';
  readonly path: string;

  constructor(readonly dataDir: string) {
    this.path = `${dataDir.replace(/\/+$/, '')}.lock`;
  }

  async acquire(o: AcquireOptions): Promise<LockHandle> {
    await mkdir(dirname(this.path), { recursive: true });
    const started = Date.now();
    let lastReport = 0;
    const me: LockFile = { owner: o.owner, host: hostname(), pid: process.pid, start: procStart(process.pid), since: new Date().toISOString() };
    for (let attempt = 0; ; attempt++) {
      if (await this.tryCreate(me)) return this.handle(me);
      const current = await this.read();
      if (current && isStale(current)) {
        await this.breakStale(current);
        continue;
      }
      const waited = Date.now() - started;
      const holder = current ? toHolder(current) : undefined;
      if (waited >= o.timeoutMs || o.signal?.aborted) {
        throw new LockTimeoutError(
          `could not acquire the ${this.description} on ${this.dataDir} within ${Math.round(o.timeoutMs / 1000)} s: held by ${describeHolder(holder)}${current ? ` (pid ${current.pid} on ${current.host})` : ''}`,
          { hint: `another zsetup process uses this PGlite data dir; wait for it, or raise --lock-timeout. If no such process exists, delete ${this.path}` },
        );
      }
      if (o.onWait && Date.now() - lastReport >= WAIT_REPORT_MS) {
        lastReport = Date.now();
        o.onWait(holder, waited);
      }
      await sleep(Math.min(pollDelay(attempt), Math.max(0, o.timeoutMs - waited)), o.signal);
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
      if (again && again.owner === stale.owner && again.pid === stale.pid && again.since === stale.since) {
        await unlink(this.path).catch(() => undefined);
      }
    } finally {
      await fh.close();
      await unlink(breaker).catch(() => undefined);
    }
  }

  private handle(me: LockFile): LockHandle {
    const ac = new AbortController();
    let released = false;
    return {
      owner: me.owner,
      lost: ac.signal,
      release: async () => {
        if (released) return;
        released = true;
        const cur = await this.read().catch(() => undefined);
        if (cur && cur.owner === me.owner && cur.pid === me.pid) await unlink(this.path).catch(() => undefined);
      },
    };
  }
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
