-- ZITADEL 35_add_position_to_index_es_wm: es_wm rebuilt as (instance_id, aggregate_id, aggregate_type, event_type, position): built CONCURRENTLY as es_wm_temp, old es_wm dropped, renamed
-- Source: cmd/setup/35.go, 35/*.sql @ a84b259e
-- ZITADEL runs each file as its own statement (autocommit); 00 is CONCURRENTLY, so the step
-- runs with transaction: false. Run again, the three statements end in the same es_wm;
-- IF EXISTS added to the rename.

-- 35/00_create_index.sql
CREATE INDEX CONCURRENTLY IF NOT EXISTS es_wm_temp
    ON eventstore.events2 (instance_id, aggregate_id, aggregate_type, event_type, "position");

-- 35/01_drop_index.sql
DROP INDEX IF EXISTS eventstore.es_wm;

-- 35/02_alter_index.sql
ALTER INDEX IF EXISTS eventstore.es_wm_temp RENAME TO es_wm;
