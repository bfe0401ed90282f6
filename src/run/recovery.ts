/**
 * Recovery: a step whose latest record is `started` by another owner, seen while we hold
 * the run lock, is stuck by definition (the lock proves its owner is gone). It is recorded
 * `interrupted` (fenced, through the recorder, like every other record), with its last
 * checkpoint, so the next attempt resumes from there. No cleanup command by hand (ZITADEL's
 * setup left such steps `started` until an operator ran one: zitadel/zitadel PR #9736).
 */
import type { EngineEvents } from '../engine/events.js';
import type { Recorder } from '../engine/recorder.js';
import type { StateStore, StepState } from '../state/store.js';

/**
 * A step whose latest record is `started` by another owner, seen while we hold the lock,
 * is stuck by definition (the lock proves its owner is gone): record it interrupted. Not a
 * step another tool started (ZITADEL's own setup may be running it), unless `foreign`.
 */
export async function recoverStuck(
  store: StateStore,
  state: Map<string, StepState>,
  owner: string,
  events: EngineEvents,
  recorder: Pick<Recorder, 'record'>,
  o: StuckOptions = {},
): Promise<Map<string, StepState>> {
  const stuck = stuckSteps(state, owner, o);
  if (stuck.length === 0) return state;
  for (const s of stuck) {
    await recorder.record({
      step: s.step,
      event: 'interrupted',
      owner,
      checksum: s.latest.checksum,
      checkpoint: s.checkpoint?.value,
      error: `recovered: started by ${s.latest.owner} at ${s.latest.at.toISOString()}; that run is gone (we hold the lock)`,
    });
    events.emit({ type: 'step.recovered', step: s.step, previousOwner: s.latest.owner, startedAt: s.latest.at.toISOString() });
  }
  return store.load();
}

export interface StuckOptions {
  /**
   * Also another tool's `started` (a record with a `source`, ZITADEL's): the run lock does
   * not cover that tool, so only `cleanup`, asked for by an operator, takes it for stuck.
   */
  readonly foreign?: boolean;
}

/** Steps whose latest record is `started` by another owner (zsetup's, or with `foreign` any). */
export function stuckSteps(state: Map<string, StepState>, owner: string, o: StuckOptions = {}): StepState[] {
  return [...state.values()].filter((s) => s.latest.event === 'started' && s.latest.owner !== owner && (o.foreign === true || s.latest.source === undefined));
}

