-- ZITADEL 44_replace_current_sequences_index: index events2_current_sequence2 (aggregate_id, aggregate_type, instance_id, sequence DESC) replaces events2_current_sequence (CONCURRENTLY)
-- Source: cmd/setup/44.go, cmd/setup/44/01_create_index.sql @ 9f20961, cmd/setup/44/02_drop_old_index.sql @ 08993c1
-- ZITADEL runs the two files one by one (readStatements); run with transaction: false.
CREATE INDEX CONCURRENTLY IF NOT EXISTS events2_current_sequence2
    ON eventstore.events2 USING btree
    (aggregate_id ASC, aggregate_type ASC, instance_id ASC, sequence DESC);

DROP INDEX IF EXISTS eventstore.events2_current_sequence;
