/**
 * `zsetup/testing`: the conformance kit. Every StateStore and every Lock must pass its
 * contract suite, as every golang-migrate driver passes `database/testing/testing.go`.
 * The suites check the numbered "how to implement" lists in `src/state/store.ts` and
 * `src/lock/lock.ts` against a real database; nothing is mocked.
 *
 * Both functions *return* a uvu suite without running it, so the caller can add its own
 * `before`/`after` hooks (create and drop a database) and extra tests, then call `.run()`.
 * The factory runs before every test (fresh instances each time) and its `cleanup()`
 * after every test, also after a failed one.
 *
 * @example
 * ```ts
 * import { stateStoreContract, lockContract } from 'zsetup/testing';
 *
 * const s = stateStoreContract('my store', async () => {
 *   const db = await openMyDatabase();
 *   return { store: new MyStore(db, `t_${Date.now()}`), db, cleanup: () => db.close() };
 * });
 * s.run();
 * ```
 */
import { randomBytes } from 'node:crypto';
import { suite, type Test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Database, Session } from '../db.js';
import { LockTimeoutError } from '../errors.js';
import { LOCK_LOST_CODE, fenceStatement, fenced, sleep, type AcquireOptions, type Lock, type LockHandle, type LockHolder } from '../lock/lock.js';
import type { RecordedEvent, StateStore, StepEvent } from '../state/store.js';

/** What a `stateStoreContract` factory returns: a fresh, never-initialised store. */
export interface StateStoreFixture {
  /** A store that has never been initialised (its own schema, table or file). */
  readonly store: StateStore;
  /**
   * The database the store writes to. The suite uses it to run `recordStatement()` inside
   * transactions and to prove that `load()` writes nothing; without it those two tests
   * fail with a message saying so (a store whose SQL nobody can run is not a StateStore).
   */
  readonly db?: Database | undefined;
  /** Drop what the store created and close what the factory opened. Runs after every test. */
  cleanup(): Promise<void>;
}

/** What a `lockContract` factory returns. */
export interface LockFixture {
  /** A lock with a name no other test uses. */
  readonly lock: Lock;
  /**
   * Another instance of the *same* lock, as a different process would have it: its own
   * `Database` (its own pool and connections), same name. Called up to five times per test.
   */
  second(): Promise<Lock>;
  /**
   * The database the lock's fence is evaluated in (where a run writes its records and
   * steps). The suite runs fenced writes in it to prove that a lost lock fences them off.
   */
  readonly db?: Database | undefined;
  /**
   * Take the lock away from the holder of `handle` behind its back, the way the lock can
   * really be lost: terminate its connection (advisory lock), expire its lease and let
   * another instance take it over (lease), replace its lock file (data-dir lock). Once it
   * resolves, `handle.lost` must abort within a few seconds and `handle.fence` must fail.
   * Whatever it takes (a thief's handle) is released by `cleanup()`.
   */
  takeAway?(handle: LockHandle): Promise<void>;
  /** Close everything `lock` and `second()` opened. Runs after every test. */
  cleanup(): Promise<void>;
}

/** The uvu context of `stateStoreContract`'s suite: this test's fixture. */
export interface StateStoreContext {
  fx: StateStoreFixture;
}

/** The uvu context of `lockContract`'s suite: this test's fixture and acquire tracker. */
export interface LockContext {
  fx: LockFixture;
  /** Acquire through `tracker.take()`: aborted, awaited and released after each test. */
  tracker: AcquireTracker;
}

/**
 * The StateStore conformance suite (contract in `src/state/store.ts`). Returns the uvu
 * suite without running it: add hooks or tests, then call `.run()`.
 *
 * @param name suite title, e.g. `journal store on PostgreSQL`
 * @param factory called before every test; must return a store that was never initialised
 * @example
 * ```ts
 * const s = stateStoreContract('journal store', async () => {
 *   const schema = `contract_${randomBytes(4).toString('hex')}`;
 *   return { store: new JournalStore(db, schema), db, cleanup: async () => { await dropSchema(schema); } };
 * });
 * s.after(() => db.close());
 * s.run();
 * ```
 */
