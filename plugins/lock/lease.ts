/**
 * Lease lock: a row with owner, expiry, heartbeat and a fencing token, for databases or
 * poolers where session advisory locks do not hold (PgBouncer transaction mode,
 * CockroachDB). Uses the shared pool; renews the lease every third of its lifetime.
 * A holder whose lease expired is gone: the next acquirer bumps the token, and the old
 * holder's heartbeat (which matches on the token) finds it lost.
 */
import { describeHolder, holdLock, isConnectionFault, pollAcquire, quoteIdent, quoteLiteral, sleep, withLockTimeout, withTimeout } from '../../src/plugin.js';
import type { AcquireOptions, Database, Lock, LockHandle, LockHolder } from '../../src/plugin.js';

const RACE_CODES = new Set(['23505', '42P07', '42P06', '40001']);

export class LeaseLock implements Lock {
  readonly description = 'lease';
  readonly usesPool = true;
  private readonly table: string;
  private readonly schema: string;
  private ready = false;

  constructor(private readonly db: Database, readonly name: string, readonly ttlMs: number, schema: string) {
    this.schema = quoteIdent(schema);
    this.table = `${this.schema}.lease`;
  }

  /** Create the lease table; tolerant of several processes doing it at once. */
  async ensureTable(): Promise<void> {
    if (this.ready) return;
    for (let i = 0; ; i++) {
      try {
        await this.db.withSession((s) =>
          s.exec(`CREATE SCHEMA IF NOT EXISTS ${this.schema};
CREATE TABLE IF NOT EXISTS ${this.table} (
  name text PRIMARY KEY,
  owner text,
  token bigint NOT NULL,
  acquired_at timestamptz NOT NULL,
  heartbeat_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL
)`),
        );
        this.ready = true;
        return;
      } catch (err) {
        if (i >= 5 || !(RACE_CODES.has((err as { code?: string }).code ?? '') || isConnectionFault(err))) throw err;
        await sleep(50 + Math.random() * 100);
      }
    }
  }

  async acquire(o: AcquireOptions): Promise<LockHandle> {
    await this.ensureTable();
    const started = Date.now();
    let blocked = false;
    const token = await pollAcquire(o, {
      what: `${this.description} "${this.name}"`,
      attempt: async () => {
        const rows = await this.db
          .withSession((s) =>
            // Bounded: a holder between its fence (FOR SHARE on this row) and its commit, paused
            // (SIGSTOP, a frozen VM), would otherwise block this statement past --lock-timeout.
            withLockTimeout(s, Math.max(100, Math.min(1000, o.timeoutMs - (Date.now() - started))), () => s.query<{ token: string }>(
              `INSERT INTO ${this.table} AS l (name, owner, token, acquired_at, heartbeat_at, expires_at)
               VALUES ($1, $2, 1, clock_timestamp(), clock_timestamp(), clock_timestamp() + $3 * interval '1 millisecond')
               ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, token = l.token + 1, acquired_at = clock_timestamp(),
                 heartbeat_at = clock_timestamp(), expires_at = clock_timestamp() + $3 * interval '1 millisecond'
               WHERE l.owner IS NULL OR l.expires_at < clock_timestamp()
               RETURNING token`,
              [this.name, o.owner, this.ttlMs],
            )),
          )
          // A connection fault while waiting: not acquired this time (had the row been written,
          // the lease just expires unused); keep polling within the timeout, or end as a
          // timeout or a stop does.
          .catch((err) => {
            if ((err as { code?: string }).code === LOCK_NOT_AVAILABLE) return (blocked = true), [];
            if (isConnectionFault(err)) return [];
            throw err;
          });
        // DO UPDATE takes the times when the row is written, not from the VALUES row, which is
        // computed when the statement begins: before it waits for the row lock a holder's fence
        // holds. A lease dated from then could be born expired, and a second waiter took it too.
        return rows[0] ? Number(rows[0].token) : undefined;
      },
      holder: () => this.holder(),
      describe: (h) => (blocked && !h ? 'a run paused or stuck between its fence and its commit (its lease expired; its open transaction still locks the lease row)' : describeHolder(h)),
    });
    return this.handle(o.owner, token);
  }

  async holder(): Promise<LockHolder | undefined> {
    const rows = await this.db
      .withSession((s) =>
        s.query<{ owner: string; acquired_at: Date }>(
          `SELECT owner, acquired_at FROM ${this.table} WHERE name = $1 AND owner IS NOT NULL AND expires_at > clock_timestamp()`,
          [this.name],
        ),
      )
      .catch((err) => {
        if ((err as { code?: string }).code === '42P01' || (err as { code?: string }).code === '3F000') return [];
        throw err;
      });
    const r = rows[0];
    return r ? { owner: r.owner, since: new Date(r.acquired_at) } : undefined;
  }

  /** SQL that is true only while the lease with this token is still ours (fencing). */
  fenceCondition(token: number): string {
    return `EXISTS (SELECT 1 FROM ${this.table} WHERE name = ${quoteLiteral(this.name)} AND token = ${token} AND expires_at > clock_timestamp())`;
  }

  private handle(owner: string, token: number): LockHandle & { token: number } {
    let expiresAt = Date.now() + this.ttlMs;
    const held = holdLock({
      owner,
      // FOR SHARE: a taker's update of the lease row waits until our commit, so the
      // check and the commit are one atomic step.
      fence: `EXISTS (SELECT 1 FROM ${this.table} WHERE name = ${quoteLiteral(this.name)} AND token = ${token} AND expires_at > clock_timestamp() FOR SHARE)`,
      // The heartbeat renews the lease every third of its lifetime.
      everyMs: Math.max(50, Math.floor(this.ttlMs / 3)),
      check: async () => {
        try {
          const rows = await this.db.withSession((s) =>
            s.query(
              `UPDATE ${this.table} SET heartbeat_at = clock_timestamp(), expires_at = clock_timestamp() + $3 * interval '1 millisecond'
               WHERE name = $1 AND token = $2 RETURNING 1`,
              [this.name, token, this.ttlMs],
            ),
          );
          if (rows.length === 0) return `the lease "${this.name}" was taken over (token ${token} is no longer current)`;
          expiresAt = Date.now() + this.ttlMs;
          return undefined;
        } catch (err) {
          // A failed renewal is a loss only once the lease has run out.
          return Date.now() > expiresAt ? `the lease "${this.name}" expired: heartbeat failed: ${(err as Error).message}` : undefined;
        }
      },
      // Token-guarded: never frees a later holder's lease.
      release: () =>
        withTimeout(
          this.db.withSession((s) => s.query(`UPDATE ${this.table} SET owner = NULL, expires_at = clock_timestamp() WHERE name = $1 AND token = $2`, [this.name, token])),
          3000,
        ).then(() => undefined),
    });
    return Object.assign(held, { token });
  }
}

/** lock_not_available: lock_timeout expired. */
const LOCK_NOT_AVAILABLE = '55P03';

