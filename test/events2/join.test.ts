/**
 * Two `zsetup apply` processes on one legacy database (the real CLI): the second, started
 * after the first saved its first checkpoint, waits for the run lock and joins the copy of the
 * events2 move (StepKind.join: it claims units nobody holds and copies their pages); both exit
 * 0 and events2 equals ZITADEL's statements' result.
 *
 * A copy of 20,000 events takes well under a second, less than a second apply needs to start
 * and to look at the journal: left to timing, the first would often finish the copy alone. So
 * the test holds the copy open through the units' row locks, the same locks the step's own
 * claims take (FOR UPDATE; the step claims with SKIP LOCKED), and synchronises on rows only:
 * 1. once the units exist (the first checkpoint), one transaction of the test locks the lowest
 *    free unit L, then, after a savepoint, every other free unit;
 * 2. the first apply copies what it had claimed, finds nothing free, and waits for L (its wait
 *    for units another session holds): seen in pg_stat_activity;
 * 3. the second apply starts, waits for the lock and joins (its output says so);
 * 4. the savepoint is rolled back: the other units are free while the first still waits for L,
 *    so they can only be copied by the second (its log "joined the copy: N pages"; the units
 *    table shows them done while L is still held);
 * 5. commit: the first takes L and ends the move (indexes, verification, switch).
 * The join is asserted, never assumed: the pages the second reports are at least those of the
 * units released in 4. Only when the first apply copied the whole table before the test could
 * lock two free units (a machine so loaded that the test's polling stalled for the whole
 * copy), the round is repeated on a fresh database, at most 3 times.
 */
import * as assert from 'uvu/assert';
import pg from 'pg';
import { createDb, dbEachSuite, dir, startCli, type CliResult, type DbCtx, type TestDb } from '../helpers.js';
import { until, waitFor } from '../interrupt/util.js';
import { fingerprint, legacy, moveConfig, reference } from './util.js';

const t = dbEachSuite('events2: a second apply joins the copy');
const EVENTS = 20_000;
const UNITS = 'eventstore.events2_move_units';

interface Joined {
  first: CliResult;
  second: CliResult;
  /** The pages of the units the test released while the first waited: only the second could copy them. */
  released: number;
}

