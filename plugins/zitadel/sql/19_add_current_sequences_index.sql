-- ZITADEL setup step 19_add_current_sequences_index: an aggregate's latest sequence, used
-- when events are pushed. Built CONCURRENTLY, so this step runs outside a transaction.

-- A build that was interrupted leaves an INVALID index behind, which IF NOT EXISTS would
-- accept as done: drop such a leftover first.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_index WHERE indexrelid = to_regclass('eventstore.events2_current_sequence') AND NOT indisvalid) THEN
        DROP INDEX eventstore.events2_current_sequence;
    END IF;
END
$$;

CREATE INDEX CONCURRENTLY IF NOT EXISTS events2_current_sequence ON eventstore.events2 ("sequence" DESC, aggregate_id, aggregate_type, instance_id);
