/**
 * An example plugin: a new step kind, `seed`, that inserts rows into a table (idempotent:
 * existing keys are left alone). A run kind (its run() does the work) that always runs in
 * a transaction. It imports only zsetup/plugin, like the built-in plugins do.
 *
 * @example
 * plugins: [seedPlugin()],
 * steps: [seed('seed_roles', { table: 'app.roles', key: 'id', rows: [{ id: 1, name: 'admin' }] })]
 */
import { Tokens, type Plugin, type StepDefinition, type StepKind } from 'zsetup/plugin';

export interface SeedStep extends StepDefinition {
  readonly table: string;
  readonly key: string;
  readonly rows: readonly Record<string, unknown>[];
}

/** The builder users call in their config. */
export function seed(name: string, o: { table: string; key: string; rows: Record<string, unknown>[]; after?: string[] }): SeedStep {
  return { kind: 'seed', name, ...o };
}

const seedKind: StepKind<SeedStep> = {
  kind: 'seed',
  fields: { table: 'schema-qualified table name', key: 'the conflict column', rows: 'an array of row objects' },
  // Its rows go in with the step's done record, or not at all; a seed is never resumable.
  traits: { transaction: 'always', resumable: 'never', repeatable: true },
  prepare(def, ctx) {
    if (typeof def.table !== 'string' || def.table === '') ctx.problem('table', 'expected a table name such as "app.roles"');
    if (typeof def.key !== 'string' || def.key === '') ctx.problem('key', 'expected the name of the key column');
    if (!Array.isArray(def.rows) || def.rows.length === 0) ctx.problem('rows', 'expected a non-empty array of rows');
    // The checksum covers what defines the step: change the rows and it is drift.
    return { source: JSON.stringify({ table: def.table, key: def.key, rows: def.rows }) };
  },
  async run(def, ctx) {
    // ctx.db is the step's transaction (knex); identifiers are quoted by knex.
    await ctx.db(def.table).insert(def.rows).onConflict(def.key).ignore();
    ctx.log(`seeded ${def.rows.length} row(s) into ${def.table}`);
  },
};

/** The plugin factory: list `seedPlugin()` in the config's `plugins`. */
export function seedPlugin(): Plugin {
  return {
    name: 'seed',
    register(c) {
      c.register(Tokens.StepKind, { useValue: seedKind });
    },
  };
}
