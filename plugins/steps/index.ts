/**
 * The built-in step kinds, registered exactly like a user's plugin would:
 * - `sql`: SQL text or `file('x.sql')`; runs in one round trip with its state record when
 *   transactional, statement by statement otherwise (CREATE INDEX CONCURRENTLY).
 * - `function`: a TypeScript function receiving the step context.
 */
import { readFileSync } from 'node:fs';
import { resolve as resolvePath } from 'node:path';
import { Tokens, isSqlFile, splitStatements, type Plugin, type StepContext, type StepDefinition, type StepKind } from '../../src/plugin.js';

interface SqlStep extends StepDefinition {
  readonly sql?: unknown;
  readonly file?: unknown;
}

export const sqlKind: StepKind<SqlStep> = {
  kind: 'sql',
  fields: { sql: 'SQL text or file("path.sql")', file: 'path of an SQL file, relative to the config' },
  prepare(def, ctx) {
    if (def.resumable) ctx.problem('resumable', 'an SQL step cannot be resumable: write a function step (run: async (ctx) => ...) that commits batches with ctx.saveCheckpoint');
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
    return { source: def.version !== undefined ? `version:${def.version}` : text, script: text };
  },
  async run(_def, ctx, prepared) {
    // Transactional SQL steps take the engine's one-round-trip path; here we are outside a
    // transaction, so statements go one by one (ZITADEL runs step statements in autocommit).
    for (const stmt of splitStatements(prepared.script ?? '')) {
      ctx.signal.throwIfAborted();
      await dropInvalidIndex(stmt, ctx);
      await ctx.exec(stmt);
      // IF NOT EXISTS skips an index that a build in another session had just created (one
      // left running by a killed run): if that build did not end valid, build it again.
      if (await dropInvalidIndex(stmt, ctx)) await ctx.exec(stmt);
    }
  },
};

const CIC = /^\s*CREATE\s+(?:UNIQUE\s+)?INDEX\s+CONCURRENTLY\s+(?:IF\s+NOT\s+EXISTS\s+)?("(?:[^"]|"")+"|[A-Za-z_][\w$]*)\s+ON\s+(?:ONLY\s+)?((?:"(?:[^"]|"")+"|[A-Za-z_][\w$]*)(?:\s*\.\s*(?:"(?:[^"]|"")+"|[A-Za-z_][\w$]*))?)/i;

/**
 * A killed `CREATE INDEX CONCURRENTLY` leaves an INVALID index behind, and
 * `CREATE INDEX CONCURRENTLY IF NOT EXISTS` then silently keeps it. Before such a
 * statement runs, drop an invalid index of that name on that table so it is rebuilt.
 */
export async function dropInvalidIndex(stmt: string, ctx: StepContext): Promise<boolean> {
  const m = CIC.exec(stripLeadingComments(stmt));
  if (!m) return false;
  const index = m[1]!.startsWith('"') ? m[1]!.slice(1, -1).replace(/""/g, '"') : m[1]!.toLowerCase();
  const find = () =>
    ctx.query<{ name: string; building: boolean }>(
      `SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS name,
              EXISTS (SELECT 1 FROM pg_stat_progress_create_index p WHERE p.index_relid = c.oid AND p.pid <> pg_backend_pid()
                        AND p.datid = (SELECT oid FROM pg_database WHERE datname = current_database())) AS building
         FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relname = $1 AND i.indrelid = to_regclass($2) AND NOT i.indisvalid`,
      [index, m[2]!],
    );
  let rows = await find();
  // Another session still builds it: a build left running by a run that was killed or lost
  // the lock (we hold it now), which the server stops within seconds (its client is gone,
  // client_connection_check_interval) or its own run cancels. Dropping the index under it
  // fails ("tuple concurrently updated"): wait for that build to end, then look again.
  const waitUntil = Date.now() + 30_000;
  if (rows[0]?.building) ctx.log(`index ${rows[0].name} is being built by another session (left by an interrupted run): waiting for that build to end`);
  while (rows[0]?.building && Date.now() < waitUntil) {
    ctx.signal.throwIfAborted();
    await new Promise((r) => setTimeout(r, 200));
    rows = await find();
  }
  if (rows.length === 0) return false;
  ctx.log(`index ${rows[0]!.name} is INVALID (left by an interrupted build): dropping it to build it again`);
  await ctx.exec(`DROP INDEX CONCURRENTLY IF EXISTS ${rows[0]!.name}`);
  return true;
}

function stripLeadingComments(s: string): string {
  let out = s;
  for (;;) {
    const t = out.replace(/^\s*--[^\n]*\n?/, '').replace(/^\s*\/\*[\s\S]*?\*\//, '');
    if (t === out) return out;
    out = t;
  }
}

interface FunctionStep extends StepDefinition {
  readonly run?: unknown;
}

export const functionKind: StepKind<FunctionStep> = {
  kind: 'function',
  fields: { run: 'a function (ctx) => Promise<void>' },
  prepare(def, ctx) {
    if (typeof def.run !== 'function') {
      ctx.problem('run', `expected a function (ctx) => Promise<void>`);
      return { source: '' };
    }
    return { source: def.version !== undefined ? `version:${def.version}` : String(def.run) };
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
