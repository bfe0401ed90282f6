/**
 * Open a real `Database` the way the CLI does (config -> container -> pool plugin), without
 * a config file: each call is its own pool, as a separate process would have.
 */
import { loadProject, Tokens, type Database } from 'zsetup';

export type DatabaseTarget = { url: string } | { pglite: { dataDir: string } };

export async function openDatabase(database: DatabaseTarget): Promise<Database> {
  const p = await loadProject({
    config: { steps: [], database },
    configFile: '/tmp/zsetup-contract/zsetup.config.ts',
    command: 'plan',
    env: {},
  });
  const db = p.container.resolve(Tokens.Database);
  try {
    await db.connect();
  } catch (err) {
    await db.close();
    throw err;
  }
  return db;
}
