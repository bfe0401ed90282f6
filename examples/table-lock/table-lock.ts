/**
 * An example lock kind, `table`: the run lock is a row of a table, kept locked
 * (`SELECT ... FOR UPDATE NOWAIT`) by a transaction left open on a connection of its own.
 * One file plus one registration, using only `zsetup/plugin`; `lockContract` from
 * `zsetup/testing` proves it (test/contract/table-lock.test.ts).
 *
 * - Acquire: one try is `BEGIN; SELECT ... FOR UPDATE NOWAIT`; "lock not available"
 *   (55P03) means someone holds it. `pollAcquire` does the waiting, timeout and reports.
 * - Holder: the session whose transaction locks the row (the row's `xmax` is its
 *   transaction id), named by its application_name.
 * - Lost: the connection ended, or stopped answering (`holdLock` runs the check).
 * - Fence: the row is still locked by our transaction, and that transaction is still open.
 *
 * @example
 * plugins: [tableLock()],
 * lock: { kind: 'table' },
 */
import { Tokens, holdLock, pollAcquire, quoteIdent, quoteLiteral, withTimeout } from 'zsetup/plugin';
import type { AcquireOptions, Database, DedicatedSession, Lock, LockHandle, LockHolder, LockKind, Plugin } from 'zsetup/plugin';

export class TableLock implements Lock {
  readonly description = 'table lock';
  private readonly schema: string;
  private readonly table: string;

  constructor(private readonly db: Database, readonly name: string, schema: string) {
    this.schema = quoteIdent(schema);
    this.table = `${this.schema}.run_lock`;
  }

  async acquire(o: AcquireOptions): Promise<LockHandle> {
    // The row to lock, made once; a transaction-scoped advisory lock lets several
    // processes do it at once.
    await this.db.withSession((s) =>
      s.exec(`BEGIN;
SELECT pg_advisory_xact_lock(hashtext('zsetup table lock'));
CREATE SCHEMA IF NOT EXISTS ${this.schema};
CREATE TABLE IF NOT EXISTS ${this.table} (name text PRIMARY KEY);
INSERT INTO ${this.table} (name) VALUES (${quoteLiteral(this.name)}) ON CONFLICT DO NOTHING;
COMMIT`),
    );
    const conn = await this.db.dedicated!(`zsetup-table@${Math.floor(Date.now() / 1000)} ${o.owner}`.slice(0, 63));
    let xid: string;
    try {
      xid = await pollAcquire(o, {
        what: `${this.description} "${this.name}"`,
        attempt: async () => {
          try {
            await conn.exec('BEGIN');
            const [row] = await conn.query<{ xid: string }>(`SELECT pg_current_xact_id()::text AS xid FROM ${this.table} WHERE name = $1 FOR UPDATE NOWAIT`, [this.name]);
            return row!.xid;
          } catch (err) {
            await conn.exec('ROLLBACK').catch(() => undefined);
            if ((err as { code?: string }).code === '55P03') return undefined; // held by someone else
            throw err;
          }
        },
        holder: () => this.holder(conn),
      });
    } catch (err) {
      await withTimeout(conn.close().catch(() => undefined), 2000);
      throw err;
    }
    const held = holdLock({
      owner: o.owner,
      fence: `EXISTS (SELECT 1 FROM ${this.table} WHERE name = ${quoteLiteral(this.name)} AND xmax = '${xid}'::xid8::xid) AND pg_xact_status('${xid}'::xid8) = 'in progress'`,
      everyMs: 1000,
      check: async () => ((await withTimeout(conn.query('SELECT 1').then(() => true, () => false), 5000)) ? undefined : 'the table lock was lost: no answer on its connection'),
      release: async (lost) => {
        if (!lost) await withTimeout(conn.exec('ROLLBACK').catch(() => undefined), 3000);
        await withTimeout(conn.close().catch(() => undefined), 2000);
      },
    });
    conn.onEnd((err) => held.lose(`the table lock was lost: its connection ${err ? `failed: ${err.message}` : 'closed'}`));
    return held;
  }

  async holder(via?: DedicatedSession): Promise<LockHolder | undefined> {
    const q = `SELECT a.application_name AS app FROM ${this.table} t JOIN pg_stat_activity a ON a.backend_xid = t.xmax WHERE t.name = $1`;
    const rows = await (via ? via.query<{ app: string }>(q, [this.name]) : this.db.withSession((s) => s.query<{ app: string }>(q, [this.name]))).catch((err) => {
      if ((err as { code?: string }).code === '42P01' || (err as { code?: string }).code === '3F000') return []; // no table yet: nobody holds it
      throw err;
    });
    const app = rows[0]?.app;
    if (app === undefined) return undefined;
    const m = /^zsetup-table@(\d+) (.*)$/.exec(app);
    return m ? { owner: m[2]!, since: new Date(Number(m[1]) * 1000) } : { owner: app || 'another session (not zsetup)' };
  }
}

/** The kind `lock.kind: "table"` chooses. */
export const tableKind: LockKind = {
  name: 'table',
  create(c, config) {
    const db = c.resolve(Tokens.Database);
    if (!db.dedicated) throw new Error('it needs a PostgreSQL server (database.url): it holds a connection of its own');
    return new TableLock(db, config.lock.name, config.state.schema);
  },
};

/** The registration: list `tableLock()` in the config's `plugins`. */
export function tableLock(): Plugin {
  return {
    name: 'table-lock',
    register(c) {
      c.register(Tokens.LockKind, { useValue: tableKind });
    },
  };
}
