-- ZITADEL 51_idp_templates6_add_root_ca: root_ca on the LDAP IdP template table (no-op until that projection exists)
-- Source: cmd/setup/51.go (IDPTemplate6RootCA), cmd/setup/51.sql @ dbe00ee
ALTER TABLE IF EXISTS projections.idp_templates6_ldap2 ADD COLUMN IF NOT EXISTS root_ca BYTEA;
