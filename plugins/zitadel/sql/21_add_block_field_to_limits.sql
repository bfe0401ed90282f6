-- ZITADEL 21_add_block_field_to_limits: nullable BOOLEAN column block on projections.limits
-- Source: zitadel/zitadel cmd/setup/21.go, cmd/setup/21.sql @ 8a6488f9 (older 21.sql @ 21421873 targeted projections.instances: AddLimitFieldsToInstances, replaced)
-- Guarded by ZITADEL (IF EXISTS): without projections.limits it does nothing, so it only has
-- an effect after projection_tables.
ALTER TABLE IF EXISTS projections.limits ADD COLUMN IF NOT EXISTS block BOOLEAN;
