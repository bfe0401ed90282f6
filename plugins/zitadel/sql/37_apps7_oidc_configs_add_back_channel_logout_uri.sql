-- ZITADEL 37_apps7_oidc_configs_add_back_channel_logout_uri: column back_channel_logout_uri (TEXT) on projections.apps7_oidc_configs
-- Source: zitadel/zitadel cmd/setup/37.go, cmd/setup/37.sql @ 9f209616
-- Guarded by ZITADEL (IF EXISTS): a no-op before projection_tables.
ALTER TABLE IF EXISTS projections.apps7_oidc_configs ADD COLUMN IF NOT EXISTS back_channel_logout_uri TEXT;
