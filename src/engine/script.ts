/**
 * A script kind's SQL outside a transaction: statement by statement, each in autocommit
 * (as ZITADEL runs its steps), stopping between statements when the run stops. A killed
 * `CREATE INDEX CONCURRENTLY` leaves an INVALID index behind, which
 * `CREATE INDEX CONCURRENTLY IF NOT EXISTS` would keep: it is dropped and built again
 * (https://www.postgresql.org/docs/current/sql-createindex.html#SQL-CREATEINDEX-CONCURRENTLY).
 */
import type { StepContext } from '../config/dsl.js';
import type { Session } from '../db.js';
import { splitStatements, statementsAt } from './split.js';
import { noteStatement } from './locate.js';

export async function runScript(script: string, ctx: StepContext): Promise<void> {
  const statements = statementsAt(script);
  for (const [k, { text: stmt, start }] of statements.entries()) {
    ctx.signal.throwIfAborted();
    try {
      await dropInvalidIndex(stmt, ctx);
      await ctx.exec(stmt);
      // IF NOT EXISTS skips an index that a build in another session had just created (one
      // left running by a killed run): if that build did not end valid, build it again.
      if (await dropInvalidIndex(stmt, ctx)) await ctx.exec(stmt);
    } catch (err) {
      // Which statement failed, for the error's location (locate.ts).
      noteStatement(err, k, start);
      throw err;
    }
  }
}

const CIC = /^\s*CREATE\s+(?:UNIQUE\s+)?INDEX\s+CONCURRENTLY\s+(?:IF\s+NOT\s+EXISTS\s+)?("(?:[^"]|"")+"|[A-Za-z_][\w$]*)\s+ON\s+(?:ONLY\s+)?((?:"(?:[^"]|"")+"|[A-Za-z_][\w$]*)(?:\s*\.\s*(?:"(?:[^"]|"")+"|[A-Za-z_][\w$]*))?)/i;

/**
 * A killed `CREATE INDEX CONCURRENTLY` leaves an INVALID index behind, and
 * `CREATE INDEX CONCURRENTLY IF NOT EXISTS` then silently keeps it. Before such a
 * statement runs, drop an invalid index of that name on that table so it is rebuilt.
 */
async function dropInvalidIndex(stmt: string, ctx: StepContext): Promise<boolean> {
  const target = cicTarget(stmt);
  if (!target) return false;
  const find = () => invalidIndexes(ctx, target);
  let rows = await find();
  // Another session still builds it: a build left running by a run that was killed or lost
  // the lock (we hold it now), which the server stops within seconds (its client is gone,
  // client_connection_check_interval) or its own run cancels. Dropping the index under it
  // fails ("tuple concurrently updated"): wait for that build to end, then look again.
  const waitUntil = Date.now() + 30_000;
  if (rows[0]?.building) ctx.log(`index ${rows[0].name} is being built by another session (left by an interrupted run): waiting for that build to end`);
  while (rows[0]?.building && Date.now() < waitUntil) {
    ctx.signal.throwIfAborted();
    await new Promise((r) => setTimeout(r, 200));
    rows = await find();
  }
  if (rows.length === 0) return false;
  ctx.log(`index ${rows[0]!.name} is INVALID (left by an interrupted build): dropping it to build it again`);
  await ctx.exec(`DROP INDEX CONCURRENTLY IF EXISTS ${rows[0]!.name}`);
  return true;
}

/**
 * After a stop of a script step that ran outside a transaction: drop the INVALID indexes
 * its stopped CONCURRENTLY builds left, so that whoever runs the step next builds them
 * anew. zsetup's next run would repair them anyway, but another tool that takes the step
 * over (ZITADEL's setup, told by its records that the step failed) runs
 * `CREATE INDEX CONCURRENTLY IF NOT EXISTS`, which keeps an INVALID index. A plain DROP
 * INDEX, waiting at most `lockTimeoutMs` for its table lock. Returns the INVALID indexes it
 * could not drop.
 */
export async function dropInvalidIndexesOf(script: string, session: Session, lockTimeoutMs = 2000): Promise<string[]> {
  const left: string[] = [];
  for (const stmt of splitStatements(script)) {
    const target = cicTarget(stmt);
    if (!target) continue;
    for (const r of await invalidIndexes(session, target)) {
      try {
        await session.exec(`BEGIN;\nSET LOCAL lock_timeout = '${Math.round(lockTimeoutMs)}ms';\nDROP INDEX IF EXISTS ${r.name};\nCOMMIT;`);
      } catch {
        // (Its transaction is aborted: end it, the connection goes back to the pool.)
        await session.exec('ROLLBACK').catch(() => undefined);
        left.push(r.name);
      }
    }
  }
  return left;
}

/** The index and table a `CREATE INDEX CONCURRENTLY` statement builds, if it is one. */
function cicTarget(stmt: string): { index: string; table: string } | undefined {
  const m = CIC.exec(stripLeadingComments(stmt));
  if (!m) return undefined;
  return { index: m[1]!.startsWith('"') ? m[1]!.slice(1, -1).replace(/""/g, '"') : m[1]!.toLowerCase(), table: m[2]! };
}

/** INVALID indexes of that name on that table, and whether another session is building each now. */
function invalidIndexes(q: Pick<Session, 'query'>, t: { index: string; table: string }): Promise<Array<{ name: string; building: boolean }>> {
  return q.query<{ name: string; building: boolean }>(
    `SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS name,
            EXISTS (SELECT 1 FROM pg_stat_progress_create_index p WHERE p.index_relid = c.oid AND p.pid <> pg_backend_pid()
                      AND p.datid = (SELECT oid FROM pg_database WHERE datname = current_database())) AS building
       FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relname = $1 AND i.indrelid = to_regclass($2) AND NOT i.indisvalid`,
    [t.index, t.table],
  );
}

function stripLeadingComments(s: string): string {
  let out = s;
  for (;;) {
    const t = out.replace(/^\s*--[^\n]*\n?/, '').replace(/^\s*\/\*[\s\S]*?\*\//, '');
    if (t === out) return out;
    out = t;
  }
}
