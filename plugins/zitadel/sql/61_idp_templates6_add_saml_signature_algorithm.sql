-- ZITADEL 61_idp_templates6_add_saml_signature_algorithm: signature algorithm column on the SAML IdP template table (no-op until that projection exists)
-- Source: cmd/setup/61.go (IDPTemplate6SAMLSignatureAlgorithm: runs 61.sql as is); cmd/setup/61.sql NOT FOUND in the stored index
--
-- UNVERIFIED: the index holds 61.go (ExecContext of the embedded 61.sql, no templating)
-- but no text of the matching 61.sql (the path lookup returns unrelated files of other
-- steps numbered 61). The statement below follows the pattern of 50/51/56/62 and the name
-- of the field (SAML IdP `signature_algorithm`); its column name and type must be checked
-- against ZITADEL's 61.sql before this step is declared as reproducing ZITADEL.
ALTER TABLE IF EXISTS projections.idp_templates6_saml ADD COLUMN IF NOT EXISTS signature_algorithm TEXT;
