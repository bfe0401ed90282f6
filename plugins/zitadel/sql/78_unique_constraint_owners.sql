-- ZITADEL 78_unique_constraint_owners: eventstore.unique_constraints.owners TEXT[] NOT NULL DEFAULT '{}' and its GIN index unique_constraints_owners_gin (CONCURRENTLY)
-- Source: cmd/setup/78.go @ 380aab3, cmd/setup/78_owners_column.sql @ fe5389a, cmd/setup/78_owners_gin.sql @ 57e93d3
-- ZITADEL runs the two files as two separate statements; run with transaction: false.
ALTER TABLE eventstore.unique_constraints ADD COLUMN IF NOT EXISTS owners TEXT[] NOT NULL DEFAULT '{}';

CREATE INDEX CONCURRENTLY IF NOT EXISTS unique_constraints_owners_gin ON eventstore.unique_constraints USING GIN (owners);
