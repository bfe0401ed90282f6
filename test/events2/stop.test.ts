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
import { dbEachSuite, rejects, type DbCtx } from '../helpers.js';
import { moveEvents } from '../../plugins/events2/index.js';
import { directStep, legacy } from './util.js';

const t = dbEachSuite('events2: a stop between the phases of the move');

t('a stop that arrives as the index phase begins starts no index build and no verification', async (ctx: DbCtx) => {
  await legacy(ctx.db, 3_000);
  // The stop arrives while the index phase's checkpoint commits (no statement of the step runs but this one).
  const d = directStep(ctx.db, (value) => {
    if (value.phase === 'indexes') d.abort(new Error('SIGTERM received'));
  });
  try {
    await rejects(moveEvents(d.step, { unitPages: 8 }), /SIGTERM received/);
    const started = d.late.filter((sql) => /CREATE (UNIQUE )?INDEX|hashtextextended/.test(sql));
    assert.equal(started, [], `sent after the stop:\n${started.join('\n')}`);
  } finally {
    await d.end();
  }
});

t.run();