export function stateStoreContract(name: string, factory: () => Promise<StateStoreFixture>): Test<StateStoreContext> {
  const s = suite<StateStoreContext>(`StateStore contract: ${name}`, {} as StateStoreContext);
  s.before.each(async (ctx) => {
    ctx.fx = undefined as unknown as StateStoreFixture;
    ctx.fx = await timed(factory(), TEST_DEADLINE_MS, 'the factory');
  });
  s.after.each(async (ctx) => {
    const fx = ctx.fx;
    ctx.fx = undefined as unknown as StateStoreFixture;
    if (fx) await timed(fx.cleanup(), TEST_DEADLINE_MS, 'cleanup()');
  });
  const t = withDeadline(s);

  const owner = 'contract-host:4242:abc123';
  const ev = (step: string, event: StepEvent['event'], more: Partial<StepEvent> = {}): StepEvent => ({ step, event, owner, ...more });

  t('2. load() on a never-initialised store returns an empty map and writes nothing', async ({ fx }) => {
    const db = needDb(fx, 'prove that load() writes nothing');
    const before = await catalog(db);
    const state = await fx.store.load();
    assert.instance(state, Map);
    assert.is(state.size, 0, 'load() before init() must return an empty map');
    assert.equal(await fx.store.history(), [], 'history() before init() must return []');
    assert.equal(await fx.store.history({ step: 'x' }), [], 'history({ step }) before init() must return []');
    assert.equal(await catalog(db), before, 'load()/history() before init() created or dropped a schema or relation');
  });

  t('1. init() is idempotent: twice at once, twice in a row, and it keeps recorded events', async ({ fx }) => {
    // At once first, on a store that does not exist yet: the racy case.
    await Promise.all([fx.store.init(), fx.store.init()]);
    await fx.store.init();
    await fx.store.init();
    assert.is((await fx.store.load()).size, 0, 'an initialised store with no events loads as empty');
    assert.equal(await fx.store.history(), []);
    await fx.store.record(ev('a', 'done', { checksum: 'c1' }));
    await Promise.all([fx.store.init(), fx.store.init()]);
    const h = await fx.store.history();
    assert.is(h.length, 1, 'init() after record() must keep the events');
    assert.is(h[0]!.step, 'a');
  });

  t('2. load(): per step the latest event and the latest done (checksum, lastRun)', async ({ fx }) => {
    await fx.store.init();
    await fx.store.record(ev('a', 'started', { checksum: 'c1' }));
    await fx.store.record(ev('a', 'done', { checksum: 'c1', lastRun: { n: 1 } }));
    await fx.store.record(ev('b', 'started', { checksum: 'b1' }));
    await fx.store.record(ev('a', 'started', { checksum: 'c2' }));
    await fx.store.record(ev('a', 'failed', { checksum: 'c2', error: 'boom', lastRun: { n: 2 } }));
    await fx.store.record(ev('c', 'done', { checksum: 'x1', lastRun: 'first' }));
    await fx.store.record(ev('c', 'done', { checksum: 'x2', lastRun: 'second' }));
    await fx.store.record(ev('d', 'interrupted', { checksum: 'd1', checkpoint: { batch: 7 } }));

    const state = await fx.store.load();
    assert.equal([...state.keys()].sort(), ['a', 'b', 'c', 'd']);
    const a = state.get('a')!;
    assert.is(a.step, 'a');
    assert.is(a.latest.event, 'failed', 'latest of a');
    assert.is(a.latest.error, 'boom');
    assert.is(a.latest.checksum, 'c2');
    assert.ok(a.lastDone, 'a has a done event');
    assert.is(a.lastDone.event, 'done');
    assert.is(a.lastDone.checksum, 'c1', 'lastDone keeps the checksum of the done event, not of a later start');
    assert.equal(a.lastDone.lastRun, { n: 1 });
    assert.is(a.lastDone.owner, owner);

    const b = state.get('b')!;
    assert.is(b.latest.event, 'started');
    assert.is(b.lastDone, undefined, 'a step that never finished has no lastDone');

    const c = state.get('c')!;
    assert.is(c.latest.event, 'done');
    assert.is(c.lastDone?.checksum, 'x2', 'the latest done wins');
    assert.is(c.lastDone?.lastRun, 'second');
    assert.is(c.latest.id, c.lastDone?.id);

    const d = state.get('d')!;
    assert.is(d.latest.event, 'interrupted');
    assert.equal(d.latest.checkpoint, { batch: 7 });
    assert.is(d.lastDone, undefined);

    for (const s of state.values()) {
      assert.type(s.latest.id, 'number', 'id is a number');
      assert.instance(s.latest.at, Date, 'at is a Date');
      assert.ok(!Number.isNaN(s.latest.at.getTime()), 'at is a valid Date');
    }
    assert.ok(a.latest.id > a.lastDone.id, 'ids grow in record order');
  });

  t('2. lastRun and checkpoint round-trip JSON values exactly', async ({ fx }) => {
    await fx.store.init();
    const values: Array<[string, unknown]> = [
      ['object', { a: { b: [1, 'two', { c: null }], d: true }, 'key "quoted"': 'v', 'back\\slash': [] }],
      ['array', [1, -2.5, 'x', null, false, { y: [] }]],
      ['empty object', {}],
      ['empty array', []],
      ['quotes', `it's "quoted" and ''doubled''`],
      ['backslashes', 'C:\\path\\to\\n not a newline \\x00 \\u0041 \\'],
      ['control characters', 'line1\nline2\ttab\r\n'],
      ['unicode', 'ünïcødé 日本語 🚀 \u2028 \u00a0 e\u0301'],
      ['dollar quotes', '$$ $tag$ $1 $$;'],
      ['sql', "'); DROP TABLE journal; --"],
      ['json-looking string', '{"not":"an object"}'],
      ['empty string', ''],
      ['zero', 0],
      ['number', 12345678901234],
      ['float', -0.125],
      ['false', false],
      ['true', true],
    ];
    for (const [i, [, v]] of values.entries()) {
      await fx.store.record(ev(`v${i}`, 'done', { checksum: `c${i}`, lastRun: v }));
      await fx.store.record(ev(`k${i}`, 'interrupted', { checkpoint: v }));
    }
    await fx.store.record(ev('null', 'done', { lastRun: null }));
    await fx.store.record(ev('undefined', 'done', {}));

    const state = await fx.store.load();
    const history = await fx.store.history();
    for (const [i, [label, v]] of values.entries()) {
      assert.equal(state.get(`v${i}`)?.lastDone?.lastRun, v, `lastRun ${label} via load()`);
      assert.equal(state.get(`k${i}`)?.latest.checkpoint, v, `checkpoint ${label} via load()`);
      assert.equal(history.find((e) => e.step === `v${i}`)?.lastRun, v, `lastRun ${label} via history()`);
    }
    const n = state.get('null')?.lastDone;
    assert.ok(n, 'a done with lastRun null is recorded');
    assert.ok(n.lastRun === null || n.lastRun === undefined, `lastRun null comes back null-ish, got ${JSON.stringify(n.lastRun)}`);
    const u = state.get('undefined')?.lastDone;
    assert.ok(u, 'a done without lastRun is recorded');
    assert.is(u.lastRun, undefined, 'no lastRun comes back undefined');
    assert.is(u.checksum, undefined, 'no checksum comes back undefined');
    assert.is(u.error, undefined, 'no error comes back undefined');
    assert.is(u.checkpoint, undefined, 'no checkpoint comes back undefined');
  });

  t('2. error text, owner and checksum round-trip exactly', async ({ fx }) => {
    await fx.store.init();
    const error = `relation "t" does not exist (SQLSTATE 42P01)\n  at step 'x': cause: C:\\dir\\file.sql: ünï 🚀 $$ E'\\'' --`;
    const weirdOwner = `host'name:1:"run"\\`;
    const sum = 'sha256:0123456789abcdef';
    await fx.store.record({ step: 's', event: 'failed', owner: weirdOwner, checksum: sum, error, lastRun: { tries: 3 } });
    const s = (await fx.store.load()).get('s');
    assert.ok(s);
    assert.is(s.latest.event, 'failed');
    assert.is(s.latest.error, error);
    assert.is(s.latest.owner, weirdOwner);
    assert.is(s.latest.checksum, sum);
    assert.equal(s.latest.lastRun, { tries: 3 });
    const [h] = await fx.store.history({ step: 's' });
    assert.is(h?.error, error, 'error via history()');
  });

  t('4. history(): oldest first, every event, filtered by step', async ({ fx }) => {
    await fx.store.init();
    const order: StepEvent[] = [
      ev('a', 'started', { checksum: '1' }),
      ev('b', 'started', { checksum: '2' }),
      ev('a', 'failed', { checksum: '1', error: 'e' }),
      ev('a', 'started', { checksum: '1' }),
      ev('b', 'done', { checksum: '2', lastRun: 1 }),
      ev('a', 'done', { checksum: '1', lastRun: 2 }),
    ];
    for (const e of order) await fx.store.record(e);
    const all = await fx.store.history();
    assert.equal(
      all.map((e) => [e.step, e.event]),
      order.map((e) => [e.step, e.event]),
      'history() returns every event in record order',
    );
    assertIncreasing(all);
    const a = await fx.store.history({ step: 'a' });
    assert.equal(
      a.map((e) => e.event),
      ['started', 'failed', 'started', 'done'],
    );
    assert.ok(a.every((e) => e.step === 'a'));
    assertIncreasing(a);
    assert.equal(
      (await fx.store.history({ step: 'b' })).map((e) => e.event),
      ['started', 'done'],
    );
    assert.equal(await fx.store.history({ step: 'nope' }), [], 'an unknown step has no history');
  });

  t('4. events are appended, never updated', async ({ fx }) => {
    await fx.store.init();
    await fx.store.record(ev('a', 'started', { checksum: 'one' }));
    const [first] = await fx.store.history({ step: 'a' });
    assert.ok(first);
    await fx.store.record(ev('a', 'done', { checksum: 'two', lastRun: 'r' }));
    await fx.store.record(ev('a', 'started', { checksum: 'three' }));
    const h = await fx.store.history({ step: 'a' });
    assert.is(h.length, 3, 'a later event for a step must not replace an earlier one');
    assert.equal(h[0], first, 'the first event is unchanged');
    assert.equal(
      h.map((e) => e.checksum),
      ['one', 'two', 'three'],
    );
    assert.is((await fx.store.load()).get('a')?.lastDone?.checksum, 'two');
  });

  t('3. recordStatement() inside a rolled-back transaction leaves nothing; committed, the event', async ({ fx }) => {
    const db = needDb(fx, 'run recordStatement() inside a transaction');
    await fx.store.init();
    const rolled = fx.store.recordStatement(ev('tx', 'done', { checksum: 'rolled back', lastRun: { v: 1 } }));
    assert.type(rolled, 'string');
    await db.withSession((s) => s.exec(`BEGIN; ${rolled}; ROLLBACK`));
    assert.equal(await fx.store.history({ step: 'tx' }), [], 'a rolled-back recordStatement() must leave no event');
    assert.is((await fx.store.load()).get('tx'), undefined);

    const committed = fx.store.recordStatement(ev('tx', 'done', { checksum: 'committed', lastRun: { v: 2 } }));
    await db.withSession((s) => s.exec(`BEGIN; ${committed}; COMMIT`));
    const state = (await fx.store.load()).get('tx');
    assert.is(state?.lastDone?.checksum, 'committed');
    assert.equal(state?.lastDone?.lastRun, { v: 2 });
    assert.is((await fx.store.history({ step: 'tx' })).length, 1);

    // With the step's own work in the same transaction: both or neither.
    const work = fx.store.recordStatement(ev('tx2', 'done', { checksum: 'w' }));
    await rejects(db.withSession((s) => s.exec(`BEGIN; ${work}; SELECT 1/0; COMMIT`)));
    await db.withSession((s) => s.exec('ROLLBACK').catch(() => undefined));
    assert.equal(await fx.store.history({ step: 'tx2' }), [], 'a failed transaction must not leave the done event');
  });

  t('3. record(event, session) writes inside the caller\'s transaction', async ({ fx }) => {
    const db = needDb(fx, "run record() on the caller's session");
    await fx.store.init();
    await db.withSession(async (s: Session) => {
      await s.exec('BEGIN');
      try {
        await fx.store.record(ev('sess', 'done', { checksum: 'rolled back' }), s);
      } finally {
        await s.exec('ROLLBACK');
      }
    });
    assert.equal(await fx.store.history({ step: 'sess' }), [], 'record(event, session) in a rolled-back transaction must leave nothing');
    await db.withSession(async (s: Session) => {
      await s.exec('BEGIN');
      await fx.store.record(ev('sess', 'done', { checksum: 'committed' }), s);
      await s.exec('COMMIT');
    });
    assert.is((await fx.store.load()).get('sess')?.lastDone?.checksum, 'committed');
  });

  t('step names with quotes, semicolons and $$ cannot inject SQL', async ({ fx }) => {
    const db = needDb(fx, 'check a canary table');
    await fx.store.init();
    const canary = `zsetup_contract_canary_${randomBytes(4).toString('hex')}`;
    await db.withSession((s) => s.exec(`CREATE TABLE ${canary} (id int)`));
    try {
      const names = [
        `a'b`,
        `x'); DROP TABLE ${canary}; --`,
        `x\\'); DROP TABLE ${canary}; --`,
        `$$); DROP TABLE ${canary}; --$$`,
        `$q$ $$ $1 $2 ;`,
        `"; DROP TABLE ${canary}; --`,
        `E'\\\\'`,
        `semi;colon`,
        `back\\slash\\`,
        `new\nline`,
        `ünï 🚀`,
      ];
      for (const [i, step] of names.entries()) {
        if (i % 2 === 0) await fx.store.record(ev(step, 'done', { checksum: step, lastRun: step, error: step }));
        else await db.withSession((s) => s.exec(fx.store.recordStatement(ev(step, 'done', { checksum: step, lastRun: step, error: step }))));
      }
      const state = await fx.store.load();
      assert.equal([...state.keys()].sort(), [...names].sort(), 'every name comes back exactly');
      for (const step of names) {
        const s = state.get(step);
        assert.is(s?.lastDone?.checksum, step, `checksum of ${JSON.stringify(step)}`);
        assert.is(s?.lastDone?.lastRun, step, `lastRun of ${JSON.stringify(step)}`);
        assert.is(s?.lastDone?.error, step, `error of ${JSON.stringify(step)}`);
        const h = await fx.store.history({ step });
        assert.is(h.length, 1, `history({ step: ${JSON.stringify(step)} })`);
        assert.is(h[0]?.step, step);
      }
      assert.is((await fx.store.history()).length, names.length);
      const rows = await db.withSession((s) => s.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${canary}`));
      assert.is(rows[0]?.n, 0, 'the canary table survived');
    } finally {
      await db.withSession((s) => s.exec(`DROP TABLE IF EXISTS ${canary}`));
    }
  });

  /** `stmt` inside a transaction that commits (or rolls back), through the one-statement driver call. */
  const inTransaction = (db: Database, stmts: string[], end: 'COMMIT' | 'ROLLBACK' = 'COMMIT') =>
    db.withSession(async (s: Session) => {
      await s.exec('BEGIN');
      try {
        for (const stmt of stmts) await s.query(stmt, []);
      } catch (err) {
        await s.exec('ROLLBACK');
        throw err;
      }
      await s.exec(end);
    });

  t('5. checkpointStatement() committed: load() shows { value, done, total, owner, at }; it adds no event', async ({ fx }) => {
    const db = needDb(fx, 'run checkpointStatement() inside a transaction');
    await fx.store.init();
    await fx.store.record(ev('fill', 'started', { checksum: 'f1' }));
    await fx.store.record(ev('bare', 'started', { checksum: 'b1' }));
    const stmt = fx.store.checkpointStatement('fill', owner, { batch: 3, cursor: `it's "x" \\ $$` }, { done: 30, total: 100 });
    assert.type(stmt, 'string');
    const t0 = Date.now();
    await inTransaction(db, [stmt]);
    const cp = (await fx.store.load()).get('fill')?.checkpoint;
    assert.ok(cp, 'a committed checkpoint is seen by load()');
    assert.equal(cp.value, { batch: 3, cursor: `it's "x" \\ $$` }, 'the value round-trips');
    assert.is(cp.done, 30);
    assert.is(cp.total, 100);
    assert.is(cp.owner, owner);
    assert.instance(cp.at, Date);
    assert.ok(Math.abs(cp.at.getTime() - t0) < 60_000, `at is the time of the save (${cp.at.toISOString()})`);
    assert.is((await fx.store.load()).get('bare')?.checkpoint, undefined, 'a step without a checkpoint has none');

    // Without progress: done and total are undefined; a plain number is a fine value.
    await inTransaction(db, [fx.store.checkpointStatement('bare', owner, 7)]);
    const bare = (await fx.store.load()).get('bare')?.checkpoint;
    assert.is(bare?.value, 7);
    assert.is(bare?.done, undefined);
    assert.is(bare?.total, undefined);
    assert.is((await fx.store.history()).length, 2, 'a checkpoint is not an event');
    assert.is((await fx.store.load()).get('fill')?.latest.event, 'started', 'nor does it change the latest event');
  });

  t('5. checkpointStatement() in a rolled-back or failed transaction leaves no checkpoint (and keeps the earlier one)', async ({ fx }) => {
    const db = needDb(fx, 'run checkpointStatement() inside a transaction');
    await fx.store.init();
    await fx.store.record(ev('fill', 'started'));
    await inTransaction(db, [fx.store.checkpointStatement('fill', owner, 'rolled back', { done: 1, total: 2 })], 'ROLLBACK');
    assert.is((await fx.store.load()).get('fill')?.checkpoint, undefined, 'a rolled-back checkpoint must not be seen');

    await inTransaction(db, [fx.store.checkpointStatement('fill', owner, 'committed', { done: 10, total: 100 })]);
    await inTransaction(db, [fx.store.checkpointStatement('fill', owner, 'rolled back', { done: 20, total: 100 })], 'ROLLBACK');
    await rejects(inTransaction(db, [fx.store.checkpointStatement('fill', owner, 'failed', { done: 30, total: 100 }), 'SELECT 1/0']));
    const cp = (await fx.store.load()).get('fill')?.checkpoint;
    assert.is(cp?.value, 'committed', 'the last committed checkpoint stays');
    assert.is(cp?.done, 10);
  });

  t('5. a later checkpointStatement() replaces the earlier: one checkpoint per step, steps independent', async ({ fx }) => {
    const db = needDb(fx, 'run checkpointStatement() inside a transaction');
    await fx.store.init();
    await fx.store.record(ev('a', 'started'));
    await fx.store.record(ev('b', 'started'));
    await inTransaction(db, [fx.store.checkpointStatement('a', owner, { n: 1 }, { done: 10, total: 100 })]);
    await inTransaction(db, [fx.store.checkpointStatement('b', owner, { n: 'b' }, { done: 5, total: 50 })]);
    const first = (await fx.store.load()).get('a')!.checkpoint!;
    await sleep(20);
    const other = 'contract-host:4343:def456';
    await inTransaction(db, [fx.store.checkpointStatement('a', other, { n: 2 }, { done: 20, total: 100 })]);
    const second = (await fx.store.load()).get('a')!.checkpoint!;
    assert.equal(second.value, { n: 2 }, 'the later value wins');
    assert.is(second.done, 20);
    assert.is(second.total, 100);
    assert.is(second.owner, other, 'and its owner');
    assert.ok(second.at.getTime() >= first.at.getTime(), 'at moves forward');
    // Twice in one transaction: the last one counts.
    await inTransaction(db, [fx.store.checkpointStatement('a', owner, { n: 3 }), fx.store.checkpointStatement('a', owner, { n: 4 }, { done: 40, total: 100 })]);
    const third = (await fx.store.load()).get('a')!.checkpoint!;
    assert.equal(third.value, { n: 4 });
    assert.is(third.done, 40);
    const b = (await fx.store.load()).get('b')!.checkpoint!;
    assert.equal([b.value, b.done, b.total], [{ n: 'b' }, 5, 50], "another step's checkpoint is untouched");
  });

  t('5. a done recordStatement() clears the checkpoint (it stays cleared); interrupted and failed keep it', async ({ fx }) => {
    const db = needDb(fx, 'run recordStatement() inside a transaction');
    await fx.store.init();
    await fx.store.record(ev('fill', 'started'));
    await inTransaction(db, [fx.store.checkpointStatement('fill', owner, 40, { done: 40, total: 100 })]);
    await inTransaction(db, [fx.store.recordStatement(ev('fill', 'interrupted', { checkpoint: 40, error: 'SIGTERM' }))]);
    assert.is((await fx.store.load()).get('fill')?.checkpoint?.value, 40, 'interrupted keeps the checkpoint (the next run resumes from it)');
    await fx.store.record(ev('fill', 'started'));
    await inTransaction(db, [fx.store.checkpointStatement('fill', owner, 60, { done: 60, total: 100 })]);
    await fx.store.record(ev('fill', 'failed', { error: 'boom' }));
    assert.is((await fx.store.load()).get('fill')?.checkpoint?.value, 60, 'failed keeps the checkpoint');

    await fx.store.record(ev('fill', 'started'));
    await inTransaction(db, [fx.store.recordStatement(ev('fill', 'done', { checksum: 'rolled back' }))], 'ROLLBACK');
    assert.is((await fx.store.load()).get('fill')?.checkpoint?.value, 60, 'a rolled-back done clears nothing');

    await inTransaction(db, [fx.store.checkpointStatement('fill', owner, 100, { done: 100, total: 100 }), fx.store.recordStatement(ev('fill', 'done', { checksum: 'c' }))]);
    const done = (await fx.store.load()).get('fill');
    assert.is(done?.latest.event, 'done');
    assert.is(done?.checkpoint, undefined, 'done clears the checkpoint');
    // Cleared, not hidden: a later run of the step (a rerun) starts with no checkpoint.
    await fx.store.record(ev('fill', 'started'));
    assert.is((await fx.store.load()).get('fill')?.checkpoint, undefined, 'the checkpoint is gone, not just hidden behind the done event');
  });

  t('3, 5. recordStatement() and checkpointStatement() are ONE statement each', async ({ fx }) => {
    const db = needDb(fx, 'run the statements through a one-statement driver call');
    // The check only means something if the driver call really takes one statement.
    await rejects(
      db.withSession((s) => s.query('SELECT 1; SELECT 2', [])),
      /./,
    ).catch(() => {
      throw new Error('the suite needs Session.query(sql, []) to reject a multi-statement string (as the extended protocol does); this Database runs it');
    });
    await fx.store.init();
    const text = `a'b; "c" \\ $$ -- not a comment`;
    const stmts = [
      fx.store.recordStatement(ev('one', 'started', { checksum: text })),
      fx.store.checkpointStatement('one', owner, { cursor: text }, { done: 1, total: 3 }),
      fx.store.checkpointStatement('one', owner, 2),
      fx.store.recordStatement(ev('one', 'interrupted', { checksum: text, checkpoint: { cursor: text }, error: text })),
      fx.store.recordStatement(ev('one', 'failed', { checksum: text, error: text, lastRun: { v: text } })),
      fx.store.recordStatement(ev('one', 'done', { checksum: text, lastRun: { v: text } })),
    ];
    for (const [i, stmt] of stmts.entries()) {
      await inTransaction(db, [stmt]).catch((err: Error) => {
        throw new Error(`statement ${i + 1} is not one statement (or fails on its own): ${err.message}\n${stmt}`);
      });
      if (i === 2) assert.is((await fx.store.load()).get('one')?.checkpoint?.value, 2, 'the checkpoint was saved through the one-statement call');
    }
    const st = (await fx.store.load()).get('one');
    assert.is(st?.latest.event, 'done');
    assert.is(st?.checkpoint, undefined, 'the one-statement done cleared the checkpoint');
    assert.equal(
      (await fx.store.history({ step: 'one' })).map((e) => e.event),
      ['started', 'interrupted', 'failed', 'done'],
    );
  });

  return s;
}

/**
 * The Lock conformance suite (contract in `src/lock/lock.ts`). Returns the uvu suite
 * without running it: add hooks or tests, then call `.run()`. Takes about 10 s (one test
 * waits past the "every few seconds" `onWait` interval).
 *
 * @param name suite title, e.g. `advisory lock`
 * Beyond acquiring and waiting, it proves the main safety property: a lock taken away
 * from its holder (the fixture's `takeAway()`) is seen (`handle.lost`) and fences off the
 * holder's writes (`handle.fence` fails them with `LOCK_LOST_CODE`) in the fixture's `db`.
 *
 * @param name suite title, e.g. `advisory lock`
 * @param factory called before every test; `lock` must have a name no other test uses
 * @example
 * ```ts
 * const s = lockContract('advisory lock', async () => {
 *   const name = `contract-${randomBytes(4).toString('hex')}`;
 *   const dbs: Database[] = [];
 *   const open = async () => { const db = await openDatabase(url); dbs.push(db); return new AdvisoryLock(db, name); };
 *   const lock = await open();
 *   return {
 *     lock,
 *     second: open,
 *     db: dbs[0],
 *     // Terminate the holder's lock connection (named after its owner).
 *     takeAway: (h) => dbs[0]!.withSession((s) => s.exec(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE '%${h.owner}'`)),
 *     cleanup: async () => { for (const db of dbs) await db.close(); },
 *   };
 * });
 * s.run();
 * ```
 */
export function lockContract(name: string, factory: () => Promise<LockFixture>): Test<LockContext> {
  const s = suite<LockContext>(`Lock contract: ${name}`, {} as LockContext);
  s.before.each(async (ctx) => {
    ctx.fx = undefined as unknown as LockFixture;
    ctx.tracker = new AcquireTracker();
    ctx.fx = await timed(factory(), TEST_DEADLINE_MS, 'the factory');
  });
  s.after.each(async (ctx) => {
    const { fx, tracker } = ctx;
    ctx.fx = undefined as unknown as LockFixture;
    try {
      await tracker?.dispose();
    } finally {
      if (fx) await timed(fx.cleanup(), TEST_DEADLINE_MS, 'cleanup()');
    }
  });
  const t = withDeadline(s);

  t('4. holder() of a lock nobody ever took is undefined', async ({ fx }) => {
    assert.is(await fx.lock.holder(), undefined);
    assert.type(fx.lock.description, 'string');
    assert.ok(fx.lock.description.length > 0, 'description names the kind of lock');
  });

  t('1-4. acquire, holder() names the owner, release, holder() is undefined', async ({ fx, tracker }) => {
    const a = owner("O'Neil");
    const h = await tracker.take(fx.lock, { owner: a, timeoutMs: 5000 });
    assert.is(h.owner, a, 'handle.owner');
    assert.instance(h.lost, AbortSignal);
    assert.not.ok(h.lost.aborted, 'a fresh handle is not lost');
    const other = await fx.second();
    assert.is((await fx.lock.holder())?.owner, a, 'holder() on the same instance');
    assert.is((await other.holder())?.owner, a, 'holder() on another instance (another process)');
    const since = (await other.holder())?.since;
    if (since !== undefined) {
      assert.instance(since, Date);
      assert.ok(Math.abs(since.getTime() - Date.now()) < 120_000, `holder().since is about now, got ${since.toISOString()}`);
    }
    await timed(h.release(), 5000, 'release()');
    assert.is(await fx.lock.holder(), undefined, 'holder() after release (same instance)');
    assert.is(await other.holder(), undefined, 'holder() after release (other instance)');
    assert.not.ok(h.lost.aborted, 'a released handle was not lost');
  });

  t('1. a second acquirer times out with LockTimeoutError naming the holder', async ({ fx, tracker }) => {
    const a = owner('A');
    const h = await tracker.take(fx.lock, { owner: a, timeoutMs: 5000 });
    const other = await fx.second();
    const timeoutMs = 700;
    const t0 = Date.now();
    const err = await rejects(tracker.take(other, { owner: owner('B'), timeoutMs }));
    const elapsed = Date.now() - t0;
    assert.instance(err, LockTimeoutError, `expected LockTimeoutError, got ${err.name}: ${err.message}`);
    assert.ok(err.message.includes(a), `the message names the holder ${a}: ${err.message}`);
    assert.ok(elapsed >= timeoutMs, `gave up after ${elapsed} ms, before the timeout of ${timeoutMs} ms`);
    assert.ok(elapsed <= timeoutMs + 2000, `gave up after ${elapsed} ms, long after the timeout of ${timeoutMs} ms`);
    // The same instance cannot take it twice either (no re-entrance across acquires).
    await rejects(tracker.take(fx.lock, { owner: owner('A2'), timeoutMs: 0 }));
    assert.is((await other.holder())?.owner, a, 'the failed acquirers did not disturb the holder');
    assert.not.ok(h.lost.aborted);
  });

  t('1. timeoutMs 0 tries once', async ({ fx, tracker }) => {
    await tracker.take(fx.lock, { owner: owner('A'), timeoutMs: 5000 });
    const other = await fx.second();
    const t0 = Date.now();
    const err = await rejects(tracker.take(other, { owner: owner('B'), timeoutMs: 0 }));
    assert.instance(err, LockTimeoutError);
    assert.ok(Date.now() - t0 < 2000, `timeoutMs 0 took ${Date.now() - t0} ms`);
  });

  t('2. release() is idempotent and never releases a later holder', async ({ fx, tracker }) => {
    const h = await tracker.take(fx.lock, { owner: owner('A'), timeoutMs: 5000 });
    await timed(h.release(), 5000, 'release()');
    await timed(h.release(), 5000, 'second release()');
    const other = await fx.second();
    const b = owner('B');
    const hb = await tracker.take(other, { owner: b, timeoutMs: 5000 });
    await timed(h.release(), 5000, 'third release() while someone else holds it');
    assert.is((await fx.lock.holder())?.owner, b, "A's late release() must not free B's lock");
    const third = await fx.second();
    await rejects(tracker.take(third, { owner: owner('C'), timeoutMs: 0 }), /./);
    assert.not.ok(hb.lost.aborted);
  });

  t('1. after release another instance acquires it', async ({ fx, tracker }) => {
    const h = await tracker.take(fx.lock, { owner: owner('A'), timeoutMs: 5000 });
    await h.release();
    const other = await fx.second();
    const b = owner('B');
    const t0 = Date.now();
    const hb = await tracker.take(other, { owner: b, timeoutMs: 0 });
    assert.ok(Date.now() - t0 < 2000);
    assert.is(hb.owner, b);
    assert.is((await fx.lock.holder())?.owner, b);
    // And back again on the first instance.
    await hb.release();
    const again = await tracker.take(fx.lock, { owner: owner('A'), timeoutMs: 0 });
    assert.not.ok(again.lost.aborted);
  });

  t('1. a waiter gets the lock once the holder releases, and reports onWait every few seconds', async ({ fx, tracker }) => {
    const a = owner('A');
    const h = await tracker.take(fx.lock, { owner: a, timeoutMs: 5000 });
    const other = await fx.second();
    const b = owner('B');
    const waits: Array<{ at: number; holder: LockHolder | undefined; waitedMs: number }> = [];
    const holdMs = 3300;
    const t0 = Date.now();
    const waiting = tracker.take(other, {
      owner: b,
      timeoutMs: 20_000,
      onWait: (holder, waitedMs) => waits.push({ at: Date.now(), holder, waitedMs }),
    });
    let settled = false;
    void waiting.then(
      () => (settled = true),
      () => (settled = true),
    );
    await sleep(holdMs);
    assert.not.ok(settled, 'the waiter must not get (or give up on) a held lock');
    assert.not.ok(h.lost.aborted, 'the holder kept it while the waiter waited');
    await h.release();
    const hb = await waiting;
    const elapsed = Date.now() - t0;
    assert.ok(elapsed >= holdMs, `acquired after ${elapsed} ms, before the holder released`);
    assert.ok(elapsed <= holdMs + 2500, `acquired ${elapsed - holdMs} ms after the release; expected within 2.5 s`);
    assert.is(hb.owner, b);
    assert.is((await fx.lock.holder())?.owner, b);
    assert.ok(waits.length >= 1, `onWait was never called in ${holdMs} ms of waiting`);
    assert.ok(
      waits.some((w) => w.holder?.owner === a),
      `onWait names the holder: ${JSON.stringify(waits.map((w) => w.holder))}`,
    );
    for (const w of waits) {
      assert.ok(w.holder === undefined || w.holder.owner === a, `onWait named ${w.holder?.owner}, not the holder ${a}`);
      assert.ok(w.waitedMs >= 0 && w.waitedMs <= Date.now() - t0 + 50, `waitedMs ${w.waitedMs} is plausible`);
    }
    for (let i = 1; i < waits.length; i++) {
      assert.ok(waits[i]!.at - waits[i - 1]!.at >= 900, `onWait called twice within ${waits[i]!.at - waits[i - 1]!.at} ms: at most every few seconds`);
      assert.ok(waits[i]!.waitedMs >= waits[i - 1]!.waitedMs, 'waitedMs grows');
    }
  });

  t('1. an already-aborted signal gives up promptly', async ({ fx, tracker }) => {
    const a = owner('A');
    await tracker.take(fx.lock, { owner: a, timeoutMs: 5000 });
    const other = await fx.second();
    const t0 = Date.now();
    await rejects(tracker.take(other, { owner: owner('B'), timeoutMs: 30_000, signal: AbortSignal.abort() }));
    assert.ok(Date.now() - t0 < 2000, `gave up after ${Date.now() - t0} ms`);
    assert.is((await fx.lock.holder())?.owner, a);
  });

  t('1. aborting the signal stops a waiting acquire', async ({ fx, tracker }) => {
    const a = owner('A');
    await tracker.take(fx.lock, { owner: a, timeoutMs: 5000 });
    const other = await fx.second();
    const ac = new AbortController();
    const t0 = Date.now();
    setTimeout(() => ac.abort(), 400).unref();
    await rejects(tracker.take(other, { owner: owner('B'), timeoutMs: 30_000, signal: ac.signal }));
    const elapsed = Date.now() - t0;
    assert.ok(elapsed >= 350, `gave up after ${elapsed} ms, before the abort`);
    assert.ok(elapsed < 2500, `gave up ${elapsed - 400} ms after the abort; expected within ~2 s`);
    assert.is((await fx.lock.holder())?.owner, a);
  });

  t('3. a lock taken away: handle.lost aborts, and its fence fails a fenced write with LOCK_LOST_CODE', async ({ fx, tracker }) => {
    const db = fx.db;
    if (!db || typeof fx.takeAway !== 'function') {
      throw new Error('the factory returned no db or no takeAway(): the suite needs both to prove that a lost lock is seen (handle.lost) and fences off writes (handle.fence)');
    }
    const a = owner('A');
    const h = await tracker.take(fx.lock, { owner: a, timeoutMs: 5000 });
    assert.type(h.fence, 'string', 'the handle has a fence (an SQL condition): without one a run that lost its lock keeps committing');
    const fence = fenceStatement(h.fence!);
    await timed(fencedWrite(db, fence), 10_000, 'a fenced write while the lock is held');
    assert.not.ok(h.lost.aborted, 'a fenced write does not lose the lock');
    await timed(fx.takeAway(h), TAKE_AWAY_MS, 'takeAway()');
    const ms = await untilAborted(h.lost, TAKE_AWAY_MS);
    assert.ok(ms >= 0, 'handle.lost aborted');
    const reason = h.lost.reason as Error | undefined;
    assert.ok(reason instanceof Error && reason.message.length > 0, `handle.lost aborts with an Error saying why, got ${String(reason)}`);
    const err = await rejects(timed(fencedWrite(db, fence), 10_000, 'a fenced write after the lock was taken away'));
    assert.ok(codes(err).includes(LOCK_LOST_CODE), `the fenced write fails with SQLSTATE ${LOCK_LOST_CODE}, got ${codes(err).join(', ') || 'no code'}: ${err.message}`);
    await timed(h.release(), 10_000, 'release() of a lost handle');
  });

  t('1. five instances racing: exactly one wins, at every moment', async ({ fx, tracker }) => {
    const locks = [fx.lock];
    for (let i = 1; i < 5; i++) locks.push(await fx.second());

    // All at once, trying once: exactly one wins.
    const once = await Promise.allSettled(locks.map((l, i) => tracker.take(l, { owner: owner(`R${i}`), timeoutMs: 0 })));
    const won = once.filter((r) => r.status === 'fulfilled') as PromiseFulfilledResult<LockHandle>[];
    assert.is(won.length, 1, `exactly one of 5 simultaneous acquirers wins, ${won.length} did`);
    for (const r of once) if (r.status === 'rejected') assert.instance(r.reason, LockTimeoutError, String(r.reason));
    await won[0]!.value.release();

    // Rounds: each instance takes it three times; never two inside at once.
    let inside = 0;
    let most = 0;
    let turns = 0;
    const problems: string[] = [];
    await Promise.all(
      locks.map(async (l, i) => {
        for (let r = 0; r < 3; r++) {
          const me = owner(`W${i}r${r}`);
          const h = await tracker.take(l, { owner: me, timeoutMs: 20_000 });
          inside++;
          most = Math.max(most, inside);
          turns++;
          const seen = (await l.holder())?.owner;
          if (seen !== me) problems.push(`holder() said ${seen} while ${me} held it`);
          await sleep(20);
          if (h.lost.aborted) problems.push(`${me} lost it: ${String(h.lost.reason)}`);
          inside--;
          await h.release();
        }
      }),
    );
    assert.is(most, 1, `at most one holder at a time, saw ${most}`);
    assert.is(turns, 15);
    assert.equal(problems, []);
    assert.is(await fx.lock.holder(), undefined, 'free at the end');
  });

  return s;
}

/**
 * Tracks a test's acquires so that nothing outlives the test: after each test the
 * pending ones are aborted and awaited, and every handle obtained is released (a held
 * advisory lock keeps a connection, and so the process, alive). `lockContract` gives each
 * test one as `ctx.tracker`; use it in tests you add to that suite.
 * @example
 * ```ts
 * const suite = lockContract('my lock', factory);
 * suite('my extra test', async ({ fx, tracker }) => {
 *   const h = await tracker.take(fx.lock, { owner: 'me', timeoutMs: 1000 });
 *   // no release needed if an assertion fails: the tracker releases h after the test
 * });
 * ```
 */
export class AcquireTracker {
  private readonly ac = new AbortController();
  private readonly pending = new Set<Promise<unknown>>();
  private readonly handles: LockHandle[] = [];

  /** `lock.acquire(options)`, with the test's abort signal merged in. */
  take(lock: Lock, o: AcquireOptions): Promise<LockHandle> {
    const signal = o.signal ? anySignal(o.signal, this.ac.signal) : this.ac.signal;
    const p = lock.acquire({ ...o, signal }).then((h) => {
      this.handles.push(h);
      return h;
    });
    this.pending.add(p);
    p.then(
      () => this.pending.delete(p),
      () => this.pending.delete(p),
    );
    return p;
  }

  /** Abort the pending acquires, wait for them, release every handle (bounded). */
  async dispose(): Promise<void> {
    this.ac.abort();
    await Promise.allSettled([...this.pending]);
    await Promise.allSettled(this.handles.map((h) => timed(h.release(), 10_000, 'release()').catch(() => undefined)));
  }
}

/**
 * The promise twin of `assert.throws`: resolves with the error `p` rejected with (and
 * checks its message against `match`), fails when `p` resolves.
 * @example const err = await rejects(lock.acquire({ owner, timeoutMs: 0 }), /held by/);
 */
export async function rejects(p: Promise<unknown>, match?: RegExp): Promise<Error> {
  try {
    await p;
  } catch (err) {
    const e = err instanceof Error ? err : new Error(String(err));
    if (match && !match.test(e.message)) throw new Error(`rejected with "${e.message}", expected ${match}`);
    return e;
  }
  throw new Error('expected the promise to reject, it resolved');
}

/** A hung store or lock fails its test instead of stalling the whole file. */
const TEST_DEADLINE_MS = 30_000;

/** How long `takeAway()`, and then noticing the loss, may take each. */
const TAKE_AWAY_MS = 10_000;

/**
 * One write in a transaction, behind `fence` (as the engine writes a step's work and its
 * record): a temporary table of the transaction's own, so nothing is left behind.
 */
async function fencedWrite(db: Database, fence: string): Promise<void> {
  await db.withSession(async (s) => {
    try {
      await s.exec(`BEGIN;\nCREATE TEMP TABLE zsetup_contract_fenced (x int) ON COMMIT DROP;\n${fenced(fence, 'INSERT INTO zsetup_contract_fenced VALUES (1)')};\nCOMMIT;`);
    } catch (err) {
      await s.exec('ROLLBACK').catch(() => undefined);
      throw err;
    }
  });
}

/** Every SQLSTATE-like `code` along an error's cause chain. */
function codes(err: unknown): string[] {
  const out: string[] = [];
  for (let e = err as { code?: unknown; cause?: unknown } | undefined, i = 0; e && i < 10; e = e.cause as typeof e, i++) {
    if (typeof e.code === 'string') out.push(e.code);
  }
  return out;
}

/** Milliseconds until `signal` aborts; fails after `ms`. */
async function untilAborted(signal: AbortSignal, ms: number): Promise<number> {
  const t0 = Date.now();
  while (!signal.aborted) {
    if (Date.now() - t0 > ms) throw new Error(`handle.lost did not abort within ${ms} ms of takeAway()`);
    await sleep(20);
  }
  return Date.now() - t0;
}

/** The suite's `test(name, fn)`, with every test bounded by TEST_DEADLINE_MS. */
function withDeadline<T>(s: Test<T>): (name: string, fn: (ctx: T) => Promise<void>) => void {
  return (name, fn) => s(name, (ctx) => timed(fn(ctx), TEST_DEADLINE_MS, `the test "${name}"`));
}

function needDb(fx: StateStoreFixture, why: string): Database {
  if (!fx.db) throw new Error(`the factory returned no db: the suite needs it to ${why}`);
  return fx.db;
}

/** Schemas and relations, to prove that a call created or dropped nothing. */
async function catalog(db: Database): Promise<unknown> {
  return db.withSession((s) =>
    s.query(`SELECT
      (SELECT string_agg(nspname, ',' ORDER BY nspname) FROM pg_namespace WHERE nspname NOT LIKE 'pg_temp%' AND nspname NOT LIKE 'pg_toast_temp%') AS schemas,
      (SELECT string_agg(c.oid::regclass::text, ',' ORDER BY c.oid) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_t%') AS relations`),
  );
}

function assertIncreasing(events: readonly RecordedEvent[]): void {
  for (let i = 1; i < events.length; i++) {
    assert.ok(events[i]!.id > events[i - 1]!.id, `ids increase: ${events[i - 1]!.id} then ${events[i]!.id}`);
    assert.ok(events[i]!.at.getTime() >= events[i - 1]!.at.getTime(), 'at never goes back');
  }
}

/** `contract:<tag>:<random>`: short enough for PostgreSQL's 63-byte application_name. */
function owner(tag: string): string {
  return `contract:${tag}:${randomBytes(3).toString('hex')}`;
}

async function timed<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Aborted when either is (AbortSignal.any needs Node 20.3). */
function anySignal(a: AbortSignal, b: AbortSignal): AbortSignal {
  if (a.aborted) return a;
  if (b.aborted) return b;
  const ac = new AbortController();
  const onA = () => ac.abort(a.reason);
  const onB = () => ac.abort(b.reason);
  a.addEventListener('abort', onA, { once: true });
  b.addEventListener('abort', onB, { once: true });
  ac.signal.addEventListener('abort', () => {
    a.removeEventListener('abort', onA);
    b.removeEventListener('abort', onB);
  }, { once: true });
  return ac.signal;
}

