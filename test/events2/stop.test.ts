/**
 * A stop (SIGTERM, a lost lock: ctx.signal aborts, the engine cancels the statements running at
 * that moment) that arrives between the end of the copy and the start of the index builds must
 * not start them: nothing else cancels a statement sent after the stop, and the four builds and
 * the verification then run to their end (seconds; at 2,000,000 events longer than the cleanup
 * deadline, so the step is abandoned instead of stopping within milliseconds).
 *
 * The move is called directly, with a context over a plain pg pool that aborts its signal while
 * the checkpoint of the index phase is saved (the moment bench/events2-kills.mjs found a SIGTERM
 * to take 3.7 s, and scripts like it 6.4 s: the stop came after the copy's last check and before
 * the builds).
 */
import * as assert from 'uvu/assert';
import pg from 'pg';
import { dbEachSuite, rejects, type DbCtx } from '../helpers.js';
import type { Database, Session, StepContext } from '../../src/plugin.js';
import { inTransaction } from '../../src/engine/transaction.js';
import { moveEvents } from '../../plugins/events2/index.js';
import { legacy } from './util.js';

const t = dbEachSuite('events2: a stop between the phases of the move');

t('a stop that arrives as the index phase begins starts no index build and no verification', async (ctx: DbCtx) => {
  await legacy(ctx.db, 3_000);
  const pool = new pg.Pool({ connectionString: ctx.db.url, max: 8 });
  const ac = new AbortController();
  /** Statements sent after the stop. */
  const late: string[] = [];
  const session = (c: pg.PoolClient): Session =>
    ({
      exec: async (sql: string) => {
        if (ac.signal.aborted) late.push(sql);
        await c.query(sql);
      },
      query: async (sql: string, params?: readonly unknown[]) => {
        if (ac.signal.aborted) late.push(sql);
        return (await c.query(sql, params as unknown[])).rows;
      },
    }) as unknown as Session;
  const withClient = async <T>(fn: (s: Session) => Promise<T>): Promise<T> => {
    const c = await pool.connect();
    try {
      return await fn(session(c));
    } finally {
      c.release();
    }
  };
  const step = {
    name: '14_events_push',
    db: undefined,
    signal: ac.signal,
    lastRun: undefined,
    config: undefined,
    checkpoint: undefined,
    log: () => undefined,
    progress: () => undefined,
    exec: (sql: string) => withClient((s) => s.exec(sql)),
    query: (sql: string, params?: readonly unknown[]) => withClient((s) => s.query(sql, params)),
    transaction: <T>(fn: (s: Session) => Promise<T>) => inTransaction({ withSession: withClient } as unknown as Database, fn),
    // The stop arrives while the index phase's checkpoint commits (no statement of the step runs but this one).
    saveCheckpoint: async (_tx: unknown, value: { phase?: string }) => {
      if (value.phase === 'indexes') ac.abort(new Error('SIGTERM received'));
    },
  } as unknown as StepContext;
  try {
    await rejects(moveEvents(step, { unitPages: 8 }), /SIGTERM received/);
    const started = late.filter((sql) => /CREATE (UNIQUE )?INDEX|hashtextextended/.test(sql));
    assert.equal(started, [], `sent after the stop:\n${started.join('\n')}`);
  } finally {
    await pool.end();
  }
});

t.run();
