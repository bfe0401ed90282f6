/**
 * The admin part of ZITADEL's `init` (cmd/initialise: 01_user, 02_database, 03_grant_user):
 * with an admin connection, the role ZITADEL connects as, its database, and its rights on it.
 * Optional: for an installation where ZITADEL does not connect as an admin. Run it once,
 * before zitadel.setup.ts, against the server's maintenance database:
 *
 *   ZSETUP_DATABASE_URL=postgres://admin@host:5432/postgres \
 *   ZITADEL_DATABASE_POSTGRES_USER_USERNAME=zitadel ZITADEL_DATABASE_POSTGRES_USER_PASSWORD=... \
 *   ZITADEL_DATABASE_POSTGRES_DATABASE=zitadel \
 *   zsetup apply --config zitadel.admin.setup.ts
 *
 * then zitadel.setup.ts as that user on that database. The names and the password come from
 * ZITADEL's own environment variables (defaults: user and database `zitadel`, no password);
 * like ZITADEL's init, each step does nothing when its object exists already or when the
 * admin connection is that user itself.
 */
import { defineConfig, quoteIdent, quoteLiteral, step, type StepContext } from 'zsetup';

interface Target {
  user: string;
  password: string;
  database: string;
}

/** Read when a step runs, so a bad value stops that step with a message naming the variable. */
function target(env: NodeJS.ProcessEnv = process.env): Target {
  const name = (key: string, dflt: string) => {
    const v = env[key]?.trim() || dflt;
    if (v.length > 63 || v.includes('\0')) throw new Error(`${key} must be a PostgreSQL name (at most 63 bytes), got ${JSON.stringify(env[key])}`);
    return v;
  };
  return {
    user: name('ZITADEL_DATABASE_POSTGRES_USER_USERNAME', 'zitadel'),
    password: env.ZITADEL_DATABASE_POSTGRES_USER_PASSWORD ?? '',
    database: name('ZITADEL_DATABASE_POSTGRES_DATABASE', 'zitadel'),
  };
}

const admin = (name: string, description: string, version: number, run: (ctx: StepContext, t: Target) => Promise<void>) =>
  // Outside a transaction: CREATE DATABASE cannot run in one.
  step(name, { description, transaction: false, version, run: (ctx) => run(ctx, target()) });

export default defineConfig({
  steps: [
    admin('init_00_user', 'init (admin): the role ZITADEL connects as (CREATE USER, with its password if one is set)', 1, async (ctx, t) => {
      const [r] = await ctx.query<{ skip: boolean }>(`SELECT current_user = $1 OR EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1) AS skip`, [t.user]);
      if (r?.skip) return ctx.log(`role ${t.user} exists: nothing to do`);
      await ctx.exec(`CREATE USER ${quoteIdent(t.user)}${t.password !== '' ? ` WITH PASSWORD ${quoteLiteral(t.password)}` : ''}`);
    }),
    admin('init_00_database', "init (admin): ZITADEL's database", 1, async (ctx, t) => {
      const [r] = await ctx.query<{ skip: boolean }>(`SELECT current_database() = $1 OR EXISTS (SELECT 1 FROM pg_catalog.pg_database WHERE datname = $1) AS skip`, [t.database]);
      if (r?.skip) return ctx.log(`database ${t.database} exists: nothing to do`);
      await ctx.exec(`CREATE DATABASE ${quoteIdent(t.database)}`);
    }),
    admin('init_00_grant', 'init (admin): all rights on that database to that role', 1, async (ctx, t) => {
      const [r] = await ctx.query<{ skip: boolean }>(`SELECT current_user = $1 AS skip`, [t.user]);
      if (r?.skip) return ctx.log(`connected as ${t.user}: nothing to grant`);
      await ctx.exec(`GRANT ALL ON DATABASE ${quoteIdent(t.database)} TO ${quoteIdent(t.user)}`);
    }),
  ],
});
