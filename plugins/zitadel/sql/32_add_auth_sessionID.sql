-- ZITADEL 32_add_auth_sessionID: column id on auth.user_sessions and the index user_session_id (id, instance_id)
-- Source: zitadel/zitadel cmd/setup/32.go @ 602b40a5, cmd/setup/32.sql (index text; same in Tualua/zitadel-ldapfix @ 5bf0840e)
-- auth.user_sessions comes from 01_tables (batch A), not from projection_tables: the
-- CREATE INDEX needs that table (it fails with 42P01 without it; the ALTER is guarded).
ALTER TABLE IF EXISTS auth.user_sessions ADD COLUMN IF NOT EXISTS id TEXT;

CREATE INDEX IF NOT EXISTS user_session_id ON auth.user_sessions (id, instance_id);
