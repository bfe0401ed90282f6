-- ZITADEL init_00_database: the ZITADEL database (CREATE DATABASE), for a separate admin user
-- Source: cmd/initialise/sql/02_database.sql @ 07ce3b69, cmd/initialise/verify_database.go @ 92a628d8
-- Runs over an ADMIN connection (ZITADEL: database.Connect(config, true)), as a psql script:
--   psql -v zitadel_user=NAME [-v zitadel_password=SECRET] [-v zitadel_database=DB] -f <this file>
-- psql variables stand for ZITADEL's %[1]s/%[2]s (config.Database.Username()/Password()/DatabaseName());
-- the checks ZITADEL makes in Go are in the SELECT's WHERE, and \gexec runs the statement it yields.
-- Not a zsetup SQL step: see docs/port/a1.md (a TypeScript function step on an admin connection).
-- CREATE DATABASE cannot run in a transaction block or a DO block: psql sends it alone.

-- ZITADEL: CREATE DATABASE "%[1]s"; skipped when current_database() is that database or
-- pg_database already has it; SQLSTATE 42P04 is ignored.
SELECT format('CREATE DATABASE %I', :'zitadel_database')
 WHERE current_database() <> :'zitadel_database'
   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_database WHERE datname = :'zitadel_database')
\gexec
