-- ZITADEL `init`: the schemas the eventstore, the projections and the system tables live in.
-- (ZITADEL also grants ALL on their tables to its database user; zsetup runs as that user,
-- so the self-grant is left out.)
CREATE SCHEMA IF NOT EXISTS system;
CREATE SCHEMA IF NOT EXISTS projections;
CREATE SCHEMA IF NOT EXISTS eventstore;
