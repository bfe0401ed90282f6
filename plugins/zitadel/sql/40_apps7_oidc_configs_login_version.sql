-- ZITADEL 40_apps7_oidc_configs_login_version: columns login_version (SMALLINT) and login_base_uri (TEXT) on projections.apps7_oidc_configs
-- Source: zitadel/zitadel cmd/setup/42.go (Apps7OIDCConfigsLoginVersion, String() "40_..."), cmd/setup/42.sql @ 71d8e1ec
-- Guarded by ZITADEL (IF EXISTS): a no-op before projection_tables.
ALTER TABLE IF EXISTS projections.apps7_oidc_configs ADD COLUMN IF NOT EXISTS login_version SMALLINT;
ALTER TABLE IF EXISTS projections.apps7_oidc_configs ADD COLUMN IF NOT EXISTS login_base_uri TEXT;
