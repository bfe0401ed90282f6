-- ZITADEL init_00_user: the database user ZITADEL connects as (CREATE USER), for a separate admin user
-- Source: cmd/initialise/sql/01_user.sql @ 07ce3b69, cmd/initialise/verify_user.go @ 02d11f33
-- Runs over an ADMIN connection (ZITADEL: database.Connect(config, true)), as a psql script:
--   psql -v zitadel_user=NAME [-v zitadel_password=SECRET] [-v zitadel_database=DB] -f <this file>
-- psql variables stand for ZITADEL's %[1]s/%[2]s (config.Database.Username()/Password()/DatabaseName());
-- the checks ZITADEL makes in Go are in the SELECT's WHERE, and \gexec runs the statement it yields.
-- Not a zsetup SQL step: see docs/port/a1.md (a TypeScript function step on an admin connection).

\if :{?zitadel_password}
\else
\set zitadel_password ''
\endif

-- ZITADEL: CREATE USER "%[1]s" (+ WITH PASSWORD '<password>' when one is set); skipped when
-- SELECT current_user is that user or pg_roles already has it; SQLSTATE 42710 is ignored.
SELECT format('CREATE USER %I', :'zitadel_user')
       || CASE WHEN :'zitadel_password' <> '' THEN format(' WITH PASSWORD %L', :'zitadel_password') ELSE '' END
 WHERE current_user <> :'zitadel_user'
   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = :'zitadel_user')
\gexec
