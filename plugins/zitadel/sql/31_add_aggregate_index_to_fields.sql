-- ZITADEL 31_add_aggregate_index_to_fields: index f_aggregate_object_type_idx on eventstore.fields (CONCURRENTLY)
-- Source: cmd/setup/31.go, 31.sql @ 23bebc7e
-- CONCURRENTLY: the step runs with transaction: false.

CREATE INDEX CONCURRENTLY IF NOT EXISTS f_aggregate_object_type_idx ON eventstore.fields (aggregate_type, aggregate_id, object_type);
