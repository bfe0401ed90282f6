-- ZITADEL init_01_schemas: schemas system, projections and eventstore (grants only when the role differs)
-- Source: cmd/initialise/sql/06_system.sql, 05_projections.sql, 04_eventstore.sql @ 045832d6; verify_schema.go @ 92a628d8
-- ZITADEL runs 06_system, then 07 (init_02_encryption_keys), then 05_projections and
-- 04_eventstore; the three schemas are created here together (no table exists in them
-- yet, so the grants see the same tables either way).
-- ZITADEL's '%[1]s' is config.Database.Username(), the user it connects as: session_user here
-- (zsetup connects as that user; see docs/port/a1.md).

-- 06_system.sql
CREATE SCHEMA IF NOT EXISTS system;

DO $$
BEGIN
    IF current_user <> session_user THEN
        EXECUTE format('GRANT ALL ON ALL TABLES IN SCHEMA system TO %I', session_user);
    END IF;
END
$$;

-- 05_projections.sql
CREATE SCHEMA IF NOT EXISTS projections;

DO $$
BEGIN
    IF current_user <> session_user THEN
        EXECUTE format('GRANT ALL ON ALL TABLES IN SCHEMA projections TO %I', session_user);
    END IF;
END
$$;

-- 04_eventstore.sql
CREATE SCHEMA IF NOT EXISTS eventstore;

DO $$
BEGIN
    IF current_user <> session_user THEN
        EXECUTE format('GRANT ALL ON ALL TABLES IN SCHEMA eventstore TO %I', session_user);
    END IF;
END
$$;
