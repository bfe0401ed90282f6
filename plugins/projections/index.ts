/**
 * The `projections` plugin: projection prefill as a step kind (`prefill`), on the public
 * plugin API only. A prefill step is named after the projection's table, as ZITADEL names
 * its steps (`projections.users14`); it creates the projection's tables if missing and
 * catches every instance up to the last event position at the time it starts, in batches
 * that fold their row changes into a few statements (fold.ts, prefill.ts).
 *
 * Runs only with `--init-projections` (the default, as in ZITADEL; `apply.initProjections`,
 * ZSETUP_INIT_PROJECTIONS); with `--no-init-projections`, `plan` shows the step skipped,
 * with the reason.
 *
 * @example
 * ```ts
 * import { defineConfig } from 'zsetup';
 * import { projections, prefill } from 'zsetup';
 * export default defineConfig({
 *   plugins: [projections()],
 *   steps: [prefill(users14, { after: ['17_add_offset_col_to_current_states'] })],
 * });
 * ```
 */
import { Tokens, type Plugin, type StepDefinition, type StepKind } from '../../src/plugin.js';
import type { ProjectionSpec } from './model.js';
import { filterOf, runPrefill, tablesDdl, type FailedEvent } from './prefill.js';

export type { ProjectionSpec, TableSpec, ColumnSpec, IndexSpec, StoredEvent, Change, Reducer, Row, CopyOf } from './model.js';
export { copyOf } from './model.js';
export { Prefill, runPrefill, drain, tablesDdl, STATE_TABLES_DDL, MAX_FAILURE_COUNT } from './prefill.js';
export { Folder, Tables, changeStatement } from './fold.js';

export interface PrefillStep extends StepDefinition {
  readonly projection: ProjectionSpec;
  /** Workers for this step (default: apply.prefillWorkers, else pool max / 4). */
  readonly workers?: number;
}

/** A prefill step of `projection`, named after its table. */
export function prefill(projection: ProjectionSpec, o: { after?: string[]; workers?: number; description?: string } = {}): PrefillStep {
  return { kind: 'prefill', name: projection.name, projection, ...o };
}

const prefillKind: StepKind<PrefillStep> = {
  kind: 'prefill',
  fields: { projection: 'a projection (tables and reducers)', workers: 'workers for this step (an integer >= 1)' },
  // Its batches commit with their checkpoints in projections.current_states; a stop loses
  // at most the batch in flight.
  traits: { transaction: 'never', resumable: 'always', repeatable: false },
  prepare(def, ctx) {
    const p = def.projection as ProjectionSpec | undefined;
    if (!p || typeof p !== 'object') {
      ctx.problem('projection', 'expected a projection: { name, tables, reducers }');
      return { source: '' };
    }
    if (typeof p.name !== 'string' || !/^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$/.test(p.name)) ctx.problem('projection.name', `expected a schema-qualified table name such as "projections.users14", got ${JSON.stringify(p.name)}`);
    if (!Array.isArray(p.tables) || p.tables.length === 0) ctx.problem('projection.tables', 'expected the projection\'s tables');
    else if (!p.tables.some((t) => t.name === p.name)) ctx.problem('projection.tables', `no table named ${p.name} (the projection is named after its main table)`);
    if (!p.reducers || typeof p.reducers !== 'object') ctx.problem('projection.reducers', 'expected { [aggregateType]: { [eventType]: (event) => changes } }');
    else {
      for (const [agg, byType] of Object.entries(p.reducers)) {
        for (const [type, fn] of Object.entries(byType ?? {})) if (typeof fn !== 'function') ctx.problem(`projection.reducers.${agg}.${type}`, 'expected a function (event) => changes');
      }
    }
    if (def.workers !== undefined && (!Number.isInteger(def.workers) || def.workers < 1)) ctx.problem('workers', `expected an integer >= 1, got ${JSON.stringify(def.workers)}`);
    // The table name carries the projection's version (ZITADEL: users14 -> users15), so the
    // identity is the tables and the events read, not the reducers' source.
    let source = '';
    try {
      source = JSON.stringify({ ddl: Array.isArray(p?.tables) ? tablesDdl(p.tables) : '', filter: p?.reducers ? filterOf(p) : {} });
    } catch (err) {
      ctx.problem('projection', (err as Error).message);
    }
    return { source: def.version !== undefined ? `version:${def.version}` : source };
  },
  off(_def, config) {
    return config.apply.initProjections ? undefined : 'projection prefill is off (--no-init-projections)';
  },
  // An apply waiting for the run lock while another process prefills takes instances
  // nobody holds (each batch claims its unit with ZITADEL's advisory lock and the
  // current_states row), until none is left.
  async join(def, ctx) {
    const r = await runPrefill(ctx, def.projection, { workers: def.workers, joining: true });
    if (r.events > 0) ctx.log(`joined: ${r.events} events over ${r.instances} instance(s) in ${(r.ms / 1000).toFixed(1)} s`);
  },
  async run(def, ctx) {
    const r = await runPrefill(ctx, def.projection, { workers: def.workers });
    if (ctx.signal.aborted) return;
    const rate = r.ms > 0 ? Math.round((r.events * 1000) / r.ms) : r.events;
    ctx.log(`${r.events} events over ${r.instances} instance(s) in ${(r.ms / 1000).toFixed(1)} s (${rate} events/s)`);
    if (r.failed.length > 0) ctx.log(`failed events: ${r.failed.map(describeFailed).join('; ')}`);
  },
};

function describeFailed(f: FailedEvent): string {
  return `${f.eventType} ${f.aggregateType}/${f.aggregateId} #${f.sequence} of instance ${f.instanceId}: ${f.error} (failure ${f.failureCount}${f.skipped ? ', skipped' : ''})`;
}

/** The plugin: registers the `prefill` step kind. */
export function projections(): Plugin {
  return {
    name: 'projections',
    register(c) {
      c.register(Tokens.StepKind, { useValue: prefillKind });
    },
  };
}
