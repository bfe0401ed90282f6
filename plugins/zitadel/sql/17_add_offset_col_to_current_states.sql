-- ZITADEL 17_add_offset_col_to_current_states: projections.current_states.filter_offset
-- Source: cmd/setup/17.go, 17.sql @ e3d1ca4d
-- IF NOT EXISTS added.

ALTER TABLE projections.current_states ADD IF NOT EXISTS filter_offset INTEGER;
