/**
 * The opt-in step that drops `eventstore.events_old`, the legacy table the move keeps
 * (issue 12: the move itself never drops it). Declare it after the move once nothing reads
 * the legacy table any more (no binary from before events2 runs, backups taken):
 *
 *   steps: [eventsMove('14_events_push'), dropEventsOld('14_events_drop_old', { after: ['14_events_push'] })]
 *
 * It refuses while the move has not switched (eventstore.events still exists, or no events2),
 * and when events2 holds fewer rows than events_old (events2 only grows after the switch: fewer
 * means it is not the moved table). Nothing to do when events_old is gone.
 */
import type { StepContext } from 'zsetup/plugin';

export interface DropOldResult {
  skipped?: string;
  rows?: number;
}

export async function dropEventsOld(ctx: StepContext): Promise<DropOldResult> {
  const [e] = await ctx.query<{ old: boolean; legacy: boolean; events2: boolean; build: boolean }>(
    `SELECT to_regclass('eventstore.events_old') IS NOT NULL AS old, to_regclass('eventstore.events') IS NOT NULL AS legacy,
            to_regclass('eventstore.events2') IS NOT NULL AS events2, to_regclass('eventstore.events2_move') IS NOT NULL AS build`,
  );
  if (!e!.old) return { skipped: 'no eventstore.events_old: nothing to drop' };
  if (e!.legacy || !e!.events2 || e!.build) {
    throw new Error(
      'eventstore.events_old is kept: the move of the legacy events has not switched yet (eventstore.events or eventstore.events2_move exists, or no eventstore.events2). Run the move step (14_events_push) to its end first; this step comes after it',
    );
  }
  // The two counts at once, each by a parallel scan where the server allows it.
  const count = (table: string) => ctx.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`).then((r) => Number(r[0]!.n));
  const [old, now] = await Promise.all([count('eventstore.events_old'), count('eventstore.events2')]);
  if (now < old) {
    throw new Error(
      `eventstore.events_old is kept: it has ${old} rows and eventstore.events2 only ${now} (events2 only grows after the move, so it is not the moved table). Check which table holds the events before dropping anything by hand`,
    );
  }
  await ctx.transaction(async (tx) => {
    // Readers of events_old (a binary from before events2) would hold the drop for long: give up instead.
    await tx.exec(`SET LOCAL lock_timeout = '10s'; DROP TABLE eventstore.events_old`);
  });
  return { rows: old };
}
