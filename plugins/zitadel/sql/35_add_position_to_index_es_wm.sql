-- ZITADEL setup step 35_add_position_to_index_es_wm: the write-model index es_wm gets the
-- instance first and the position last: build the new index CONCURRENTLY under a temporary
-- name, then replace the old one. Runs outside a transaction, statement by statement, so
-- each statement below is safe to run again after an interruption.

DO $$
BEGIN
    -- An interrupted build leaves an INVALID es_wm_temp behind, which IF NOT EXISTS would
    -- accept (and the swap below would put in place): drop it.
    IF EXISTS (SELECT 1 FROM pg_index WHERE indexrelid = to_regclass('eventstore.es_wm_temp') AND NOT indisvalid) THEN
        DROP INDEX eventstore.es_wm_temp;
    END IF;
    -- A run that swapped but stopped before the step was recorded: es_wm is already the
    -- new index. Hand it to the statements below as es_wm_temp instead of building it again.
    IF to_regclass('eventstore.es_wm_temp') IS NULL AND (
        SELECT array_agg(a.attname ORDER BY k.ord)
          FROM pg_index AS i
         CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
          JOIN pg_attribute AS a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
         WHERE i.indexrelid = to_regclass('eventstore.es_wm')
    ) = ARRAY['instance_id', 'aggregate_id', 'aggregate_type', 'event_type', 'position']::name[] THEN
        ALTER INDEX eventstore.es_wm RENAME TO es_wm_temp;
    END IF;
END
$$;

CREATE INDEX CONCURRENTLY IF NOT EXISTS es_wm_temp
    ON eventstore.events2 (instance_id, aggregate_id, aggregate_type, event_type, "position");

-- The swap, in one transaction so that es_wm is never missing.
DO $$
BEGIN
    IF to_regclass('eventstore.es_wm_temp') IS NOT NULL THEN
        DROP INDEX IF EXISTS eventstore.es_wm;
        ALTER INDEX eventstore.es_wm_temp RENAME TO es_wm;
    END IF;
END
$$;
