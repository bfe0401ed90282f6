// Run from this folder: `npx zsetup apply` (PGlite) or with ZSETUP_DATABASE_URL set.
import { defineConfig, step } from 'zsetup';
import { seed, seedPlugin } from './seed-plugin.js';

export default defineConfig({
  plugins: [seedPlugin()],
  steps: [
    step('01_schema', { sql: 'CREATE SCHEMA IF NOT EXISTS app; CREATE TABLE IF NOT EXISTS app.roles (id int PRIMARY KEY, name text NOT NULL)' }),
    seed('02_seed_roles', { table: 'app.roles', key: 'id', rows: [{ id: 1, name: 'admin' }, { id: 2, name: 'viewer' }] }),
  ],
});
