-- ZITADEL init_00_grant: ALL on the ZITADEL database to its user, for a separate admin user
-- Source: cmd/initialise/sql/03_grant_user.sql @ 07ce3b69, cmd/initialise/verify_grant.go @ 11dbb1b2
-- Runs over an ADMIN connection (ZITADEL: database.Connect(config, true)), as a psql script:
--   psql -v zitadel_user=NAME [-v zitadel_password=SECRET] [-v zitadel_database=DB] -f <this file>
-- psql variables stand for ZITADEL's %[1]s/%[2]s (config.Database.Username()/Password()/DatabaseName());
-- the checks ZITADEL makes in Go are in the SELECT's WHERE, and \gexec runs the statement it yields.
-- Not a zsetup SQL step: see docs/port/a1.md (a TypeScript function step on an admin connection).

-- ZITADEL: GRANT ALL ON DATABASE "%[1]s" TO "%[2]s"; skipped when SELECT current_user is that user.
SELECT format('GRANT ALL ON DATABASE %I TO %I', :'zitadel_database', :'zitadel_user')
 WHERE current_user <> :'zitadel_user'
\gexec
