-- ZITADEL 19_add_current_sequences_index: index events2_current_sequence on eventstore.events2 (CONCURRENTLY)
-- Source: cmd/setup/19.go, 19.sql @ cc2dd8b2
-- CONCURRENTLY: the step runs with transaction: false.

CREATE INDEX CONCURRENTLY IF NOT EXISTS events2_current_sequence ON eventstore.events2 ("sequence" DESC, aggregate_id, aggregate_type, instance_id);
