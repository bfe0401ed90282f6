-- ZITADEL 75_apps7_oidc_configs_add_app_link_config: iOS / Android app-link columns on projections.apps7_oidc_configs (ios_team_id, ios_bundle_id, android_package_name, android_sha256_cert_fingerprints TEXT[])
-- Source: zitadel/zitadel cmd/setup/75.go (Apps7OIDCConfigsAddAppLinkConfig, embeds 75.sql), cmd/setup/75.sql (index text, commit not named; columns match internal/query SearchOIDCAppLinkConfigs). The 75.go/75.sql @ 1073f96a / 74f3c318 are other branches' steps.
-- Guarded by ZITADEL (IF EXISTS): a no-op before projection_tables.
ALTER TABLE IF EXISTS projections.apps7_oidc_configs ADD COLUMN IF NOT EXISTS ios_team_id TEXT;
ALTER TABLE IF EXISTS projections.apps7_oidc_configs ADD COLUMN IF NOT EXISTS ios_bundle_id TEXT;
ALTER TABLE IF EXISTS projections.apps7_oidc_configs ADD COLUMN IF NOT EXISTS android_package_name TEXT;
ALTER TABLE IF EXISTS projections.apps7_oidc_configs ADD COLUMN IF NOT EXISTS android_sha256_cert_fingerprints TEXT[];
