/**
 * zsetup's config: the steps that bring a PostgreSQL database to the schema your app needs,
 * in order. `zsetup apply` runs the ones not applied yet, under a lock (so two runs at once
 * never collide), and records each in the database (table zsetup.journal).
 *
 *   npx zsetup plan            what apply would run, and why (changes nothing)
 *   npx zsetup apply           run it
 *   npx zsetup status          what has run, and when
 *   npx zsetup new add users   the next SQL file (sql/002_add_users.sql) and its line for below
 *
 * Which database: ZSETUP_DATABASE_URL (postgres://user:password@host:5432/db). Unset, an
 * embedded PostgreSQL (PGlite) in .zsetup/pglite, to try things on your machine.
 */
import { defineConfig, step, file } from 'zsetup';

export default defineConfig({
  // Uncomment to change a default (every key, with its default: hover it in your editor).
  // apply: {
  //   deadline: '25m',        // stop cleanly (exit 143, resumable) before this; or --deadline
  //   cleanupDeadline: '10s', // after SIGTERM, how long zsetup may take to record and unlock
  // },
  steps: [
    // A step: a name and the SQL it runs. The name is the step's identity: once applied it
    // never runs again. Do not edit an applied step's SQL: apply refuses (drift, exit 4).
    // Add the next change as a new step below; steps run in the order written.
    // By default a step runs in one transaction with its record: all of it, or nothing.
    step('001_init', { sql: file('sql/001_init.sql') }),
  ],
});
