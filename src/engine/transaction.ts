/**
 * The SQL around a step's own transaction: asynchronous commit, the mark that tells
 * whether the step ended the transaction itself, and the reset of what it set on its
 * session. Strings only; the step run sends them.
 */
import { randomBytes } from 'node:crypto';
import { statementsAt } from './split.js';
import type { Database, Session } from '../db.js';

/**
 * A transactional step's work and its `done` record commit together, so they are made
 * durable together too: if the server crashed before the WAL flush, both would be lost
 * and the next run would simply run the step again. Its commit therefore need not wait
 * for the flush (one fsync per step was most of the bookkeeping cost: bench/README.md);
 * `flushCommits` makes everything durable before `apply` reports success.
 */
export const ASYNC_COMMIT = 'SET LOCAL synchronous_commit = off';

/** SQLSTATE of a step that ended the transaction the engine runs it in. */
export const STEP_ENDED_TX_CODE = 'ZS002';

/**
 * The step's transaction is marked (a transaction-local setting) when it begins, and the
 * mark is checked before its `done` record: a `COMMIT` or `ROLLBACK` in the step's own SQL
 * (`db.raw('ROLLBACK')`, or in an SQL file) ends that transaction, the mark with it, and
 * the step fails instead of being recorded done over work that is not there.
 */
export function transactionMark(id: string): { set: string; setConfig: string; check: string } {
  return {
    set: `SET LOCAL zsetup.step_tx = '${id}'`,
    setConfig: `set_config('zsetup.step_tx', '${id}', true)`,
    check: `DO $zsetup_tx$ BEGIN IF current_setting('zsetup.step_tx', true) IS DISTINCT FROM '${id}' THEN RAISE EXCEPTION 'the step ended the transaction zsetup runs it in (a COMMIT or ROLLBACK in its SQL): its work is not what would be recorded; remove it, or declare the step transaction: false' USING ERRCODE = '${STEP_ENDED_TX_CODE}'; END IF; END $zsetup_tx$`,
  };
}

/**
 * Undo what a step's code set on its session (`SET search_path`, `SET ROLE`,
 * `SET default_transaction_read_only`): the connection goes back to the pool, and the next
 * step and the engine's own records must not run under it. `RESET ALL` leaves the role
 * alone, hence `RESET ROLE`; the pool's own settings are then made again
 * (https://www.postgresql.org/docs/current/sql-reset.html). Found by the review of issue 7.
 */
export function sessionReset(db: Database): string {
  return `RESET ALL;\nRESET ROLE${db.sessionSetup ? `;\n${db.sessionSetup}` : ''}`;
}


/** Per process, a random prefix; per transaction, a count: a mark no step can guess. */
const markPrefix = randomBytes(6).toString('hex');
let markCount = 0;

/** A new transaction mark (transactionMark) with an id used once. */
export function newMark(): ReturnType<typeof transactionMark> {
  return transactionMark(`${markPrefix}${(markCount++).toString(36)}`);
}

/**
 * A transactional SQL step as one transaction, to send in one message: its SQL, then (if it
 * did not end the transaction itself) the reset of its session and its `done` record
 * (`done`, fenced: the recorder's statement), all committed together or not at all.
 */
export function stepTransaction(db: Database, sql: string, done: string, lockTimeoutMs: number, notice?: string, statementMarks?: string): string {
  const mark = newMark();
  // A script of several statements: a notice before each (`<marks><k>`), so that an error
  // the server gives no position for still names its statement (the last notice before it).
  const statements = statementMarks === undefined ? [] : statementsAt(sql);
  if (statements.length > 1) sql = statements.map((st, k) => `${statementMark(`${statementMarks}${k}`)};\n${st.text}`).join(';\n');
  // The three transaction-local settings in one statement (each statement of a message costs).
  // With a notice, client_min_messages is set so that a database or role default cannot
  // hide it (a plpgsql block that set it and set it back cost 0.15 ms a step more).
  const settings = `set_config('synchronous_commit', 'off', true), set_config('lock_timeout', '${Math.round(lockTimeoutMs)}ms', true), ${mark.setConfig}${notice === undefined ? '' : ", set_config('client_min_messages', 'notice', true)"}`;
  return `BEGIN;\nSELECT ${settings};\n${notice === undefined ? '' : `${noticeStatement(notice)};\n`}${sql}\n;\n${mark.check};\n${sessionReset(db)};\n${ASYNC_COMMIT};\n${done};\nCOMMIT;`;
}

/**
 * The notice before a statement of a step (stepTransaction's statementMarks). It sets
 * client_min_messages itself: the step's own SQL may have raised it.
 */
function statementMark(notice: string): string {
  return `DO $zsetup_note$ BEGIN PERFORM set_config('client_min_messages', 'notice', true); RAISE NOTICE '${checkNotice(notice)}'; END $zsetup_note$`;
}

/** A notice is sent as a literal: letters, digits, spaces and `:._-` only. */
export function checkNotice(notice: string): string {
  if (!/^[\w :.-]*$/.test(notice)) throw new TypeError(`not a plain notice: ${JSON.stringify(notice)}`);
  return notice;
}

/**
 * One statement that raises `notice` to the client (how a train is followed). The caller
 * sets client_min_messages to `notice` in the transaction first.
 */
export function noticeStatement(notice: string): string {
  return `DO $zsetup_note$ BEGIN RAISE NOTICE '${checkNotice(notice)}'; END $zsetup_note$`;
}

/** `fn` in one transaction on a pool connection: commit when it resolves, roll back when it throws. */
export function inTransaction<T>(db: Database, fn: (s: Session) => Promise<T>): Promise<T> {
  return db.withSession(async (s) => {
    await s.exec('BEGIN');
    try {
      const r = await fn(s);
      await s.exec('COMMIT');
      return r;
    } catch (err) {
      await s.exec('ROLLBACK').catch(() => undefined);
      throw err;
    }
  });
}

/** One synchronous commit flushes the WAL up to it, and so every asynchronous commit before it. */
export async function flushCommits(db: Database): Promise<void> {
  await db.withSession((s) => s.exec('SELECT txid_current()'));
}
