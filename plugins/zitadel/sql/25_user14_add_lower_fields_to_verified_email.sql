-- ZITADEL 25_user14_add_lower_fields_to_verified_email: generated column verified_email_lower on projections.users14_notifications and the index users14_notifications_email_search
-- Source: zitadel/zitadel cmd/setup/25.go @ 9f209616 (String() "25_user14_..."; an older 25.go @ 5a16bd69 said "25_user12_..."), cmd/setup/25.sql @ 3d9f4f2e
-- The ALTER is guarded, the CREATE INDEX is not: it fails (42P01) without
-- projections.users14_notifications, so this runs after projection_tables.
-- ZITADEL's statements are already idempotent: kept as they are.
ALTER TABLE IF EXISTS projections.users14_notifications ADD COLUMN IF NOT EXISTS verified_email_lower TEXT GENERATED ALWAYS AS (lower(verified_email)) STORED;
CREATE INDEX IF NOT EXISTS users14_notifications_email_search ON projections.users14_notifications (instance_id, verified_email_lower);
