-- The first step (001_init in zsetup.config.ts). zsetup runs this file once, in one
-- transaction together with its record: either all of it is applied, or none of it.
-- Once it has been applied, leave it as it is; put the next change in a new file:
--   npx zsetup new add users     (writes sql/002_add_users.sql, prints its config line)

CREATE SCHEMA IF NOT EXISTS app;

CREATE TABLE IF NOT EXISTS app.settings (
  key        text PRIMARY KEY,
  value      text NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);
