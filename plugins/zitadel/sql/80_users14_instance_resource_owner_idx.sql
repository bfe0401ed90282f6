-- ZITADEL 80_users14_instance_resource_owner_idx: index users14_instance_resource_owner_idx (instance_id, resource_owner, id) INCLUDE (type) on users14, replacing users14_resource_owner_idx and users14_username_idx (CONCURRENTLY)
-- Source: cmd/setup/80.go (Users14InstanceResourceOwnerIndex) + the shared executeConcurrentIndexSQL, cmd/setup/80/01_users14_instance_resource_owner_idx.sql @ bb24097, 80/02_drop_users14_resource_owner_idx.sql @ beec6aa, 80/03_drop_users14_username_idx.sql @ ca588a5
--
-- ZITADEL runs these only when projections.users14 exists (information_schema.tables),
-- after dropping (CONCURRENTLY) an INVALID leftover users14_instance_resource_owner_idx;
-- otherwise the step does nothing (a new database: the projections come later).
-- CONCURRENTLY cannot sit in a DO block, so that decision is not in this file: declare the
-- step as a function step that checks first (docs/port/a2.md), with transaction: false.
CREATE INDEX CONCURRENTLY IF NOT EXISTS users14_instance_resource_owner_idx ON projections.users14 (instance_id, resource_owner, id) INCLUDE (type);

DROP INDEX CONCURRENTLY IF EXISTS projections.users14_resource_owner_idx;

DROP INDEX CONCURRENTLY IF EXISTS projections.users14_username_idx;
