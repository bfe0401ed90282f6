-- ZITADEL 50_idp_templates6_add_use_pkce: use_pkce on the OAuth2 and OIDC IdP template tables (no-op until those projections exist)
-- Source: cmd/setup/50.go @ 270a64f, cmd/setup/50.sql @ 7df9baf
ALTER TABLE IF EXISTS projections.idp_templates6_oauth2 ADD COLUMN IF NOT EXISTS use_pkce BOOLEAN;
ALTER TABLE IF EXISTS projections.idp_templates6_oidc ADD COLUMN IF NOT EXISTS use_pkce BOOLEAN;
