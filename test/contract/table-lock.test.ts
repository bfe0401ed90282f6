/**
 * The example lock kind (examples/table-lock): a new lock kind is one file plus one
 * registration, proved by the kit. `lockContract` runs on it as on the built-in kinds
 * (lost and fencing included: its connection terminated), and the CLI applies the
 * example's own config with it through `lock.kind`, waiting for (and timing out on) a
 * holder in another process.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { quoteIdent, type Database } from 'zsetup';
import { lockContract, type LockFixture } from 'zsetup/testing';
import { TableLock } from '../../examples/table-lock/table-lock.js';
import { ROOT, cli, createDb, type TestDb } from '../helpers.js';
import { openDatabase } from './open.js';

const rand = () => randomBytes(4).toString('hex');

let db: TestDb | undefined;
const contract = lockContract('TableLock (examples/table-lock)', async (): Promise<LockFixture> => {
  const name = `contract-${rand()}`;
  const schema = `contract table ${rand()}`;
  const dbs: Database[] = [];
  const open = async () => {
    const d = await openDatabase({ url: db!.url });
    dbs.push(d);
    return new TableLock(d, name, schema);
  };
  const lock = await open();
  return {
    lock,
    second: open,
    db: dbs[0],
    // Its connection terminated: the transaction that locks the row rolls back.
    takeAway: async (h) => {
      const rows = await db!.query(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND application_name LIKE 'zsetup-table@%' AND application_name LIKE '%' || $1`,
        [h.owner],
      );
      assert.is(rows.length, 1, `one lock connection of ${h.owner} to terminate`);
    },
    cleanup: async () => {
      await dbs[0]?.withSession((s) => s.exec(`DROP SCHEMA IF EXISTS ${quoteIdent(schema)} CASCADE`));
      await Promise.all(dbs.map((d) => d.close()));
    },
  };
});
contract.before(async () => {
  db = await createDb();
});
contract.after(async () => {
  await db?.drop();
});

const apply = suite('the example lock kind through the CLI (lock.kind: "table")');
let cliDb: TestDb | undefined;
apply.before(async () => {
  cliDb = await createDb();
});
apply.after(async () => {
  await cliDb?.drop();
});

apply('apply waits for a holder in another process and times out naming it, then applies under the table lock', async () => {
  const config = join(ROOT, 'examples/table-lock/zsetup.config.ts');
  const holderDb = await openDatabase({ url: cliDb!.url });
  try {
    // The same kind, held here: the CLI's lock.kind "table" must see it.
    const held = await new TableLock(holderDb, 'zsetup', 'zsetup').acquire({ owner: 'test:holder', timeoutMs: 5000 });
    const waited = await cli(['apply', '--config', config, '--lock-timeout', '1s'], { cwd: ROOT, url: cliDb!.url });
    await held.release();
    assert.is(waited.code, 3, `exit 3 (lock timeout):\n${waited.stdout}${waited.stderr}`);
    assert.match(waited.stderr, /could not acquire the table lock "zsetup" within 1 s: held by test:holder/);
    const r = await cli(['apply', '--config', config, '--json'], { cwd: ROOT, url: cliDb!.url });
    assert.is(r.code, 0, `${r.stdout}${r.stderr}`);
    const events = r.json();
    assert.ok(events.some((e) => e.type === 'lock.acquired' && e.lock === 'table lock'), `lock.acquired names the table lock:\n${r.stdout}`);
    assert.equal(await cliDb!.query('SELECT id, body FROM app.notes'), [{ id: 1, body: 'locked by a row' }]);
    assert.equal(await cliDb!.query('SELECT name FROM zsetup.run_lock'), [{ name: 'zsetup' }]);
  } finally {
    await holderDb.close();
  }
});

contract.run();
apply.run();
