/**
 * Helpers for declaring ZITADEL's setup in zitadel.setup.ts: its SQL steps under ZITADEL's
 * names, the few whose Go decides around the SQL, and ZITADEL's order with its own steps
 * (external()) as side branches.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { file, repeatable, runScript, step, type StepContext, type StepDefinition } from 'zsetup';

const SQL_DIR = new URL('./sql/', import.meta.url);

/** A step's SQL file: plugins/zitadel/sql/<name>.sql. */
export const sqlFile = (name: string) => file(fileURLToPath(new URL(`${name}.sql`, SQL_DIR)));

/** A step of ZITADEL's setup written in SQL, under ZITADEL's name (`transaction: false` for CONCURRENTLY). */
export function sqlStep(name: string, description: string, o: { transaction?: boolean; after?: string[] } = {}): StepDefinition {
  return step(name, { description, sql: sqlFile(name), ...o });
}

/**
 * One of ZITADEL's count triggers (trigger_steps.go, internal/migration/count_trigger.sql):
 * its SQL is ZITADEL's template filled for `config`, and `config` is its lastRun, as ZITADEL
 * records it; a changed configuration runs it again (ZITADEL's Check compares them).
 */
export function countTrigger(name: string, description: string, config: Record<string, unknown>): StepDefinition {
  return repeatable(name, { description, sql: sqlFile(name), lastRun: () => config });
}

/**
 * A step that ZITADEL runs only when a projection relation exists, and whose statements
 * build indexes CONCURRENTLY (so the check cannot be a DO block around them): ask as
 * ZITADEL asks, then run the file as zsetup runs a script outside a transaction (an INVALID
 * index left by a killed build is dropped and built again). Without the relation it does
 * nothing, as ZITADEL (a new database: the projection is created later, with these indexes).
 */
export function whenRelationExists(name: string, description: string, relation: { schema: string; name: string; view?: boolean }): StepDefinition {
  const path = fileURLToPath(new URL(`${name}.sql`, SQL_DIR));
  const text = () => readFileSync(path, 'utf8');
  return step(name, {
    description,
    transaction: false,
    // The checksum: the file's content (a function step's code is not what changes).
    version: createHash('sha256').update(text()).digest('hex').slice(0, 16),
    run: async (ctx: StepContext) => {
      const [r] = await ctx.query<{ ok: boolean }>(
        `SELECT EXISTS (SELECT 1 FROM information_schema.${relation.view ? 'views' : 'tables'} WHERE table_schema = $1 AND table_name = $2) AS ok`,
        [relation.schema, relation.name],
      );
      if (!r?.ok) {
        ctx.log(`${relation.schema}.${relation.name} does not exist yet: nothing to do (as ZITADEL)`);
        return;
      }
      await runScript(text(), ctx);
    },
  });
}

/**
 * ZITADEL's order, with its own steps (external()) as side branches: each step runs after
 * the last step before it in the main line, the steps zsetup runs without naming an
 * `after`. A step that names its `after` (one that needs what an external step makes, and
 * so waits for ZITADEL to run it; the chain of batch C) is a branch of its own.
 */
export function inZitadelOrder(steps: readonly StepDefinition[]): StepDefinition[] {
  let last: string | undefined;
  return steps.map((s) => {
    if (s.after !== undefined) return s;
    const out = last === undefined ? s : { ...s, after: [last] };
    if (s.kind !== 'zitadel.external') last = s.name;
    return out;
  });
}

/** Steps that run one after the other, the first after `first` (a branch: batch C after projection_tables). */
export function chain(first: readonly string[], steps: readonly StepDefinition[]): StepDefinition[] {
  return steps.map((s, i) => ({ ...s, after: i === 0 ? [...first] : [steps[i - 1]!.name] }));
}
