-- ZITADEL 74_apps7_oidc_configs_add_registration_token: column registration_token (text) on projections.apps7_oidc_configs
-- Source: zitadel/zitadel cmd/setup/74.go @ fe5389a6, cmd/setup/74.sql @ fdd850cf
-- Guarded by ZITADEL (IF EXISTS): a no-op before projection_tables.
ALTER TABLE IF EXISTS projections.apps7_oidc_configs
ADD COLUMN IF NOT EXISTS registration_token text;
