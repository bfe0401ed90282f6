/**
 * The built-in step kinds, registered exactly like a user's plugin would:
 * - `sql`: SQL text or `file('x.sql')`, a script kind: the engine runs it, in one round
 *   trip with its state record when transactional, statement by statement otherwise
 *   (CREATE INDEX CONCURRENTLY).
 * - `function`: a TypeScript function receiving the step context.
 */
import { readFileSync } from 'node:fs';
import { resolve as resolvePath } from 'node:path';
import { Tokens, canonicalSql, isSqlFile, splitStatements, type Plugin, type StepDefinition, type StepKind } from '../../src/plugin.js';

interface SqlStep extends StepDefinition {
  readonly sql?: unknown;
  readonly file?: unknown;
}

/**
 * A script kind: the engine runs the SQL (in one round trip with the step's records when
 * transactional, statement by statement otherwise, as ZITADEL runs its steps in autocommit).
 */
export const sqlKind: StepKind<SqlStep> = {
  kind: 'sql',
  fields: { sql: 'SQL text or file("path.sql")', file: 'path of an SQL file, relative to the config' },
  traits: { transaction: 'optional', resumable: 'never', repeatable: true },
  prepare(def, ctx) {
    let text: string | undefined;
    const ref = isSqlFile(def.sql) ? def.sql.path : typeof def.file === 'string' ? def.file : undefined;
    if (def.sql !== undefined && def.file !== undefined) ctx.problem('file', 'give either "sql" or "file", not both');
    if (ref !== undefined) {
      const path = resolvePath(ctx.configDir, ref);
      try {
        text = readFileSync(path, 'utf8');
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        ctx.problem(isSqlFile(def.sql) ? 'sql' : 'file', code === 'ENOENT' ? `SQL file not found: ${ref} (resolved to ${path})` : `cannot read SQL file ${ref}: ${(err as Error).message}`);
        return { source: '' };
      }
    } else if (typeof def.sql === 'string') text = def.sql;
    else if (def.sql === undefined) {
      ctx.problem('sql', 'missing: give SQL text, file("path.sql"), or run: async (ctx) => { ... }');
      return { source: '' };
    } else {
      ctx.problem('sql', 'expected SQL text or file("path.sql")');
      return { source: '' };
    }
    const where = isSqlFile(def.sql) ? 'sql' : ref !== undefined ? 'file' : 'sql';
    if (text.includes('\0')) {
      ctx.problem(where, `contains a NUL byte${ref ? ` (${ref} at line ${text.slice(0, text.indexOf('\0')).split('\n').length})` : ''}: PostgreSQL cannot take one in SQL text`);
      return { source: '' };
    }
    const statements = splitStatements(text, (what, line) => ctx.problem(where, `unterminated ${what} starting at line ${line}${ref ? ` of ${ref}` : ''}`));
    if (statements.length === 0) ctx.problem(where, `no SQL statement${ref ? ` in ${ref}` : ''}`);
    // The checksum ignores comments and layout (canonicalSql); journals written before that
    // hold the checksum of the text itself, which stays the same step.
    const origin = ref !== undefined ? { origin: ref } : {};
    if (def.version !== undefined) return { source: `version:${def.version}`, script: text, ...origin };
    return { source: canonicalSql(text), formerSources: [text], script: text, ...origin };
  },
};

interface FunctionStep extends StepDefinition {
  readonly run?: unknown;
}

/** A run kind: the user's function does the work. */
export const functionKind: StepKind<FunctionStep> = {
  kind: 'function',
  fields: { run: 'a function (ctx) => Promise<void>' },
  traits: { transaction: 'optional', resumable: 'optional', repeatable: true },
  prepare(def, ctx) {
    if (typeof def.run !== 'function') {
      ctx.problem('run', `expected a function (ctx) => Promise<void>`);
      return { source: '' };
    }
    // Without a version, the code stands in for one: a change of it is shown, not drift.
    return def.version !== undefined ? { source: `version:${def.version}` } : { source: String(def.run), sourceIsCode: true };
  },
  async run(def, ctx) {
    await (def.run as (c: typeof ctx) => unknown)(ctx);
  },
};

/** Registers the `sql` and `function` step kinds. Registered by default. */
export function steps(): Plugin {
  return {
    name: 'steps',
    register(c) {
      c.register(Tokens.StepKind, { useValue: sqlKind });
      c.register(Tokens.StepKind, { useValue: functionKind });
    },
  };
}
