/**
 * The StateStore contract against the default JournalStore: on PostgreSQL, on PostgreSQL
 * with a schema name that needs quoting, and on the embedded PGlite.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import * as assert from 'uvu/assert';
import { JournalStore, quoteIdent, type Database } from 'zsetup';
import { stateStoreContract } from 'zsetup/testing';
import { createDb, pgliteDataDir, scratch, type TestDb } from '../helpers.js';
import { openDatabase } from './open.js';

/** One shared Database per suite; every test gets a fresh, never-created schema on it. */
function journalContract(name: string, open: () => Promise<Database>, schemaPrefix: string) {
  let db: Database | undefined;
  const s = stateStoreContract(name, async () => {
    db ??= await open();
    const d = db;
    const schema = `${schemaPrefix}${randomBytes(4).toString('hex')}`;
    return {
      store: new JournalStore(d, schema),
      db: d,
      cleanup: () => d.withSession((x) => x.exec(`DROP SCHEMA IF EXISTS ${quoteIdent(schema)} CASCADE`)),
    };
  });
  return { suite: s, db: () => db, close: async () => db?.close() };
}

// PostgreSQL: a fresh database for this file, dropped at the end.
let pgdb: TestDb | undefined;
const pg = journalContract('JournalStore on PostgreSQL', () => openDatabase({ url: pgdb!.url }), 'contract_');
pg.suite.before(async () => {
  pgdb = await createDb();
});
pg.suite.after(async () => {
  await pg.close();
});

// The same, with a schema whose name has a double quote and a space.
const weird = journalContract('JournalStore on PostgreSQL, schema `we"ird schema …`', () => openDatabase({ url: pgdb!.url }), 'we"ird schema ');
weird.suite('the schema is created under its exact name', async () => {
  const db = weird.db()!;
  const schema = `we"ird schema; DROP x ${randomBytes(3).toString('hex')}`;
  const store = new JournalStore(db, schema);
  await store.init();
  try {
    const rows = await db.withSession((s) => s.query<{ n: string }>(`SELECT nspname AS n FROM pg_namespace WHERE nspname = $1`, [schema]));
    assert.is(rows.length, 1, `schema ${JSON.stringify(schema)} exists under its exact name`);
    const tables = await db.withSession((s) =>
      s.query<{ t: string }>(`SELECT c.relname AS t FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind = 'r' ORDER BY 1`, [schema]),
    );
    assert.equal(
      tables.map((t) => t.t),
      ['checkpoints', 'journal'],
    );
  } finally {
    await db.withSession((s) => s.exec(`DROP SCHEMA IF EXISTS ${quoteIdent(schema)} CASCADE`));
  }
});
weird.suite.after(async () => {
  await weird.close();
  await pgdb?.drop();
});

// PGlite: a data dir in a scratch folder (a copy of the run's initialised template).
let dir: ReturnType<typeof scratch> | undefined;
const lite = journalContract(
  'JournalStore on PGlite',
  async () => {
    const dataDir = join(dir!.dir, 'pgdata');
    await pgliteDataDir(dataDir);
    return openDatabase({ pglite: { dataDir } });
  },
  'contract_',
);
lite.suite.before(() => {
  dir = scratch();
});
lite.suite.after(async () => {
  await lite.close();
  dir?.remove();
});

pg.suite.run();
weird.suite.run();
lite.suite.run();