/** One round on `db` (see the module comment); 'missed' when the first copied everything before the test held two free units. */
async function twoApplies(db: TestDb, cwd: string): Promise<Joined | 'missed'> {
  const gate = new pg.Client({ connectionString: db.url, application_name: 'zs_test_join_gate' });
  await gate.connect();
  const first = startCli(['apply'], { cwd, url: db.url, timeoutMs: 180_000 });
  let second: ReturnType<typeof startCli> | undefined;
  try {
    // 1. The units as soon as they exist: the lowest free one, then (savepoint) the other free ones.
    let held: { low: number; rest: number[] } | undefined;
    const t0 = Date.now();
    while (!held) {
      if (first.child.exitCode !== null || first.child.signalCode !== null) break;
      if (Date.now() - t0 > 120_000) throw new Error('the first apply made no units within 120 s');
      await gate.query('BEGIN');
      try {
        const low = await gate.query<{ unit: number }>(`SELECT unit FROM ${UNITS} WHERE NOT done ORDER BY unit LIMIT 1 FOR UPDATE SKIP LOCKED`);
        await gate.query('SAVEPOINT rest');
        // (SKIP LOCKED skips other sessions' locks, not this transaction's own: L is left out by name.)
        const rest = await gate.query<{ unit: number }>(`SELECT unit FROM ${UNITS} WHERE NOT done AND unit <> $1 ORDER BY unit FOR UPDATE SKIP LOCKED`, [low.rows[0]?.unit ?? -1]);
        held = { low: low.rows[0]?.unit ?? -1, rest: rest.rows.map((r) => r.unit) };
      } catch (err) {
        await gate.query('ROLLBACK');
        if ((err as { code?: string }).code !== '42P01') throw err;
        // Not made yet (the first apply is starting): look again at once.
        await new Promise((r) => setTimeout(r, 2));
      }
    }
    if (!held || held.low < 0 || held.rest.length === 0) {
      if (held) await gate.query('ROLLBACK');
      const r = await first.done;
      assert.is(r.code, 0, r.stdout + r.stderr);
      return 'missed';
    }
    // 2. The first apply waits for L (its wait for units another session holds): a backend the
    //    test's blocks (the step's claims skip locked units: only that wait can be blocked).
    await until(
      async () =>
        (
          await gate.query<{ n: number }>(
            `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND pg_backend_pid() = ANY(pg_blocking_pids(pid))`,
          )
        ).rows[0]!.n >= 1,
      60_000,
      'the first apply waiting for the unit the test holds',
    );
    // 3. The second apply starts, waits for the run lock, and joins.
    second = startCli(['apply'], { cwd, url: db.url, timeoutMs: 180_000 });
    await waitFor(second.child, /joining the run of/, 60_000);
    // 4. The other units free while the first still waits for L: the second copies them.
    const [{ pages }] = (
      await gate.query<{ pages: number }>(`SELECT coalesce(sum(end_page - first_page), 0)::int AS pages FROM ${UNITS} WHERE unit = ANY($1::int[])`, [held.rest])
    ).rows as [{ pages: number }];
    await gate.query('ROLLBACK TO SAVEPOINT rest');
    await until(async () => (await gate.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${UNITS} WHERE NOT done AND unit = ANY($1::int[])`, [held.rest])).rows[0]!.n === 0, 60_000, 'the released units copied');
    const [{ low }] = (await gate.query<{ low: boolean }>(`SELECT NOT done AS low FROM ${UNITS} WHERE unit = $1`, [held.low])).rows as [{ low: boolean }];
    assert.ok(low, 'the unit the test holds is not copied yet');
    // 5. The first takes L and ends the move.
    await gate.query('COMMIT');
    const [a, b] = await Promise.all([first.done, second.done]);
    return { first: a, second: b, released: pages };
  } finally {
    await gate.end().catch(() => undefined);
    for (const r of [first, second]) if (r && r.child.exitCode === null && r.child.signalCode === null) r.child.kill('SIGKILL');
  }
}

t('a second apply, started after the first checkpoint, joins the copy (copies pages nobody else could), both exit 0, events2 equals ZITADEL\'s', async (ctx: DbCtx) => {
  // Units of 2 pages, one session: the copy is hundreds of small claims.
  const d = dir(ctx, { 'zsetup.config.ts': moveConfig('{ unitPages: 2, workers: 1 }') });
  let r: Joined | 'missed' = 'missed';
  for (let attempt = 1; attempt <= 3 && r === 'missed'; attempt++) {
    const db = attempt === 1 ? ctx.db : await createDb();
    try {
      await legacy(db, EVENTS);
      r = await twoApplies(db, d.dir);
      if (r !== 'missed') {
        const out = (x: CliResult) => x.stdout + x.stderr;
        assert.is(r.first.code, 0, out(r.first));
        assert.is(r.second.code, 0, out(r.second));
        assert.match(r.first.stdout, /14_events_push: \d+ events moved to eventstore\.events2 in/);
        assert.match(r.second.stdout, /joining the run of /);
        const joined = [...r.second.stdout.matchAll(/joined the copy: (\d+) pages/g)].reduce((a, m) => a + Number(m[1]), 0);
        assert.ok(joined > 0 && joined >= r.released, `the second apply copied ${joined} pages; the units released while the first waited hold ${r.released}:\n${out(r.second)}`);
        assert.equal(await fingerprint(db), await reference(EVENTS));
        assert.equal(await db.query(`SELECT to_regclass('eventstore.events_old') IS NOT NULL AS kept, to_regclass('${UNITS}') IS NULL AS clean`), [{ kept: true, clean: true }]);
      }
    } finally {
      if (attempt > 1) await db.drop();
    }
  }
  assert.ok(r !== 'missed', 'in 3 rounds the first apply copied the whole table before the test held two free units');
});

t.run();
