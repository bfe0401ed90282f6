-- ZITADEL 61_idp_templates6_add_saml_signature_algorithm: signature algorithm column on the SAML IdP template table (no-op until that projection exists)
-- Source: cmd/setup/61.go (IDPTemplate6SAMLSignatureAlgorithm: ExecContext of the embedded 61.sql, no templating),
-- cmd/setup/61.sql @ a3dac4d5c (#10520), read at v4.x 02d07e951b0b (same text).
ALTER TABLE IF EXISTS projections.idp_templates6_saml ADD COLUMN IF NOT EXISTS signature_algorithm TEXT;
