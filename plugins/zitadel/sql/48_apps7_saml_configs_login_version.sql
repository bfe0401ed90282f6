-- ZITADEL 48_apps7_saml_configs_login_version: columns login_version (SMALLINT) and login_base_uri (TEXT) on projections.apps7_saml_configs
-- Source: zitadel/zitadel cmd/setup/48.go (Apps7SAMLConfigsLoginVersion), cmd/setup/48.sql @ 9f209616
-- Guarded by ZITADEL (IF EXISTS): a no-op before projection_tables.
ALTER TABLE IF EXISTS projections.apps7_saml_configs ADD COLUMN IF NOT EXISTS login_version SMALLINT;
ALTER TABLE IF EXISTS projections.apps7_saml_configs ADD COLUMN IF NOT EXISTS login_base_uri TEXT;
