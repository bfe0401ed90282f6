/**
 * The `events2` plugin: step kind `events2.move`, ZITADEL's step 14_events_push done in
 * resumable units (see move.ts). On the public plugin API only.
 *
 *   import { events2, eventsMove } from './plugins/events2/index.js';
 *   export default defineConfig({ plugins: [events2()], steps: [eventsMove(), ...] });
 *
 * and, opt-in, the step that drops the legacy table the move keeps (`eventsDropOld()`).
 */
import { Tokens, type Plugin, type StepDefinition, type StepKind } from 'zsetup/plugin';
import { joinCopy, moveEvents, MEMORY_SIZE } from './move.js';
import { dropEventsOld } from './drop-old.js';

export { moveEvents, sortMemory, type MoveCheckpoint, type MoveResult } from './move.js';
export { dropEventsOld as runDropEventsOld } from './drop-old.js';

export interface EventsMoveStep extends StepDefinition {
  readonly kind: 'events2.move';
  /** Pages of the legacy table per unit (default 128, about 10 ms of copying; a batch claims several). */
  readonly unitPages?: number;
  /** Sessions copying at once (default 2). */
  readonly workers?: number;
  /**
   * `maintenance_work_mem` of each of the four index builds, a PostgreSQL size such as '64MB'.
   * Default: the least that sorts in one merge pass for the copy's size, at least 8 MB (see
   * sortMemory: small sorts were measured faster than the server's 64 MB).
   */
  readonly buildMemory?: string;
}

/** The move of the legacy eventstore.events to events2, under ZITADEL's step name. */
export function eventsMove(name = '14_events_push', o: { after?: string[]; description?: string; unitPages?: number; workers?: number; buildMemory?: string } = {}): EventsMoveStep {
  return {
    kind: 'events2.move',
    name,
    description: o.description ?? 'moves a legacy eventstore.events into events2 in resumable units (nothing to do on a new installation)',
    ...(o.after ? { after: o.after } : {}),
    ...(o.unitPages !== undefined ? { unitPages: o.unitPages } : {}),
    ...(o.workers !== undefined ? { workers: o.workers } : {}),
    ...(o.buildMemory !== undefined ? { buildMemory: o.buildMemory } : {}),
  };
}

/** A size MEMORY_SIZE accepts, in kB. */
const kB = (size: string) => parseInt(size, 10) * ({ kB: 1, MB: 1024, GB: 1024 * 1024 } as Record<string, number>)[size.replace(/^[0-9]+/, '')]!;

export const eventsMoveKind: StepKind<EventsMoveStep> = {
  kind: 'events2.move',
  fields: {
    unitPages: 'pages of the legacy table per unit (an integer >= 1; default 128)',
    workers: 'sessions copying at once (an integer >= 1; default 2)',
    buildMemory: "maintenance_work_mem of each index build, such as '64MB' (kB, MB or GB; default: the least that sorts in one merge pass, at least 8MB)",
  },
  // Each unit commits with its checkpoint; the indexes and the switch are idempotent.
  traits: { transaction: 'never', resumable: 'always', repeatable: false },
  prepare(def, ctx) {
    for (const f of ['unitPages', 'workers'] as const) {
      if (def[f] !== undefined && (!Number.isInteger(def[f]) || def[f] < 1)) ctx.problem(f, `expected an integer >= 1, got ${JSON.stringify(def[f])}`);
    }
    if (def.buildMemory !== undefined && (typeof def.buildMemory !== 'string' || !MEMORY_SIZE.test(def.buildMemory) || kB(def.buildMemory) < 1024 || kB(def.buildMemory) > 2147483647)) {
      ctx.problem('buildMemory', `expected a PostgreSQL memory size of at least 1MB and at most 2147483647kB such as '64MB' (a whole number and kB, MB or GB), got ${JSON.stringify(def.buildMemory)}`);
    }
    // What it does is the code of this plugin: its identity is the layout it produces.
    return { source: def.version !== undefined ? `version:${def.version}` : 'events2.move: ZITADEL 14_events_push layout, v1' };
  },
  // An apply waiting for the run lock while another process copies takes units nobody holds.
  async join(_def, ctx) {
    const pages = await joinCopy(ctx);
    if (pages > 0) ctx.log(`joined the copy: ${pages} pages`);
  },
  async run(def, ctx) {
    const r = await moveEvents(ctx, { unitPages: def.unitPages, workers: def.workers, buildMemory: def.buildMemory });
    if (r.skipped) ctx.log(r.skipped);
    else if (r.rows !== undefined) ctx.log(`${r.rows} events moved to eventstore.events2 in ${((r.ms ?? 0) / 1000).toFixed(1)} s; eventstore.events_old keeps the legacy table`);
  },
};

export interface EventsDropOldStep extends StepDefinition {
  readonly kind: 'events2.drop-old';
}

/**
 * Opt-in: drop eventstore.events_old, the legacy table the move keeps, once nothing reads it.
 * Refuses until the move has switched, and when events2 holds fewer rows than events_old.
 */
export function eventsDropOld(name = '14_events_drop_old', o: { after?: string[]; description?: string } = {}): EventsDropOldStep {
  return {
    kind: 'events2.drop-old',
    name,
    description: o.description ?? 'drops eventstore.events_old, the legacy table the events2 move keeps (opt-in)',
    after: o.after ?? ['14_events_push'],
  };
}

export const eventsDropOldKind: StepKind<EventsDropOldStep> = {
  kind: 'events2.drop-old',
  fields: {},
  // One DROP TABLE after two counts: nothing to resume; not repeatable (a later events_old is not this one).
  traits: { transaction: 'never', resumable: 'never', repeatable: false },
  prepare(def) {
    return { source: def.version !== undefined ? `version:${def.version}` : 'events2.drop-old: DROP TABLE eventstore.events_old after the move, v1' };
  },
  async run(_def, ctx) {
    const r = await dropEventsOld(ctx);
    ctx.log(r.skipped ?? `dropped eventstore.events_old (${r.rows} legacy rows; eventstore.events2 holds them all)`);
  },
};

export function events2(): Plugin {
  return {
    name: 'events2',
    register(c) {
      c.register(Tokens.StepKind, { useValue: eventsMoveKind });
      c.register(Tokens.StepKind, { useValue: eventsDropOldKind });
    },
  };
}
