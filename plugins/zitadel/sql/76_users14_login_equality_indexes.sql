-- ZITADEL 76_users14_login_equality_indexes: indexes for case-insensitive login lookups on users14 (instance_id, lower(username)) and users14_humans (instance_id, lower(phone)) (CONCURRENTLY)
-- Source: cmd/setup/76.go (Users14LoginEqualityIndexes) + the shared executeConcurrentIndexSQL, cmd/setup/76/01_users14_username_lower_idx.sql @ 0db7654, cmd/setup/76/02_users14_humans_phone_lower_idx.sql @ fe5389a
--
-- ZITADEL runs these only when projections.users14 exists (information_schema.tables),
-- after dropping (CONCURRENTLY) an INVALID leftover of either index; otherwise the step
-- does nothing (a new database: the projections come later). CONCURRENTLY cannot sit in a
-- DO block, so that decision is not in this file: declare the step as a function step
-- that checks first (docs/port/a2.md), with transaction: false.
CREATE INDEX CONCURRENTLY IF NOT EXISTS users14_username_lower_idx ON projections.users14 (instance_id, LOWER(username));

CREATE INDEX CONCURRENTLY IF NOT EXISTS users14_humans_phone_lower_idx ON projections.users14_humans (instance_id, LOWER(phone));
