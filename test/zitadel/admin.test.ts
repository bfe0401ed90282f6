/**
 * The admin part of ZITADEL's init (zitadel.admin.setup.ts), with the real CLI: as an admin,
 * the role, the database and the grant; again: nothing to do. Then zitadel.setup.ts as that
 * role, on that database: every step applies without an admin.
 */
import { randomBytes } from 'node:crypto';
import * as assert from 'uvu/assert';
import pg from 'pg';
import { ROOT, cli, dbSuite, type DbCtx } from '../helpers.js';
import { scramVerifier } from '../../zitadel.admin.setup.js';

const t = dbSuite('zitadel: the admin part of init');

t('as an admin: role, database and grant, once; then zitadel.setup.ts runs as that role', async (ctx: DbCtx) => {
  const id = randomBytes(4).toString('hex');
  const user = `zs_user_${id}`;
  const database = `zs_zitadel_${id}`;
  const env = { ZITADEL_DATABASE_POSTGRES_USER_USERNAME: user, ZITADEL_DATABASE_POSTGRES_USER_PASSWORD: "it's secret", ZITADEL_DATABASE_POSTGRES_DATABASE: database };
  const server = ctx.db.url.replace(/\/[^/]*$/, '');
  try {
    const a = await cli(['apply', '--config', 'zitadel.admin.setup.ts'], { cwd: ROOT, url: ctx.db.url, env });
    assert.is(a.code, 0, a.stdout + a.stderr);
    const [r] = await ctx.db.query<{ role: boolean; db: boolean; can: boolean }>(
      `SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1 AND NOT rolsuper) AS role, EXISTS (SELECT 1 FROM pg_database WHERE datname = $2) AS db,
              has_database_privilege($1, $2, 'CREATE') AS can`,
      [user, database],
    );
    assert.equal(r, { role: true, db: true, can: true });
    const again = await cli(['apply', '--config', 'zitadel.admin.setup.ts'], { cwd: ROOT, url: ctx.db.url, env });
    assert.is(again.code, 0, again.stdout + again.stderr);
    assert.match(again.stdout, /Everything is up to date/);
    // The password was sent as its SCRAM verifier: it logs in with the password.
    const [{ verifier }] = await ctx.db.query<{ verifier: string }>(`SELECT rolpassword AS verifier FROM pg_authid WHERE rolname = $1`, [user]);
    // (This server trusts every login, so check the verifier itself: the password's, with its salt.)
    const salt = /^SCRAM-SHA-256\$4096:([^$]+)\$/.exec(verifier)?.[1];
    assert.ok(salt, verifier);
    assert.is(verifier, scramVerifier("it's secret", Buffer.from(salt!, 'base64')));
    assert.is.not(verifier, scramVerifier("it's secreT", Buffer.from(salt!, 'base64')));
    // zitadel.setup.ts as the new role (not a superuser) on its database.
    const z = await cli(['apply', '--no-init-projections'], { cwd: ROOT, url: `${server.replace('//root@', `//${user}@`)}/${database}` });
    assert.is(z.code, 0, z.stdout + z.stderr);
    assert.match(z.stdout, /Done: \d+ applied/);
  } finally {
    const c = new pg.Client({ connectionString: ctx.db.url });
    await c.connect();
    await c.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    await c.query(`DROP ROLE IF EXISTS ${user}`);
    await c.end();
  }
});

t.run();
