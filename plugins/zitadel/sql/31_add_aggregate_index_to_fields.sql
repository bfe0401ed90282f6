-- ZITADEL setup step 31_add_aggregate_index_to_fields: the fields of an aggregate, by
-- object type. Built CONCURRENTLY (writes go on), so this step runs outside a transaction.

-- A build that was interrupted leaves an INVALID index behind, which IF NOT EXISTS would
-- accept as done: drop such a leftover first.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_index WHERE indexrelid = to_regclass('eventstore.f_aggregate_object_type_idx') AND NOT indisvalid) THEN
        DROP INDEX eventstore.f_aggregate_object_type_idx;
    END IF;
END
$$;

CREATE INDEX CONCURRENTLY IF NOT EXISTS f_aggregate_object_type_idx ON eventstore.fields (aggregate_type, aggregate_id, object_type);
