-- ZITADEL 22_active_instance_events_index: partial index active_instances_events on instance.added/removed events (CONCURRENTLY)
-- Source: cmd/setup/22.go, 22.sql @ 17953e90
-- CONCURRENTLY: the step runs with transaction: false.

CREATE INDEX CONCURRENTLY IF NOT EXISTS active_instances_events ON eventstore.events2 (aggregate_type, event_type) WHERE aggregate_type = 'instance' AND event_type IN ('instance.added', 'instance.removed');
