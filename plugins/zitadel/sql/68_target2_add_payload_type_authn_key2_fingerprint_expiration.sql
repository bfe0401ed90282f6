-- ZITADEL 68_target2_add_payload_type_authn_key2_fingerprint_expiration: targets2.payload_type (smallint default 0), authn_keys2.fingerprint (text), authn_keys2.expiration nullable
-- Source: zitadel/zitadel cmd/setup/68.go @ 8f3db8f5, cmd/setup/68.sql @ d0a26bed (an earlier 68.sql @ 6b6cfc0f, where the Steps struct ended at s68, had the same statements without IF EXISTS)
-- Guarded by ZITADEL (IF EXISTS): a no-op before projection_tables. DROP NOT NULL is
-- idempotent in itself.
ALTER TABLE IF EXISTS projections.targets2
ADD COLUMN IF NOT EXISTS payload_type smallint default 0;

ALTER TABLE IF EXISTS projections.authn_keys2
ADD COLUMN IF NOT EXISTS fingerprint text;

ALTER TABLE IF EXISTS projections.authn_keys2
ALTER COLUMN expiration DROP NOT NULL;
