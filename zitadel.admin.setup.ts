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
 * then zitadel.setup.ts as that user on that database (as ZITADEL's own init and setup do:
 * the schemas and tables belong to it). The names and the password come from
 * ZITADEL's own environment variables (defaults: user and database `zitadel`, no password);
 * like ZITADEL's init, each step does nothing when its object exists already or when the
 * admin connection is that user itself. The password goes to the server as its SCRAM
 * verifier, never as text. zsetup's own journal of these three steps stays in the schema
 * `zsetup` of the maintenance database (drop it when you like: every step checks first).
 */
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import { defineConfig, quoteIdent, quoteLiteral, step, type StepContext } from 'zsetup';

/**
 * The password as PostgreSQL stores it (SCRAM-SHA-256, RFC 5803, 4096 iterations, a random
 * salt): computed here, as psql's \password does, so the statement never carries the
 * password itself (server logs, pg_stat_activity). A password that is not plain ASCII is
 * NFKC-normalized first, which is what PostgreSQL's SASLprep does for most text.
 */
export function scramVerifier(password: string, salt: Buffer = randomBytes(16), iterations = 4096): string {
  const text = /^[\x20-\x7e]*$/.test(password) ? password : password.normalize('NFKC');
  const salted = pbkdf2Sync(text, salt, iterations, 32, 'sha256');
  const hmac = (key: Buffer, what: string) => createHmac('sha256', key).update(what).digest();
  const storedKey = createHash('sha256').update(hmac(salted, 'Client Key')).digest();
  const serverKey = hmac(salted, 'Server Key');
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}

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
      await ctx.exec(`CREATE USER ${quoteIdent(t.user)}${t.password !== '' ? ` WITH PASSWORD ${quoteLiteral(scramVerifier(t.password))}` : ''}`);
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
