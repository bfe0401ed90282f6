-- ZITADEL 65_fix_user_metadata5_index: renames index user_metadata5_metadata_key_idx to user_metadata5_key_idx and drops user_metadata5_metadata_value_idx (no-op until the projection exists)
-- Source: cmd/setup/65.go (FixUserMetadata5Index), cmd/setup/65.sql @ ebba032
ALTER INDEX IF EXISTS projections.user_metadata5_metadata_key_idx
    RENAME TO user_metadata5_key_idx;
DROP INDEX IF EXISTS projections.user_metadata5_metadata_value_idx;
