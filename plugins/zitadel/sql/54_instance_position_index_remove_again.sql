-- ZITADEL 54_instance_position_index_remove_again: drops index eventstore.es_instance_position (created by an earlier version of step 54)
-- Source: cmd/setup/54.go @ bffb129, cmd/setup/54.sql @ 505c13b
DROP INDEX IF EXISTS eventstore.es_instance_position;
