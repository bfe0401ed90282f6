// Run from this folder with ZSETUP_DATABASE_URL set: `npx zsetup apply`.
import { defineConfig, step } from 'zsetup';
import { tableLock } from './table-lock.js';

export default defineConfig({
  plugins: [tableLock()],
  lock: { kind: 'table' },
  steps: [
    step('01_schema', { sql: 'CREATE SCHEMA IF NOT EXISTS app; CREATE TABLE IF NOT EXISTS app.notes (id int PRIMARY KEY, body text NOT NULL)' }),
    step('02_note', { sql: "INSERT INTO app.notes VALUES (1, 'locked by a row') ON CONFLICT DO NOTHING" }),
  ],
});
