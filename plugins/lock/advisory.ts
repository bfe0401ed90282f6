/**
 * Session advisory lock on a dedicated connection outside the pool ("locking and
 * unlocking need to use the same connection", golang-migrate). Acquired by polling
 * `pg_try_advisory_lock` outside any transaction: a waiter blocked inside a transaction
 * would deadlock `CREATE INDEX CONCURRENTLY`, which waits for every older transaction.
 *
 * Does not hold behind a transaction-mode pooler (PgBouncer): use the lease lock there.
 */
import { holdLock, isConnectionFault, pollAcquire, withTimeout } from '../../src/plugin.js';
import type { AcquireOptions, Database, DedicatedSession, Lock, LockHandle, LockHolder } from '../../src/plugin.js';

/** classid of our two-key advisory locks: "zset". */
const CLASS_ID = 0x7a736574;
/** classid of the per-run fencing lock: "zsru". */
const RUN_CLASS_ID = 0x7a737275;

export class AdvisoryLock implements Lock {
  readonly description = 'advisory lock';
  readonly objId: number;

  constructor(private readonly db: Database, readonly name: string) {
    this.objId = hash32(name);
  }

  async acquire(o: AcquireOptions): Promise<LockHandle> {
    if (!this.db.dedicated) throw new Error(`the advisory lock needs a PostgreSQL server (${this.db.target} has no dedicated connections)`);
    const dedicated = this.db.dedicated.bind(this.db);
    const started = Date.now();
    let conn = await dedicated(appName(o.owner, new Date()));
    try {
      await pollAcquire(o, {
        what: `${this.description} "${this.name}"`,
        attempt: async () => {
          try {
            const [row] = await conn.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1, $2) AS ok', [CLASS_ID, this.objId]);
            if (!row?.ok) return undefined;
            // Name the holder with the time we got it (application_name shows in pg_stat_activity).
            await conn.exec(`SET application_name = '${appName(o.owner, new Date()).replace(/'/g, "''")}'`);
            return true;
          } catch (err) {
            // The connection died while we waited (terminated, network cut); a lock taken on it
            // died with it. Reconnect and keep waiting, within the timeout (past it, or once the
            // run is stopping, end as a timeout or a stop does, not as an error).
            if (!isConnectionFault(err)) throw err;
            if (Date.now() - started < o.timeoutMs && !o.signal?.aborted) {
              await withTimeout(conn.close().catch(() => undefined), 2000);
              conn = await dedicated(appName(o.owner, new Date()));
            }
            return undefined;
          }
        },
        holder: () => this.holder(conn),
      });
    } catch (err) {
      await withTimeout(conn.close().catch(() => undefined), 2000);
      throw err;
    }
    // The fence: a second session lock, unique to this run, taken on the same connection.
    // It lives exactly as long as the run lock (both end with the connection), and testing
    // it is one lock-table probe: another session's try of it fails while we hold it. (A
    // pg_locks scan matching our backend pid says the same, at several times the cost per
    // step; it remains the fallback if the run key is taken.)
    const runKey = hash32(`run:${o.owner}`);
    const [mine] = await conn.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1, $2) AS ok', [RUN_CLASS_ID, runKey]).catch(() => [{ ok: false }]);
    const fence = mine?.ok
      ? `NOT pg_try_advisory_xact_lock_shared(${RUN_CLASS_ID}, ${runKey})`
      : conn.backendPid === undefined
        ? undefined
        : `EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND classid = ${CLASS_ID}::bigint::oid AND objid = ${this.objId >>> 0}::bigint::oid AND objsubid = 2 AND pid = ${conn.backendPid})`;
    const held = holdLock({
      owner: o.owner,
      fence,
      everyMs: HEARTBEAT_MS,
      // A network cut gives no error event: a query that does not come back in time does.
      check: async () => {
        const ok = await withTimeout(conn.query('SELECT 1').then(() => true, () => false), HEARTBEAT_TIMEOUT_MS);
        return ok ? undefined : `the advisory lock was lost: no answer on its connection within ${HEARTBEAT_TIMEOUT_MS / 1000} s`;
      },
      release: async (lost) => {
        if (!lost) await withTimeout(conn.query('SELECT pg_advisory_unlock($1, $2)', [CLASS_ID, this.objId]).catch(() => undefined), 3000);
        await withTimeout(conn.close().catch(() => undefined), 2000);
      },
    });
    conn.onEnd((err) => held.lose(`the advisory lock was lost: ${err ? `its connection failed: ${err.message}` : 'its connection closed'}`));
    return held;
  }

  async holder(via?: DedicatedSession): Promise<LockHolder | undefined> {
    const q = `SELECT a.application_name AS app FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
      WHERE l.locktype = 'advisory' AND l.granted AND l.classid = $1::bigint::oid AND l.objid = $2::bigint::oid AND l.objsubid = 2
        AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())`;
    const objid = this.objId >>> 0; // pg_locks shows the key as an unsigned oid
    const rows = via
      ? await via.query<{ app: string }>(q, [CLASS_ID, objid])
      : await this.db.withSession((s) => s.query<{ app: string }>(q, [CLASS_ID, objid]));
    const app = rows[0]?.app;
    if (app === undefined) return undefined;
    return parseAppName(app) ?? { owner: app || 'another session (not zsetup)' };
  }
}

/** How often the lock connection is checked, and how long a check may take. */
const HEARTBEAT_MS = 1000;
const HEARTBEAT_TIMEOUT_MS = 5000;

/** `zsetup@<unix seconds> <owner>`, cut to PostgreSQL's 63-byte limit. */
export function appName(owner: string, since: Date): string {
  return `zsetup@${Math.floor(since.getTime() / 1000)} ${owner}`.slice(0, 63);
}

export function parseAppName(app: string): LockHolder | undefined {
  const m = /^zsetup@(\d+) (.*)$/.exec(app);
  if (!m) return undefined;
  return { owner: m[2]!, since: new Date(Number(m[1]) * 1000) };
}

/** FNV-1a, as a signed int4 (the type of pg_try_advisory_lock's keys). */
export function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (const b of Buffer.from(s, 'utf8')) {
    h ^= b;
    h = Math.imul(h, 0x01000193);
  }
  return h | 0;
}
