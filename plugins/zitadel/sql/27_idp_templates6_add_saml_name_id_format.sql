-- ZITADEL 27_idp_templates6_add_saml_name_id_format: columns name_id_format (SMALLINT) and transient_mapping_attribute_name (TEXT) on projections.idp_templates6_saml
-- Source: zitadel/zitadel cmd/setup/27.go @ 270a64fc, cmd/setup/27.sql (index text; same in Tualua/zitadel-ldapfix @ 5bf0840e)
-- Guarded by ZITADEL (IF EXISTS): a no-op before projection_tables.
ALTER TABLE IF EXISTS projections.idp_templates6_saml ADD COLUMN IF NOT EXISTS name_id_format SMALLINT;
ALTER TABLE IF EXISTS projections.idp_templates6_saml ADD COLUMN IF NOT EXISTS transient_mapping_attribute_name TEXT;
