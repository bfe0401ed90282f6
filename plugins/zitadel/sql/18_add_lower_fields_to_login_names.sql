-- ZITADEL 18_add_lower_fields_to_login_names: generated lower-case columns user_name_lower / name_lower on the login_names3 user and domain tables, with their search indexes
-- Source: zitadel/zitadel cmd/setup/18.go, cmd/setup/18.sql (index text; the same file in Tualua/zitadel-ldapfix @ 5bf0840e, a copy of ZITADEL main of 2025-08-28)
-- ALTER TABLE IF EXISTS is a no-op without the table, but each CREATE INDEX fails (42P01)
-- when projections.login_names3_users / _domains do not exist: run after projection_tables.
-- ZITADEL's statements are already idempotent (IF [NOT] EXISTS): kept as they are.
ALTER TABLE IF EXISTS projections.login_names3_users ADD COLUMN IF NOT EXISTS user_name_lower TEXT GENERATED ALWAYS AS (lower(user_name)) STORED;
CREATE INDEX IF NOT EXISTS login_names3_users_search ON projections.login_names3_users (instance_id, user_name_lower) INCLUDE (resource_owner);

ALTER TABLE IF EXISTS projections.login_names3_domains ADD COLUMN IF NOT EXISTS name_lower TEXT GENERATED ALWAYS AS (lower(name)) STORED;
CREATE INDEX IF NOT EXISTS login_names3_domain_search ON projections.login_names3_domains (instance_id, resource_owner, name_lower);
CREATE INDEX IF NOT EXISTS login_names3_domain_search_result ON projections.login_names3_domains (instance_id, resource_owner) INCLUDE (is_primary);
