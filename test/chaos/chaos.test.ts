/**
 * The short chaos run (CI): 8 seeded interruptions of all four kinds (SIGTERM, SIGKILL,
 * SIGSTOP until the lease expired, pg_terminate_backend) of real `apply` processes working
 * on a config with DDL, once-only, CREATE INDEX CONCURRENTLY, repeatable and a resumable
 * step writing 1,000,000 rows, on PostgreSQL with the lease lock. Nothing but `apply` is
 * ever run between interruptions. Every round must end with every row exactly once. At
 * least one interruption hits the fill after a committed batch (the runner waits for that
 * event when no earlier one did), so a resume is always among them.
 *
 * A smoke test, seeded: the long run (200+ interruptions) is bench/chaos.mjs.
 * Replay another schedule: ZSETUP_CHAOS_SEED=<seed> node test/run.mjs chaos
 * More: ZSETUP_CHAOS_INTERRUPTIONS=<n> (default 8), ZSETUP_CHAOS_ROWS=<n> (default 1000000).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createDb } from '../helpers.js';
import { KINDS, runChaos } from './runner.js';

const SEED = Number(process.env.ZSETUP_CHAOS_SEED ?? 20251125);
const INTERRUPTIONS = Number(process.env.ZSETUP_CHAOS_INTERRUPTIONS ?? 8);
const ROWS = Number(process.env.ZSETUP_CHAOS_ROWS ?? 1_000_000);

test(`chaos: ${INTERRUPTIONS} interruptions (seed ${SEED}), lease lock, ${ROWS} rows: none lost, none duplicated, no failure`, async () => {
  const db = await createDb();
  try {
    const r = await runChaos({ seed: SEED, interruptions: INTERRUPTIONS, url: db.url, lockKind: 'lease', leaseTtlMs: 1000, rows: ROWS, timeoutMs: 150_000 });
    assert.equal(r.failures, [], `seed ${SEED}: ${r.failures.length} failure(s):\n${r.failures.join('\n')}`);
    for (const k of KINDS) assert.ok(r.interruptions[k] > 0, `seed ${SEED}: no ${k} interruption was delivered`);
    assert.is(Object.values(r.interruptions).reduce((a, b) => a + b, 0), INTERRUPTIONS);
    assert.ok(r.rounds >= 1, 'at least one round done and verified');
    assert.is(r.rowsChecked, r.rounds * ROWS, 'every round: every row exactly once');
    assert.ok(r.resumes > 0, 'the fill was resumed from a checkpoint at least once');
    assert.is(r.manualActions, 0);
  } finally {
    await db.drop();
  }
});

test.run();
