-- ZITADEL setup step 22_active_instance_events_index: a partial index of the events that
-- add and remove instances, to list live instances quickly. Built CONCURRENTLY, so this
-- step runs outside a transaction.

-- A build that was interrupted leaves an INVALID index behind, which IF NOT EXISTS would
-- accept as done: drop such a leftover first.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_index WHERE indexrelid = to_regclass('eventstore.active_instances_events') AND NOT indisvalid) THEN
        DROP INDEX eventstore.active_instances_events;
    END IF;
END
$$;

CREATE INDEX CONCURRENTLY IF NOT EXISTS active_instances_events ON eventstore.events2 (aggregate_type, event_type)
    WHERE aggregate_type = 'instance' AND event_type IN ('instance.added', 'instance.removed');
