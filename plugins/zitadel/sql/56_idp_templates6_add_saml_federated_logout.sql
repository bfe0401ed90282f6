-- ZITADEL 56_idp_templates6_add_saml_federated_logout: federated_logout_enabled on the SAML IdP template table (no-op until that projection exists)
-- Source: cmd/setup/56.go (IDPTemplate6SAMLFederatedLogout), cmd/setup/56.sql @ d857c12
ALTER TABLE IF EXISTS projections.idp_templates6_saml ADD COLUMN IF NOT EXISTS federated_logout_enabled BOOLEAN DEFAULT FALSE;
